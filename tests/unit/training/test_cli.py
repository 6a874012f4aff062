"""`codesieve train ...` argument errors: a clear message on stderr and exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from codesieve.cli import build_app

runner = CliRunner()


def test_tiny_model_unknown_preset_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(build_app(), ["train", "tiny-model", "--output", str(tmp_path / "m"), "--preset", "huge"])
    assert result.exit_code == 2
    assert "unknown preset 'huge'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "m").exists()


def test_tiny_model_missing_corpus_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(
        build_app(),
        [
            "train",
            "tiny-model",
            "--output",
            str(tmp_path / "m"),
            "--preset",
            "test",
            "--corpus",
            str(tmp_path / "nope"),
        ],
    )
    assert result.exit_code == 2
    assert "is not a directory" in result.stderr
    assert not (tmp_path / "m").exists()


def test_dp_on_cuda_without_a_gpu_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # fault injection: no GPU visible
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "config.json").write_text("{}")
    args = ["train", "dp", "--model", str(tmp_path / "base"), "--data", str(tmp_path), "--output", str(tmp_path / "o")]
    result = runner.invoke(build_app(), [*args, "--device", "cuda"])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "sees no CUDA device" in result.stderr and "--device cpu" in result.stderr
    result = runner.invoke(build_app(), [*args, "--device", "tpu"])
    assert result.exit_code == 2 and "device must be auto, cpu, cuda or cuda:N, not 'tpu'" in result.stderr
    assert not (tmp_path / "o").exists()
