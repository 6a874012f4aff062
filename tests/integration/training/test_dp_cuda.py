"""The DP job on a CUDA GPU (`pytest -m gpu` on a GPU machine; deselected elsewhere, never skipped).

The same job on cuda and on the CPU keeps one privacy ledger (the noise is calibrated from (q, steps)
alone, so sigma and epsilon must be identical), trains the adapters, and writes a merged model that
loads on the CPU. The NCCL path runs as a process group of one rank per visible GPU (at most 2):
DPDDP, the distributed DP optimizer, the shard sampler and the replica check over NCCL.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import torch

from factories import make_dp_workdir, run_until_first_checkpoint, small_dp_config
from training.config import DPTrainConfig
from training.distributed import launch
from training.privacy import compute_epsilon_prv
from training.train import run_dp_training

pytestmark = [pytest.mark.gpu]

N_RECORDS = 128
TARGET_EPSILON = 2.0


@pytest.fixture(scope="module", autouse=True)
def _cuda() -> None:
    assert torch.cuda.is_available(), "tests marked gpu need a CUDA device: run them with -m gpu on a GPU machine"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, tiny_base_model: Path) -> Path:
    return make_dp_workdir(tmp_path_factory.mktemp("cuda"), tiny_base_model, N_RECORDS)


def _cfg(root: Path, out: str, **overrides: Any) -> DPTrainConfig:
    return small_dp_config(root, output_dir=str(root / out), target_epsilon=TARGET_EPSILON, **overrides)


@pytest.fixture(scope="module")
def cpu_report(workdir: Path) -> dict[str, Any]:
    return run_dp_training(_cfg(workdir, "cpu", device="cpu"))


@pytest.mark.parametrize("mode", ["ghost", "hooks"])
def test_the_job_on_cuda_keeps_the_cpu_ledger(workdir: Path, cpu_report: dict[str, Any], mode: str) -> None:
    report = run_dp_training(_cfg(workdir, f"cuda-{mode}", device="cuda", grad_sample_mode=mode))
    assert report["device"].startswith("cuda (") and report["grad_sample_mode"] == mode
    for key in ("sample_rate", "noise_multiplier", "steps", "planned_steps", "delta", "n_units"):
        assert report[key] == cpu_report[key], key
    assert abs(report["epsilon"] - cpu_report["epsilon"]) <= 1e-9
    assert TARGET_EPSILON - 0.05 <= report["epsilon"] <= TARGET_EPSILON + 1e-9
    assert report["lora_max_abs_update"] > 0
    assert report["final_train_loss"] == pytest.approx(cpu_report["final_train_loss"], rel=0.25)

    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(workdir / f"cuda-{mode}")  # a plain CPU model folder
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert next(merged.parameters()).device.type == "cpu"


def test_nccl_process_group(workdir: Path, cpu_report: dict[str, Any]) -> None:
    nproc = min(2, torch.cuda.device_count())
    report = launch(_cfg(workdir, "nccl", device="cuda", nproc=nproc), process_group=True)
    dist = report["distributed"]
    assert dist["backend"] == "nccl" and dist["world_size"] == nproc == report["world_size"]
    assert len(dist["replica_checksums"]) == nproc and len(set(dist["replica_checksums"])) == 1
    assert report["grad_sample_mode"] == "ghost"
    for key in ("sample_rate", "noise_multiplier", "steps", "planned_steps", "delta"):
        assert report[key] == cpu_report[key], key
    assert abs(report["epsilon"] - cpu_report["epsilon"]) <= 1e-9
    assert (workdir / "nccl" / "model.safetensors").is_file()


def test_no_dp_baseline_over_nccl(workdir: Path) -> None:
    """--no-dp under a process group on CUDA is torch DDP over NCCL (gradients all-reduced in backward)."""
    nproc = min(2, torch.cuda.device_count())
    report = launch(_cfg(workdir, "nccl-nodp", device="cuda", enable_dp=False, nproc=nproc), process_group=True)
    assert report["dp"] is False and report["epsilon"] is None
    assert report["distributed"]["backend"] == "nccl" and len(set(report["distributed"]["replica_checksums"])) == 1
    assert report["device"].startswith("cuda (") and report["lora_max_abs_update"] > 0


def test_a_cuda_checkpoint_resumes_on_the_cpu(workdir: Path) -> None:
    """Crash the GPU job after its step-8 checkpoint, finish on the CPU: the ledger holds all 16 steps
    (a checkpoint is device-neutral; the device is not one of the ledger's fields)."""
    cfg = _cfg(workdir, "moved", device="cuda")
    assert run_until_first_checkpoint(cfg) == 8
    report = run_dp_training(dataclasses.replace(cfg, device="cpu", resume=True))
    assert report["resumed_from_step"] == 8 and report["steps"] == 16 and report["device"] == "cpu"
    eps_8 = compute_epsilon_prv(
        sample_rate=report["sample_rate"], noise_multiplier=report["noise_multiplier"], steps=8, delta=report["delta"]
    )
    assert report["epsilon"] > eps_8 + 0.2  # a restarted ledger would report the 8-step epsilon
    assert TARGET_EPSILON - 0.05 <= report["epsilon"] <= TARGET_EPSILON + 1e-9
