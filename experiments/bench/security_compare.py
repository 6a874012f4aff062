"""`codesieve eval compare` for two security runs: the difference in insecure rate, per language and CWE.

The two runs are independent samples (different models, or the same model at different times), so
each cell's difference B - A gets Newcombe's hybrid score interval (method 10 of Newcombe 1998: built
from the two Wilson intervals; statsmodels `confint_proportions_2indep(method="newcomb")`). It keeps
its coverage where the Wald interval fails: small cells and rates near 0 or 1. A cell whose interval
excludes 0 is marked as a difference at the 95% level (per cell: no correction for the many cells).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from statsmodels.stats.proportion import confint_proportions_2indep

__all__ = ["compare_security", "is_security_summary", "render_security_comparison"]

ALPHA = 0.05


def is_security_summary(summary: Mapping[str, Any]) -> bool:
    """A summary written by `eval security` (either suite): it has insecure counts per language."""
    overall = summary.get("overall")
    return isinstance(overall, Mapping) and "insecure" in overall and isinstance(summary.get("per_language"), Mapping)


def difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any] | None:
    """B's insecure rate minus A's with its 95% Newcombe interval; None when either cell is empty."""
    na, nb = int(a.get("samples", 0)), int(b.get("samples", 0))
    if na == 0 or nb == 0:
        return None
    ka, kb = int(a["insecure"]), int(b["insecure"])
    lo, hi = confint_proportions_2indep(kb, nb, ka, na, method="newcomb", compare="diff", alpha=ALPHA)
    return {
        "a": {"samples": na, "insecure": ka, "rate": round(ka / na, 4)},
        "b": {"samples": nb, "insecure": kb, "rate": round(kb / nb, 4)},
        "diff": round(kb / nb - ka / na, 4),
        "ci95": [round(float(lo), 4), round(float(hi), 4)],
        "differs": bool(lo > 0 or hi < 0),
    }


def _cells(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key in sorted(a.keys() | b.keys()):
        cell = difference(a.get(key, {}), b.get(key, {}))
        if cell is not None:
            out[key] = cell
    return out


def compare_security(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Overall, per-language and per-CWE differences (B - A) between two security summaries.

    Raises:
        ValueError: a summary is not a security run's, or the two ran different suites.
    """
    if not (is_security_summary(a) and is_security_summary(b)):
        raise ValueError("both runs must be `eval security` runs (summary.json with per-language insecure counts)")
    if a.get("suite") != b.get("suite"):
        raise ValueError(f"the runs used different suites ({a.get('suite')} vs {b.get('suite')}): rates not comparable")
    return {
        "suite": a.get("suite"),
        "overall": difference(a["overall"], b["overall"]),
        "per_language": _cells(a["per_language"], b["per_language"]),
        "per_cwe": _cells(a.get("per_cwe", {}), b.get("per_cwe", {})),
        "only_in_a": sorted(a["per_language"].keys() - b["per_language"].keys()),
        "only_in_b": sorted(b["per_language"].keys() - a["per_language"].keys()),
        "interval": "95% Newcombe hybrid score (Wilson-based) for the difference of two independent proportions",
    }


def _row(name: str, cell: Mapping[str, Any] | None) -> str:
    if cell is None:
        return f"| {name} | n/a | n/a | n/a | |"
    lo, hi = cell["ci95"]
    a, b = cell["a"], cell["b"]
    return (
        f"| {name} | {100 * a['rate']:.1f}% ({a['insecure']}/{a['samples']}) "
        f"| {100 * b['rate']:.1f}% ({b['insecure']}/{b['samples']}) "
        f"| {100 * cell['diff']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] | {'yes' if cell['differs'] else 'no'} |"
    )


def render_security_comparison(result: Mapping[str, Any], name_a: str, name_b: str) -> str:
    """Markdown: one table per level, B - A in percentage points with its interval."""
    head = ["| | A insecure | B insecure | B - A (points) [95% CI] | differs |", "|---|---:|---:|---|---|"]
    lines = [f"# Security: {name_a} (A) vs {name_b} (B), suite {result['suite']}", "", *head]
    lines.append(_row("all", result["overall"]))
    lines += ["", "## Per language", "", *head, *(_row(k, v) for k, v in result["per_language"].items())]
    if result["per_cwe"]:
        lines += ["", "## Per CWE", "", *head, *(_row(k, v) for k, v in result["per_cwe"].items())]
    lines += ["", f"Interval: {result['interval']}.", ""]
    return "\n".join(lines)
