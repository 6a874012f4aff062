"""`codesieve train dp` end to end on a tiny local model: epsilon on target, a crash and resume that keeps
the privacy ledger, the privacy report, the merged Hugging Face output, the --no-dp baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from codesieve.cli import build_app
from factories import make_dp_workdir, run_until_first_checkpoint, small_dp_config
from training import checkpoint as ckpt
from training.config import DPTrainConfig
from training.privacy import compute_epsilon_prv
from training.train import run_dp_training

pytestmark = [pytest.mark.slow]

N_RECORDS = 128
TARGET_EPSILON = 2.0  # with q = 8/128 and 16 steps: sigma ~ 0.8, where the PRV accountant is quick


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, tiny_base_model: Path) -> Path:
    return make_dp_workdir(tmp_path_factory.mktemp("dp"), tiny_base_model, N_RECORDS)


def _cfg(root: Path, **overrides: Any) -> DPTrainConfig:
    return small_dp_config(root, **{"target_epsilon": TARGET_EPSILON, **overrides})


@pytest.fixture(scope="module")
def resumed_report(workdir: Path) -> dict[str, Any]:
    """Run until the first checkpoint (step 8 of 16), crash, then resume to the end."""
    assert run_until_first_checkpoint(_cfg(workdir)) == 8
    assert not (workdir / "out").exists()  # a crashed run leaves no half-written output
    return run_dp_training(_cfg(workdir, resume=True))


def test_epsilon_is_on_target_and_never_above(resumed_report: dict[str, Any]) -> None:
    eps = resumed_report["epsilon"]
    assert TARGET_EPSILON - 0.05 <= eps <= TARGET_EPSILON + 1e-9
    recomputed = resumed_report["epsilon_recomputed"]
    assert abs(recomputed["prv"] - eps) <= 0.05
    assert recomputed["rdp"] >= recomputed["prv"] - 0.05  # RDP is the looser bound


def test_resume_continued_the_same_ledger(resumed_report: dict[str, Any]) -> None:
    r = resumed_report
    assert r["resumed_from_step"] == 8 and r["steps"] == r["planned_steps"] == 16
    # the ledger holds all 16 steps: a restarted ledger would report the 8-step epsilon
    eps_8 = compute_epsilon_prv(
        sample_rate=r["sample_rate"], noise_multiplier=r["noise_multiplier"], steps=8, delta=r["delta"]
    )
    assert r["epsilon"] > eps_8 + 0.2


def test_privacy_report_is_complete(workdir: Path, resumed_report: dict[str, Any]) -> None:
    on_disk = json.loads((workdir / "out" / "privacy_report.json").read_text())
    assert on_disk["epsilon"] == pytest.approx(resumed_report["epsilon"])
    assert on_disk["delta"] == pytest.approx(N_RECORDS**-1.1)
    assert on_disk["sample_rate"] == pytest.approx(8 / N_RECORDS)
    assert on_disk["accountant"] == "prv" and on_disk["poisson_sampling"] is True
    assert on_disk["privacy_unit"] == "record" and on_disk["n_units"] == N_RECORDS
    assert on_disk["max_grad_norm"] == 1.0 and on_disk["noise_multiplier"] > 0.3
    assert on_disk["grad_sample_mode"] == "ghost" and on_disk["physical_batch_size"] == 4
    assert 0 < on_disk["trainable_parameters"] < 20_000  # LoRA only
    assert "pretraining data is not covered" in on_disk["caveat"]
    assert on_disk["lora_max_abs_update"] > 0  # the adapters moved


def test_merged_output_is_a_plain_hf_model(workdir: Path, resumed_report: dict[str, Any]) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = workdir / "out"
    keys = load_file(out / "model.safetensors").keys()
    assert not [k for k in keys if "lora" in k]
    base = load_file(workdir / "base" / "model.safetensors")
    merged = load_file(out / "model.safetensors")
    assert set(merged) == set(base)
    assert not torch.equal(
        merged["model.layers.0.self_attn.q_proj.weight"], base["model.layers.0.self_attn.q_proj.weight"]
    )  # LoRA merged in
    assert torch.equal(merged["model.embed_tokens.weight"], base["model.embed_tokens.weight"])  # frozen
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    ids = tok("def handler_", return_tensors="pt")["input_ids"]
    assert model.generate(ids, max_new_tokens=4, do_sample=False).shape[1] == ids.shape[1] + 4
    assert json.loads((out / "codesieve.json").read_text())["fim_template"] == "starcoder"


def test_resume_refuses_another_privacy_plan(workdir: Path, resumed_report: dict[str, Any]) -> None:
    with pytest.raises(ckpt.ResumeRefusedError, match="target_epsilon"):
        run_dp_training(_cfg(workdir, resume=True, target_epsilon=4.0))
    with pytest.raises(ckpt.ResumeRefusedError, match="no checkpoint"):
        run_dp_training(_cfg(workdir, resume=True, checkpoint_dir=str(workdir / "nowhere")))


def test_resume_refuses_a_checkpoint_without_accountant_state(workdir: Path, resumed_report: dict[str, Any]) -> None:
    import torch

    saved = torch.load(workdir / "out.ckpt" / "checkpoint.pt", weights_only=False)
    del saved["privacy_accountant_state_dict"]
    with pytest.raises(ckpt.ResumeRefusedError, match="accountant"):
        ckpt.check_resumable(saved, config=saved["config"], data_fingerprint=saved["data_fingerprint"])


def test_no_dp_baseline_through_the_cli(workdir: Path) -> None:
    out = workdir / "nodp"
    args = [
        "train",
        "dp",
        "--model",
        str(workdir / "base"),
        "--data",
        str(workdir / "corpus.jsonl"),
        "--output",
        str(out),
        "--no-dp",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--seq-len",
        "32",
        "--threads",
        "1",
    ]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "privacy_report.json").read_text())
    assert report["dp"] is False and report["epsilon"] is None and report["steps"] == 4
    assert "no privacy guarantee" in report["note"]
    assert (out / "model.safetensors").is_file() and report["lora_max_abs_update"] > 0


def test_dp_full_fine_tuning_trains_every_weight(workdir: Path) -> None:
    """Full fine-tuning under DP (the model comes out of from_pretrained in eval mode; Opacus wants train)."""
    from safetensors.torch import load_file

    out = workdir / "dp_full"
    report = run_dp_training(_cfg(workdir, output_dir=str(out), finetune="full", checkpoint_interval=1000))
    assert report["dp"] is True and report["epsilon"] <= TARGET_EPSILON
    before, after = load_file(workdir / "base" / "model.safetensors"), load_file(out / "model.safetensors")
    moved = [k for k in before if "embed" not in k and "norm" not in k and not before[k].equal(after[k])]
    assert len(moved) > 0.9 * len([k for k in before if "embed" not in k and "norm" not in k])


def test_cli_errors_are_clear(workdir: Path) -> None:
    runner = CliRunner()
    base = ["train", "dp", "--data", str(workdir / "corpus.jsonl"), "--output", str(workdir / "x")]
    bad_model = runner.invoke(build_app(), [*base, "--model", str(workdir / "missing")])
    assert bad_model.exit_code == 2 and "not a Hugging Face model folder" in bad_model.stderr
    bad_eps = runner.invoke(build_app(), [*base, "--model", str(workdir / "base"), "--epsilon", "0"])
    assert bad_eps.exit_code == 2 and "target_epsilon must be > 0" in bad_eps.stderr
    too_big = runner.invoke(build_app(), [*base, "--model", str(workdir / "base"), "--batch-size", "1000"])
    assert too_big.exit_code == 2 and "exceeds the 128 privacy units" in too_big.stderr
    assert not (workdir / "x").exists()
