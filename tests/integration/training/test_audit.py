"""`codesieve train canaries` + `train audit`: a model fine-tuned without DP on canaries inserted 16
times exposes them far above chance, the base model does not; the report is a comparison table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesieve.cli import build_app

pytestmark = [pytest.mark.slow]


def test_audit_shows_memorized_canaries(tmp_path: Path, tiny_base_model: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "code.jsonl"
    data.write_text(
        "".join(
            json.dumps({"content": f"def f{i}(x):\n    return x + {i}\n", "path": f"f{i}.py"}) + "\n" for i in range(24)
        )
    )
    corpus = tmp_path / "with_canaries.jsonl"
    made = runner.invoke(
        build_app(),
        [
            "train",
            "canaries",
            "--data",
            str(data),
            "--output",
            str(corpus),
            "--canaries",
            "1",
            "--references",
            "199",
            "--seed",
            "5",
        ],
    )
    assert made.exit_code == 0, made.output
    assert len(corpus.read_text().splitlines()) == 24 + 1 + 4 + 16

    tuned = tmp_path / "nodp"
    trained = runner.invoke(
        build_app(),
        [
            "train",
            "dp",
            "--model",
            str(tiny_base_model),
            "--data",
            str(corpus),
            "--output",
            str(tuned),
            "--no-dp",
            "--epochs",
            "12",
            "--batch-size",
            "8",
            "--seq-len",
            "24",
            "--lr",
            "0.01",
            "--lora-rank",
            "16",
            "--threads",
            "1",
        ],
    )
    assert trained.exit_code == 0, trained.output

    report = tmp_path / "audit.json"
    audited = runner.invoke(
        build_app(),
        [
            "train",
            "audit",
            "--model",
            str(tiny_base_model),
            "--model",
            str(tuned),
            "--data",
            str(corpus),
            "--canaries",
            "1",
            "--references",
            "199",
            "--seed",
            "5",
            "--samples",
            "5",
            "--output",
            str(report),
        ],
    )
    assert audited.exit_code == 0, audited.output
    assert (
        "| model | exposure x1 (bits) | exposure x4 (bits) | exposure x16 (bits) | extraction rate |" in audited.output
    )
    base, nodp = json.loads(report.read_text())
    max_bits = __import__("math").log2(200)
    assert nodp["exposure_mean"]["16"] >= 5.0  # rank in the top ~6 of 200
    assert base["exposure_mean"]["16"] < nodp["exposure_mean"]["16"] - 2.0
    for r in (base, nodp):
        assert all(0.0 <= v <= max_bits + 1e-9 for v in r["exposure_mean"].values())
        assert 0.0 <= r["extraction_rate"] <= 1.0


def test_audit_refuses_data_without_the_canaries(tmp_path: Path, tiny_base_model: Path) -> None:
    data = tmp_path / "plain.jsonl"
    data.write_text(json.dumps({"content": "x = 1\n"}) + "\n")
    result = CliRunner().invoke(build_app(), ["train", "audit", "--model", str(tiny_base_model), "--data", str(data)])
    assert result.exit_code == 2 and "canaries are not in --data" in result.stderr
