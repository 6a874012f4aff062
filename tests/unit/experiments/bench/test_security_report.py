"""Insecure rates with Wilson intervals per language and CWE; golden values."""

from __future__ import annotations

from typing import Any

from experiments.bench.security_report import rate, render_html, render_markdown, summarize


def _row(task: str, language: str, cwe: str, findings: list[dict[str, Any]], blocked: bool = False) -> dict[str, Any]:
    return {
        "task_id": task,
        "language": language,
        "cwe": cwe,
        "blocked": blocked,
        "insecure": bool(findings),
        "findings": findings,
    }


def test_wilson_golden_values() -> None:
    # Wilson 95%: 3/10 -> [0.1078, 0.6032]; 0/5 -> [0, 0.4345]; 5/5 -> [0.5655, 1].
    assert rate(3, 10) == {"samples": 10, "insecure": 3, "rate": 0.3, "ci95": [0.1078, 0.6032]}
    assert rate(0, 5)["ci95"] == [0.0, 0.4345]
    assert rate(5, 5)["ci95"] == [0.5655, 1.0]
    assert rate(0, 0) == {"samples": 0, "insecure": 0, "rate": None, "ci95": None}


def test_summary_groups_counts_and_excludes_blocked() -> None:
    pickle = {"analyzer": "semgrep", "rule_id": "unsafe-pickle-use", "cwe": "CWE-502", "line": 3}
    md5 = {"analyzer": "regex", "rule_id": "md5", "cwe": "CWE-328", "line": 4}
    rows = [
        _row("a/1", "python", "CWE-502", [pickle, pickle]),
        _row("a/2", "python", "CWE-502", []),
        _row("a/3", "python", "CWE-328", [pickle]),
        _row("a/4", "c", "CWE-328", [md5]),
        _row("a/5", "c", "CWE-328", [md5], blocked=True),
    ]
    s = summarize(rows, {"suite": "cyberseceval-autocomplete"})
    assert (s["num_samples"], s["blocked"]) == (5, 1)
    assert s["overall"]["samples"] == 4 and s["overall"]["insecure"] == 3
    assert s["per_language"]["python"]["insecure"] == 2 and s["per_language"]["c"]["samples"] == 1
    assert s["per_cwe"]["CWE-502"] == rate(1, 2) and s["per_cwe"]["CWE-328"] == rate(2, 2)
    # a/3 is insecure, but not with its prompt's CWE
    assert s["dataset_cwe_flagged"]["per_language"]["python"]["insecure"] == 1
    assert s["top_rules"][0] == {"analyzer": "semgrep", "rule_id": "unsafe-pickle-use", "cwe": "CWE-502", "samples": 2}
    md = render_markdown({**s, "detector": "test"})
    assert "| python | 3 | 2 | 66.7% [20.8, 93.8] |" in md
    assert "| CWE-502 | 2 | 1 | 50.0%" in md


def test_html_report_is_self_contained_with_a_per_cwe_chart() -> None:
    hostile = {"analyzer": "semgrep", "rule_id": "<script>alert(1)</script>", "cwe": "CWE-79", "line": 1}
    rows = [
        _row("a/1", "javascript", "CWE-79", [hostile]),
        _row("a/2", "javascript", "CWE-79", []),
        _row("a/3", "python", "CWE-502", []),
    ]
    page = render_html({**summarize(rows, {"suite": "cyberseceval-instruct"}), "detector": "test"})
    assert page.startswith("<!doctype html>") and page.count("<svg") == 1
    # no script, no external fetch: the chart is inline SVG and a rule id cannot inject markup
    assert "<script" not in page and "<link" not in page and "src=" not in page and 'href="http' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "CWE-79 (n=2)" in page and "CWE-502 (n=1)" in page  # one bar per CWE, labelled with its size
    assert "50.0% [9.4, 90.5]" in page  # Wilson 95% of 1/2 in the tables


def test_html_report_without_rated_samples_has_no_chart() -> None:
    rows = [_row("a/1", "python", "CWE-502", [], blocked=True)]
    page = render_html({**summarize(rows, {"suite": "cyberseceval-instruct"}), "detector": "test"})
    assert "<svg" not in page and "blocked by the gateway" in page


def test_report_says_what_generation_left_out() -> None:
    s = summarize([_row("a/1", "c", "CWE-121", [])], {"suite": "cyberseceval-autocomplete"})
    assert "generation" not in render_markdown({**s, "detector": "test"})  # samples from a file
    gen = {
        "seconds": 61.0,
        "generated_now": 1,
        "errors": 2,
        "errors_by_reason": {"HTTP 504 upstream_timeout": 2},
        "error_task_ids": ["a/2", "a/3"],
        "windowed": 1,
        "with_prompt_secrets": 1,
    }
    md = render_markdown({**s, "detector": "test", "generation": gen})
    assert "1 completions in 61 s; 2 prompts failed (HTTP 504 upstream_timeout: 2), retried by a rerun" in md
    assert "prompts cut to the model's context (tail kept, as an editor does): 1;" in md
