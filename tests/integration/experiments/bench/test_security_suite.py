"""`codesieve eval security --suite cyberseceval-*` with the real semgrep and the codeshield rules.

Samples are the dataset's own (flagged) code, so no model is needed: the calibration the issue asks
for, on 5 prompts per language here (the full 1,916 is the documented benchmark command).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesieve.cli import build_app
from codesieve.testing.tools import semgrep_binary
from experiments.bench.cyberseceval import load_suite, reference_completion
from experiments.bench.icd_rules import LANGUAGES
from factories import SHARED_BENCHMARKS

pytestmark = pytest.mark.integration

runner = CliRunner()
AUTOCOMPLETE = SHARED_BENCHMARKS / "cyberseceval" / "autocomplete.json"


@pytest.fixture()
def semgrep(monkeypatch: pytest.MonkeyPatch) -> str:
    path = semgrep_binary()
    monkeypatch.setenv("CODESIEVE_SEMGREP", path)
    return path


def _invoke(*args: str) -> object:
    return runner.invoke(build_app(), ["eval", "security", *args])


def _samples(
    path: Path, per_language: int, completion: str | None = None, languages: tuple[str, ...] = LANGUAGES
) -> Path:
    cases = load_suite("cyberseceval-autocomplete", AUTOCOMPLETE, languages)
    kept: dict[str, int] = {}
    rows = []
    for c in cases:
        kept[c.language] = kept.get(c.language, 0) + 1
        if kept[c.language] <= per_language:
            rows.append(
                {"task_id": c.task_id, "completion": reference_completion(c) if completion is None else completion}
            )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def calibration_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    tmp = tmp_path_factory.mktemp("sec")
    mp = pytest.MonkeyPatch()
    mp.setenv("CODESIEVE_SEMGREP", semgrep_binary())
    mp.setenv("CODESIEVE_BENCHMARK_MIRROR", str(SHARED_BENCHMARKS))
    try:
        out = tmp / "run"
        result = _invoke(
            "--suite", "cyberseceval-autocomplete", "--samples", str(_samples(tmp / "s.jsonl", 5)), "--output", str(out)
        )
    finally:
        mp.undo()
    return out, result


def test_dataset_code_is_flagged_per_language(calibration_run: tuple[Path, object]) -> None:
    out, result = calibration_run
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_samples"] == 40 and set(summary["per_language"]) == set(LANGUAGES)
    # Regex-rule languages: the dataset's detector and codeshield's rules agree on every sample.
    for language in ("rust", "php"):
        assert summary["per_language"][language]["rate"] == 1.0
        assert summary["dataset_cwe_flagged"]["per_language"][language]["rate"] == 1.0
    # the dataset's code is insecure code: well over a third flagged (64.8% on all 1,916 autocomplete rows)
    assert summary["overall"]["insecure"] >= 16
    lo, hi = summary["overall"]["ci95"]
    assert lo < summary["overall"]["rate"] < hi
    assert summary["rules_semgrep_cannot_parse"].keys() == set(LANGUAGES)
    assert "| rust | 5 | 5 | 100.0%" in (out / "report.md").read_text()
    # with our own rules beside codeshield's, nearly every sample is flagged with the dataset's CWE
    # (97.8% of all 1,916 rows: benchmarks/security_detector.py)
    assert summary["dataset_cwe_flagged"]["all"]["insecure"] >= 37
    page = (out / "report.html").read_text()
    assert page.count("<svg") == 1 and "<script" not in page and "CWE-" in page
    judged = json.loads((out / "judged-python.json").read_text())
    assert all(f["line"] >= 1 and f["cwe"].startswith("CWE-") for r in judged["rows"] for f in r["findings"])


def test_rerun_reuses_judged_languages(calibration_run: tuple[Path, object], semgrep: str, tmp_path: Path) -> None:
    out, _ = calibration_run
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("judged-*.json")}
    summary = json.loads((out / "summary.json").read_text())
    result = _invoke(
        "--suite",
        "cyberseceval-autocomplete",
        "--samples",
        str(_samples(tmp_path / "s.jsonl", 5)),
        "--output",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("judged-*.json")} == before
    assert json.loads((out / "summary.json").read_text())["overall"] == summary["overall"]


def test_semgrep_and_bandit_fire_on_the_completion_only(semgrep: str, tmp_path: Path) -> None:
    case = load_suite("cyberseceval-autocomplete", AUTOCOMPLETE, ["python"])[0]
    rows = [
        {"task_id": case.task_id, "sample_idx": 0, "completion": "\nimport pickle\nx = pickle.loads(data)\n"},
        {"task_id": case.task_id, "sample_idx": 1, "completion": "\nimport json\nx = json.loads(data)\n"},
    ]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    result = _invoke(
        "--suite", "cyberseceval-autocomplete", "--samples", str(tmp_path / "s.jsonl"), "--output", str(out)
    )
    assert result.exit_code == 0, result.output
    judged = {r["sample_idx"]: r for r in json.loads((out / "judged-python.json").read_text())["rows"]}
    analyzers = {(f["analyzer"], f["cwe"]) for f in judged[0]["findings"]}
    assert ("semgrep", "CWE-502") in analyzers and ("bandit", "CWE-502") in analyzers
    assert judged[1]["insecure"] is False and judged[1]["findings"] == []


def test_safe_completions_are_not_flagged(semgrep: str, tmp_path: Path) -> None:
    samples = _samples(tmp_path / "s.jsonl", 5, completion="\n", languages=("python", "java", "rust"))
    out = tmp_path / "run"
    result = _invoke(
        "--suite",
        "cyberseceval-autocomplete",
        "--languages",
        "python,java,rust",
        "--samples",
        str(samples),
        "--output",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["overall"]["insecure"] == 0


def test_semgrep_needs_no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """semgrep runs in a network namespace with no interface but loopback, and still judges."""
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed for the no-network proof")
    wrapper = tmp_path / "semgrep-offline"
    wrapper.write_text(f'#!/bin/sh\nexec unshare -rn "{semgrep_binary()}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("CODESIEVE_SEMGREP", str(wrapper))
    samples = _samples(tmp_path / "s.jsonl", 3, languages=("python",))
    out = tmp_path / "run"
    result = _invoke(
        "--suite", "cyberseceval-autocomplete", "--languages", "python", "--samples", str(samples), "--output", str(out)
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["num_samples"] == 3


def test_semgrep_makes_no_network_request(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every socket call of semgrep and its children, traced (strace -f): with our flags and cleared
    environment none reaches an IP address; the same tracer sees the update check a plain
    `semgrep --version` makes, so an attempt would not go unseen."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace is needed for the no-request proof (make sysdeps installs it)")
    calls = "connect,sendto,sendmsg"
    control = tmp_path / "control.trace"
    subprocess.run(
        [strace, "-f", "-qq", "-e", f"trace={calls}", "-o", str(control), semgrep_binary(), "--version"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert "AF_INET" in control.read_text(), "the tracer saw no request from plain `semgrep --version`"
    log = tmp_path / "eval.trace"
    wrapper = tmp_path / "semgrep-traced"
    wrapper.write_text(f'#!/bin/sh\nexec "{strace}" -f -qq -e trace={calls} -o "{log}.$$" "{semgrep_binary()}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("CODESIEVE_SEMGREP", str(wrapper))
    samples = _samples(tmp_path / "s.jsonl", 2, languages=("python", "c"))
    out = tmp_path / "run"
    result = _invoke(
        "--suite",
        "cyberseceval-autocomplete",
        "--languages",
        "python,c",
        "--samples",
        str(samples),
        "--output",
        str(out),
    )
    assert result.exit_code == 0, result.output
    traces = sorted(tmp_path.glob("eval.trace.*"))
    assert len(traces) >= 3  # --version, then a scan per language (again when a rule does not parse)
    requests = [line for t in traces for line in t.read_text().splitlines() if "AF_INET" in line]
    assert requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--suite", "owasp"], "unknown suite 'owasp'"),
        (["--suite", "cyberseceval-instruct", "--languages", "cobol"], "unknown language(s) cobol"),
        (["--suite", "cyberseceval-instruct"], "give exactly one of --samples"),
    ],
)
def test_bad_options_are_one_line_errors(args: list[str], message: str, tmp_path: Path) -> None:
    samples = tmp_path / "s.jsonl"
    samples.write_text("")
    extra = ["--samples", str(samples)] if "--languages" in args else []
    result = _invoke(*args, *extra, "--output", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and message in result.output


def test_missing_semgrep_and_unknown_task_ids(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    samples = _samples(tmp_path / "s.jsonl", 1, languages=("python",))
    monkeypatch.setenv("CODESIEVE_SEMGREP", str(tmp_path / "no-semgrep"))
    out = tmp_path / "run"
    result = _invoke("--suite", "cyberseceval-autocomplete", "--samples", str(samples), "--output", str(out))
    assert result.exit_code == 2 and result.output.startswith("error: semgrep not found"), result.output
    assert result.output.strip().count("\n") == 0 and not out.exists()
    monkeypatch.setenv("CODESIEVE_SEMGREP", semgrep_binary())
    (tmp_path / "bad.jsonl").write_text(json.dumps({"task_id": "autocomplete/99999", "completion": "x"}) + "\n")
    result = _invoke(
        "--suite", "cyberseceval-autocomplete", "--samples", str(tmp_path / "bad.jsonl"), "--output", str(out)
    )
    assert result.exit_code == 2 and "not in cyberseceval-autocomplete: autocomplete/99999" in result.output


@pytest.mark.vllm
@pytest.mark.slow
def test_generates_through_a_vllm_endpoint_and_resumes(vllm_server: object, semgrep: str, tmp_path: Path) -> None:
    """The pipeline with a model (the tiny one: its numbers mean nothing): code contexts as prompts,
    samples appended as they come, a rerun generating only what is missing."""
    out = tmp_path / "gen"
    args = [
        "--suite",
        "cyberseceval-autocomplete",
        "--languages",
        "python,rust",
        "--limit",
        "2",
        "--endpoint",
        vllm_server.url,  # type: ignore[attr-defined]
        "--model",
        vllm_server.model_name,  # type: ignore[attr-defined]
        "--max-tokens",
        "24",
        "--output",
        str(out),
    ]
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    lines = (out / "samples.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["task_id"] for x in lines) == sorted(
        [f"autocomplete/{c}" for c in _first_ids(("python", "rust"), 2)]
    )
    (out / "samples.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # as if interrupted before the last
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    assert len((out / "samples.jsonl").read_text().splitlines()) == 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_samples"] == 4 and set(summary["per_language"]) == {"python", "rust"}
    assert summary["config"]["generation"]["model"] == vllm_server.model_name  # type: ignore[attr-defined]
    assert "api_key" not in summary["config"]["generation"]


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.parametrize("suite", ["cyberseceval-autocomplete", "cyberseceval-instruct"])
def test_both_suites_through_the_gateway(
    suite: str, vllm_server: object, semgrep: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two prompts per language through a real gateway in front of vLLM (the tiny model), the way the
    full-scale benchmark (benchmarks/security_full_run.py) runs all 3,832: with 384 of the model's 512
    tokens left for the answer, most prompts are longer than what remains, and are cut to their tail."""
    import sqlite3

    from codesieve.testing.services import keyed_gateway

    with keyed_gateway(tmp_path, vllm_server.url) as (gw, key):  # type: ignore[attr-defined]
        monkeypatch.setenv("CODESIEVE_EVAL_API_KEY", key)
        out = tmp_path / "run"
        args = ["--suite", suite, "--limit", "2", "--endpoint", gw.url, "--model", vllm_server.model_name]  # type: ignore[attr-defined]
        result = _invoke(*args, "--max-tokens", "384", "--concurrency", "8", "--output", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_samples"] == 16 and set(summary["per_language"]) == set(LANGUAGES)
    gen = summary["generation"]
    assert gen["errors"] == 0 and gen["generated_now"] == 16, gen
    if suite == "cyberseceval-autocomplete":  # contexts: 141 characters and up; the window: ~243
        assert gen["windowed"] >= 4, gen
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert (
        all(r["prompt_cut_chars"] >= 0 for r in rows)
        and sum(r["prompt_cut_chars"] > 0 for r in rows) == gen["windowed"]
    )
    assert "prompts cut to the model's context" in (out / "report.md").read_text()
    assert key not in (out / "config.json").read_text() + (out / "summary.json").read_text()
    # every completion went through the gateway: one telemetry record per request
    with sqlite3.connect(gw.db_url.removeprefix("sqlite:///")) as db:
        assert db.execute("SELECT count(*) FROM completions").fetchone()[0] >= 16


def _first_ids(languages: tuple[str, ...], n: int) -> list[int]:
    cases = load_suite("cyberseceval-autocomplete", AUTOCOMPLETE, languages)
    return [int(c.task_id.split("/")[1]) for lang in languages for c in [c for c in cases if c.language == lang][:n]]
