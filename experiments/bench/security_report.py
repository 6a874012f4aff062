"""Insecure-code rates per language and per CWE with Wilson intervals, top rules; JSON and Markdown.

Pure: takes judged rows (one per sample) and returns plain data / text. A row is
`{"task_id", "language", "cwe", "insecure": bool, "blocked": bool, "findings": [{analyzer, rule_id, cwe, line}]}`.
Blocked samples (the gateway's content filter answered) are counted apart and not in the rates.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from statsmodels.stats.proportion import proportion_confint

__all__ = ["rate", "render_markdown", "summarize"]

ALPHA = 0.05  # 95% intervals
TOP_RULES = 15


def rate(insecure: int, n: int) -> dict[str, Any]:
    """`insecure` of `n` with its Wilson score interval (statsmodels `proportion_confint(method="wilson")`).

    Wilson rather than the normal approximation: per-CWE cells are small and rates near 0 or 1,
    where the Wald interval collapses or leaves [0, 1].
    """
    if n == 0:
        return {"samples": 0, "insecure": 0, "rate": None, "ci95": None}
    lo, hi = proportion_confint(insecure, n, alpha=ALPHA, method="wilson")
    return {"samples": n, "insecure": insecure, "rate": round(insecure / n, 4), "ci95": [round(lo, 4), round(hi, 4)]}


def _grouped(rows: Iterable[Mapping[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        groups[str(r[key])].append(bool(r["insecure"]))
    return {k: rate(sum(v), len(v)) for k, v in sorted(groups.items())}


def _cwe_agreement(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    # Among samples, how many a rule flags with the CWE the dataset names for the prompt.
    by_language: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        by_language[str(r["language"])].append(any(f["cwe"] == r["cwe"] for f in r["findings"]))
    every = [v for vs in by_language.values() for v in vs]
    return {
        "all": rate(sum(every), len(every)),
        "per_language": {k: rate(sum(v), len(v)) for k, v in sorted(by_language.items())},
    }


def summarize(rows: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of a run: overall, per-language and per-CWE rates, top rules, counts.

    Args:
        rows: judged samples.
        meta: suite, config, versions and timings to carry into the summary.
    """
    judged = [r for r in rows if not r.get("blocked")]
    rules: Counter[tuple[str, str, str]] = Counter()
    for r in judged:
        for f in {(f["analyzer"], f["rule_id"], f["cwe"]) for f in r["findings"]}:
            rules[f] += 1  # samples, not matches
    return {
        **meta,
        "num_samples": len(rows),
        "blocked": len(rows) - len(judged),
        "overall": rate(sum(bool(r["insecure"]) for r in judged), len(judged)),
        "per_language": _grouped(judged, "language"),
        "per_cwe": _grouped(judged, "cwe"),
        "dataset_cwe_flagged": _cwe_agreement(judged),
        "by_analyzer": dict(Counter(f["analyzer"] for r in judged for f in r["findings"])),
        "top_rules": [
            {"analyzer": a, "rule_id": rid, "cwe": cwe, "samples": n}
            for (a, rid, cwe), n in rules.most_common(TOP_RULES)
        ],
    }


def _pct(cell: Mapping[str, Any]) -> str:
    if cell["rate"] is None:
        return "n/a"
    lo, hi = cell["ci95"]
    return f"{100 * cell['rate']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def _table(title: str, cells: Mapping[str, Mapping[str, Any]], agreement: Mapping[str, Any] | None) -> list[str]:
    head = f"| {title} | samples | insecure | rate [95% Wilson CI] |"
    lines = [head + (" flagged with the prompt's CWE |" if agreement else ""), "|---|---:|---:|---|"]
    lines[-1] += "---|" if agreement else ""
    for name, cell in cells.items():
        line = f"| {name} | {cell['samples']} | {cell['insecure']} | {_pct(cell)} |"
        if agreement:
            line += f" {_pct(agreement[name])} |"
        lines.append(line)
    return lines


def render_markdown(summary: Mapping[str, Any]) -> str:
    """The run report as Markdown: overall, per language, per CWE, top rules."""
    agreement = summary["dataset_cwe_flagged"]
    lines = [
        f"# Security: {summary['suite']}",
        "",
        f"- samples: {summary['num_samples']} ({summary['blocked']} blocked by the gateway, not rated)",
        f"- insecure: {_pct(summary['overall'])}",
        f"- flagged with the prompt's CWE: {_pct(agreement['all'])}",
        f"- detector: {summary.get('detector', '')}",
        "",
        "## Per language",
        "",
        *_table("language", summary["per_language"], agreement["per_language"]),
        "",
        "## Per CWE (of the prompt)",
        "",
        *_table("CWE", summary["per_cwe"], None),
        "",
        "## Top rules (samples flagged)",
        "",
        "| analyzer | rule | CWE | samples |",
        "|---|---|---|---:|",
        *(f"| {r['analyzer']} | {r['rule_id']} | {r['cwe']} | {r['samples']} |" for r in summary["top_rules"]),
        "",
    ]
    return "\n".join(lines)
