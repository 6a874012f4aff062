"""`codesieve dedup` CLI: exit codes and messages (no tracebacks for bad input)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from codesieve.cli import build_app

FIXTURE = Path(__file__).parents[2] / "fixtures" / "dedup" / "corpus_small.jsonl"
runner = CliRunner()


def test_run_writes_outputs_and_summary(tmp_path: Path) -> None:
    result = runner.invoke(build_app(), ["dedup", "run", "-i", str(FIXTURE), "-o", str(tmp_path), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "kept 35" in result.output
    root = tmp_path / "5ng_256p_25b10r_seed1_sha1_32"
    report = json.loads((root / "report.json").read_text())
    assert report["totals"]["input_docs"] == 45
    assert (root / "report.md").is_file() and (root / "clusters.jsonl").is_file()


def test_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(
        build_app(), ["dedup", "run", "-i", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert "no such file" in result.output and "Traceback" not in result.output


def test_bands_without_rows_is_rejected(tmp_path: Path) -> None:
    result = runner.invoke(build_app(), ["dedup", "run", "-i", str(FIXTURE), "-o", str(tmp_path), "--bands", "20"])
    assert result.exit_code == 2 and "--bands and --rows" in result.output


def test_non_default_threshold_derives_bands_and_rows(tmp_path: Path) -> None:
    result = runner.invoke(
        build_app(),
        [
            "dedup",
            "run",
            "-i",
            str(FIXTURE),
            "-o",
            str(tmp_path),
            "--threshold",
            "0.8",
            "--num-perm",
            "128",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "5ng_128p_9b13r_seed1_sha1_32" / "report.json").is_file()


def test_invalid_json_input_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"content": "x"}\nnot json\n')
    result = runner.invoke(build_app(), ["dedup", "run", "-i", str(bad), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "bad.jsonl:2" in result.output


def test_decontaminate_unknown_benchmark(tmp_path: Path) -> None:
    result = runner.invoke(
        build_app(), ["dedup", "decontaminate", "-i", str(FIXTURE), "-o", str(tmp_path), "--benchmarks", "nosuch"]
    )
    assert result.exit_code == 2 and "unknown benchmark" in result.output


def test_verify_defaults_to_recall_tuned_banding(tmp_path: Path) -> None:
    result = runner.invoke(
        build_app(), ["dedup", "run", "-i", str(FIXTURE), "-o", str(tmp_path), "--verify", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "5ng_256p_36b7r_seed1_sha1_32_verify0.7" / "deduped" / "_SUCCESS").is_file()
