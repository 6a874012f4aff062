"""`codesieve train ...` argument errors: a clear message on stderr and exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

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
