"""Contamination: exact and near matches of benchmark problems inside corpus documents."""

from __future__ import annotations

from codesieve.core.benchmarks import load_benchmark
from experiments.bench.contamination import check_contamination, summarize_contamination


def test_exact_near_and_clean() -> None:
    problems = load_benchmark("humaneval").problems[:3]
    p0, p1, p2 = problems
    text0 = p0.prompt + (p0.canonical_solution or "")
    text1 = p1.prompt + (p1.canonical_solution or "")
    # p0 copied verbatim (re-indented, a comment added) into a bigger file; p1 partly (first 60%).
    copied = "import os\n\n# vendored\n" + text0.replace("    ", "\t") + "\n\ndef other():\n    return 1\n"
    lines = text1.splitlines()
    partial = "\n".join(lines[: int(len(lines) * 0.6)])
    corpus = [("doc-a", copied), ("doc-b", partial), ("doc-c", "def unrelated(x):\n    return x * 2\n")]
    findings = {f.task_id: f for f in check_contamination(problems, iter(corpus))}
    assert findings[p0.task_id].status == "exact"
    assert findings[p0.task_id].doc_id == "doc-a"
    assert findings[p1.task_id].status == "near"
    assert findings[p1.task_id].doc_id == "doc-b" and findings[p1.task_id].shared_ngrams > 0
    assert findings[p2.task_id].status == "clean"
    summary = summarize_contamination(
        list(findings.values()),
        {
            "per_task": {
                p0.task_id: {"n": 1, "passed": 1},
                p1.task_id: {"n": 1, "passed": 1},
                p2.task_id: {"n": 1, "passed": 0},
            }
        },
    )
    assert summary["exact"] == 1 and summary["near"] == 1 and summary["clean"] == 1
    assert summary["pass_rate_contaminated"] == 100.0
    assert summary["pass_rate_clean"] == 0.0
    assert summary["flagged"] is True


def test_reordered_tokens_are_not_an_exact_match() -> None:
    (p0,) = load_benchmark("humaneval").problems[:1]
    text = p0.prompt + (p0.canonical_solution or "")
    half = len(text) // 2
    swapped = text[half:] + "\n" + text[:half]
    (finding,) = check_contamination([p0], [("d", swapped)])
    assert finding.status == "near"
