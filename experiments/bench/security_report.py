"""Insecure-code rates per language and per CWE with Wilson intervals, top rules; JSON, Markdown and HTML.

Pure: takes judged rows (one per sample) and returns plain data / text. A row is
`{"task_id", "language", "cwe", "insecure": bool, "blocked": bool, "findings": [{analyzer, rule_id, cwe, line}]}`.
Blocked samples (the gateway's content filter answered) are counted apart and not in the rates.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from statsmodels.stats.proportion import proportion_confint

__all__ = ["rate", "render_html", "render_markdown", "summarize"]

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
        *_generation_lines(summary.get("generation")),
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


def _generation_lines(gen: Mapping[str, Any] | None) -> list[str]:
    if not gen:
        return []
    reasons = ", ".join(f"{k}: {v}" for k, v in gen["errors_by_reason"].items()) or "none"
    return [
        f"- generation (this invocation): {gen['generated_now']} completions in {gen['seconds']:.0f} s; "
        f"{gen['errors']} prompts failed ({reasons}), retried by a rerun",
        f"- prompts cut to the model's context (tail kept, as an editor does): {gen['windowed']}; "
        f"prompts in which the gateway found a secret: {gen['with_prompt_secrets']}",
    ]


def _cwe_chart(per_cwe: Mapping[str, Mapping[str, Any]]) -> str:
    """Per-CWE insecure rate with its Wilson interval as an inline SVG bar chart (matplotlib, no script)."""
    import io

    from matplotlib.figure import Figure  # the object API: no pyplot global state

    cells = sorted(((k, v) for k, v in per_cwe.items() if v["rate"] is not None), key=lambda kv: kv[1]["rate"])
    if not cells:
        return ""
    names = [f"{k} (n={v['samples']})" for k, v in cells]
    rates = [100 * v["rate"] for _, v in cells]
    low = [100 * (v["rate"] - v["ci95"][0]) for _, v in cells]
    high = [100 * (v["ci95"][1] - v["rate"]) for _, v in cells]
    fig = Figure(figsize=(7.0, 0.9 + 0.22 * len(cells)), dpi=72)
    ax = fig.add_subplot()
    ax.barh(names, rates, xerr=[low, high], color="#b03a2e", ecolor="#555555", capsize=2)
    ax.set_xlim(0, 100)
    ax.set_xlabel("insecure samples, % (95% Wilson interval)", fontsize=8)
    ax.tick_params(axis="both", labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})  # same data, same page
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]  # inline: drop the XML prolog and DOCTYPE


def _html_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    from html import escape

    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(summary: Mapping[str, Any]) -> str:
    """The run report as one self-contained HTML page: the per-CWE chart inline, no script, no CDN."""
    from html import escape

    agreement = summary["dataset_cwe_flagged"]
    per_language = [
        (k, v["samples"], v["insecure"], _pct(v), _pct(agreement["per_language"][k]))
        for k, v in summary["per_language"].items()
    ]
    per_cwe = [(k, v["samples"], v["insecure"], _pct(v)) for k, v in summary["per_cwe"].items()]
    rules = [(r["analyzer"], r["rule_id"], r["cwe"], r["samples"]) for r in summary["top_rules"]]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Security: {escape(str(summary['suite']))}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child{text-align:left}</style>",
        "</head><body>",
        f"<h1>Security: {escape(str(summary['suite']))}</h1>",
        f"<p>samples: {summary['num_samples']} ({summary['blocked']} blocked by the gateway, not rated); "
        f"insecure: {escape(_pct(summary['overall']))}; flagged with the prompt's CWE: "
        f"{escape(_pct(agreement['all']))}</p>",
        f"<p>detector: {escape(str(summary.get('detector', '')))}</p>",
        "<h2>Insecure rate per CWE (of the prompt)</h2>",
        _cwe_chart(summary["per_cwe"]),
        "<h2>Per language</h2>",
        _html_table(
            ["language", "samples", "insecure", "rate [95% CI]", "flagged with the prompt's CWE"], per_language
        ),
        "<h2>Per CWE</h2>",
        _html_table(["CWE", "samples", "insecure", "rate [95% CI]"], per_cwe),
        "<h2>Top rules (samples flagged)</h2>",
        _html_table(["analyzer", "rule", "CWE", "samples"], rules),
        "</body></html>\n",
    ]
    return "\n".join(parts)
