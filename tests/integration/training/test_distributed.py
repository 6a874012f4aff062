"""`codesieve train dp --nproc 2`: two CPU processes (torch DDP over gloo, opacus' distributed optimizers)
keep one privacy ledger: the replicas end bit-identical, epsilon (q, sigma, steps) is the single-process
run's, only rank 0 writes, input errors inside the ranks come back as clear CLI errors, and a
single-process checkpoint resumes under two processes with the ledger intact."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from codesieve.cli import build_app
from factories import make_dp_workdir, micro_llama, run_until_first_checkpoint, small_dp_config
from training import checkpoint as ckpt
from training.config import DPTrainConfig
from training.distributed import launch
from training.privacy import compute_epsilon_prv
from training.train import run_dp_training

pytestmark = [pytest.mark.slow]

N_RECORDS = 128
TARGET_EPSILON = 2.0  # q = 8/128, 16 steps: sigma ~ 0.7 (as in test_train.py)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, tiny_base_model: Path) -> Path:
    return make_dp_workdir(tmp_path_factory.mktemp("ddp"), tiny_base_model, N_RECORDS)


def _cfg(root: Path, out: str, **overrides: Any) -> DPTrainConfig:
    settings = {"num_threads": 2, "target_epsilon": TARGET_EPSILON, **overrides}
    return small_dp_config(root, output_dir=str(root / out), **settings)


def _cli_args(root: Path, out: str, *extra: str) -> list[str]:
    return [
        "train",
        "dp",
        "--model",
        str(root / "base"),
        "--data",
        str(root / "corpus.jsonl"),
        "--output",
        str(root / out),
        "--epsilon",
        str(TARGET_EPSILON),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--physical-batch-size",
        "4",
        "--seq-len",
        "32",
        "--lr",
        "5e-3",
        "--seed",
        "3",
        "--threads",
        "2",
        *extra,
    ]


@pytest.fixture(scope="module")
def single_report(workdir: Path) -> dict[str, Any]:
    return run_dp_training(_cfg(workdir, "single", num_threads=1))


@pytest.fixture(scope="module")
def ddp_run(workdir: Path) -> tuple[dict[str, Any], str]:
    """The plain CLI in its own process (the ranks' logs go to its stderr): --nproc 2, ghost clipping."""
    proc = subprocess.run(
        [sys.executable, "-m", "codesieve.cli", *_cli_args(workdir, "ddp", "--nproc", "2")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((workdir / "ddp" / "privacy_report.json").read_text()), proc.stderr


def test_replicas_end_bit_identical(ddp_run: tuple[dict[str, Any], str]) -> None:
    report, _ = ddp_run
    assert report["world_size"] == 2
    dist = report["distributed"]
    assert dist["backend"] == "gloo" and dist["world_size"] == 2 and dist["threads_per_process"] == 1
    assert len(dist["replica_checksums"]) == 2 and len(set(dist["replica_checksums"])) == 1
    assert report["grad_sample_mode"] == "ghost"  # opacus 1.6 supports ghost clipping under DPDDP
    assert report["lora_max_abs_update"] > 0


def test_one_ledger_with_the_single_process_epsilon(
    ddp_run: tuple[dict[str, Any], str], single_report: dict[str, Any]
) -> None:
    report, _ = ddp_run
    assert single_report["world_size"] == 1 and "distributed" not in single_report
    for key in ("sample_rate", "noise_multiplier", "steps", "planned_steps", "delta", "n_units"):
        assert report[key] == single_report[key], key
    assert report["sample_rate"] == pytest.approx(8 / N_RECORDS)  # the global q, not q / world_size
    assert abs(report["epsilon"] - single_report["epsilon"]) <= 1e-6
    assert TARGET_EPSILON - 0.05 <= report["epsilon"] <= TARGET_EPSILON + 1e-9
    assert abs(report["epsilon_recomputed"]["prv"] - report["epsilon"]) <= 1e-6


def test_only_rank_zero_writes(workdir: Path, ddp_run: tuple[dict[str, Any], str]) -> None:
    _, stderr = ddp_run
    out = workdir / "ddp"
    assert stderr.count(f"wrote {out} ") == 1
    assert stderr.count("checkpoint: step") == 1 and stderr.count("checkpoint: step 16 ") == 1  # the final one
    assert " INFO rank0 " in stderr and " INFO rank1 " not in stderr  # rank 1 logs warnings only
    assert not list(workdir.glob(".ddp.tmp-*")) and not list(workdir.glob(".ddp.old-*"))
    saved = ckpt.read_checkpoint_meta(workdir / "ddp.ckpt")
    assert saved["step"] == 16 and saved["world_size"] == 2
    assert not [k for k in saved["module_state_dict"] if k.startswith(("_module.", "module."))]  # unwrapped
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(out).config.vocab_size > 0


def test_single_process_checkpoint_resumes_under_two_processes(workdir: Path) -> None:
    """Per-sample hooks this time (DistributedDPOptimizer): crash at step 8 of 16 in one process,
    finish with --nproc 2; the ledger holds all 16 steps."""
    cfg = _cfg(workdir, "resumed", grad_sample_mode="hooks", num_threads=1)
    assert run_until_first_checkpoint(cfg) == 8
    report = launch(dataclasses.replace(cfg, resume=True, nproc=2, num_threads=2))
    assert report["resumed_from_step"] == 8 and report["steps"] == 16 and report["world_size"] == 2
    assert report["grad_sample_mode"] == "hooks"
    assert len(set(report["distributed"]["replica_checksums"])) == 1
    eps_8 = compute_epsilon_prv(
        sample_rate=report["sample_rate"], noise_multiplier=report["noise_multiplier"], steps=8, delta=report["delta"]
    )
    assert report["epsilon"] > eps_8 + 0.2  # a restarted ledger would report the 8-step epsilon
    assert TARGET_EPSILON - 0.05 <= report["epsilon"] <= TARGET_EPSILON + 1e-9


def test_no_dp_baseline_under_two_processes(workdir: Path) -> None:
    """--no-dp --nproc 2 is plain torch DDP (gradients all-reduced in backward), same replicas check."""
    report = launch(_cfg(workdir, "nodp", enable_dp=False, nproc=2, batch_size=32))
    assert report["dp"] is False and report["epsilon"] is None and report["world_size"] == 2
    assert report["steps"] == 4  # 64 units per rank, 16 per rank and step
    assert len(set(report["distributed"]["replica_checksums"])) == 1 and report["lora_max_abs_update"] > 0
    assert (workdir / "nodp" / "model.safetensors").is_file()


def test_input_errors_inside_the_ranks_are_clear(workdir: Path) -> None:
    result = CliRunner().invoke(build_app(), _cli_args(workdir, "toobig", "--nproc", "2", "--batch-size", "1000"))
    assert result.exit_code == 2, result.output
    assert "exceeds the 128 privacy units" in result.stderr and "Traceback" not in result.stderr
    assert not (workdir / "toobig").exists()


@pytest.mark.parametrize(("nproc", "message"), [("0", "nproc must be >= 1"), ("4096", "exceeds the")])
def test_bad_nproc_is_a_clear_error(workdir: Path, nproc: str, message: str) -> None:
    result = CliRunner().invoke(build_app(), _cli_args(workdir, "bad", "--nproc", nproc))
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (workdir / "bad").exists()


# --- the distributed DP update itself: at zero noise, two ranks holding half a batch each take exactly
# the single-process step on the whole batch (opacus' per-worker expected batch B/world, sum all-reduce).

VOCAB, SEQ = 96, 12
UPDATE_CFG = DPTrainConfig(max_grad_norm=0.05, lora_rank=4, lora_alpha=8, batch_size=6)  # clipping active


def _tiny_lora_llama() -> torch.nn.Module:

    from training.model import apply_finetune_mode

    llama = micro_llama(VOCAB)
    llama.config.use_cache = False
    model = apply_finetune_mode(llama, UPDATE_CFG)
    with torch.no_grad():  # peft starts LoRA B at zero; non-zero B gives every adapter weight a gradient
        for i, (name, p) in enumerate(model.named_parameters()):
            if "lora_B" in name:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(i))
    return model


def _update_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    inputs = torch.randint(0, VOCAB, (6, SEQ), generator=g)
    targets = torch.randint(0, VOCAB, (6, SEQ), generator=g)
    targets[0, 7:] = -100
    return inputs, targets


def _dp_update(mode: str, shard: slice, wrap: Any = None) -> dict[str, torch.Tensor]:
    """One zero-noise DP step of `shard` of the batch; the accountant's q = 1 (expected batch 6)."""
    import opacus
    from torch.utils.data import DataLoader, TensorDataset

    from training.train import backward_step, make_private

    model = _tiny_lora_llama()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    module = wrap(model) if wrap else model
    loader = DataLoader(TensorDataset(*_update_batch()), batch_size=6)
    engine = opacus.PrivacyEngine(accountant="prv")
    private, opt, criterion, _ = make_private(
        engine, model=module, optimizer=opt, loader=loader, cfg=UPDATE_CFG, mode=mode, noise_multiplier=0.0
    )
    inputs, targets = _update_batch()
    backward_step(private, criterion, inputs[shard], targets[shard])
    opt.step()
    return {n: p.detach() - before[n] for n, p in model.named_parameters() if p.requires_grad}


def _update_worker(rank: int, tmp: str) -> None:
    import torch.distributed as dist
    from opacus.distributed import DifferentiallyPrivateDistributedDataParallel as DPDDP

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=2)
    try:
        for mode in ("ghost", "hooks"):  # one spawn for both modes: starting the processes is the cost
            update = _dp_update(mode, slice(rank, None, 2), wrap=DPDDP)  # rows 0,2,4 | rows 1,3,5
            torch.save(update, f"{tmp}/update-{mode}-{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_ranks_take_the_single_process_step(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_update_worker, args=(str(tmp_path),), nprocs=2, join=True)
    for mode in ("ghost", "hooks"):
        single = _dp_update(mode, slice(None))
        ranks = [torch.load(tmp_path / f"update-{mode}-{r}.pt") for r in range(2)]
        assert single.keys() == ranks[0].keys() == ranks[1].keys() and len(single) > 0
        assert sum(float(u.norm()) for u in single.values()) > 0
        for name, u in single.items():
            assert torch.equal(ranks[0][name], ranks[1][name]), (mode, name)  # replicas identical
            torch.testing.assert_close(ranks[0][name], u, rtol=1e-4, atol=1e-6, msg=f"{mode} {name}")
