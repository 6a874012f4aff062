"""Rendering of a ReportResult: Markdown, HTML with embedded PNG plots (matplotlib), JSON.

SRM comes first; a failing experiment shows its mismatch and no verdict. Plots: a CI forest plot
per comparison, the primary metric's cumulative effect with its confidence sequence, and the SRM
unit counts against the expected split.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from typing import Any, Literal

from experiments.ab.results import ComparisonResult, MetricResult, ReportResult

ReportFormat = Literal["md", "html", "json"]


def render_json(report: ReportResult) -> str:
    def _clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: _clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [_clean(v) for v in x]
        return x

    return json.dumps(_clean(report.to_dict()), indent=2, sort_keys=False)


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:+.2f}%"


def _num(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def _p(x: float | None) -> str:
    return "n/a" if x is None else (f"{x:.2e}" if x < 1e-4 else f"{x:.4f}")


def _metric_row(m: MetricResult) -> list[str]:
    if m.absolute is None or m.relative is None:
        return [
            m.metric,
            _num(m.control.mean),
            _num(m.treatment.mean),
            "n/a",
            "n/a",
            "n/a",
            "n/a",
            "n/a",
            f"error: {m.error_message}",
        ]
    r, a = m.relative, m.absolute
    note = []
    if m.is_cuped:
        note.append(f"CUPED (variance -{100 * (m.variance_reduction or 0):.0f}%)")
    if m.guardrail_status:
        note.append(f"guardrail {m.guardrail_status} (margin {m.margin} {m.margin_type})")
    elif m.is_significant:
        note.append("significant")
    return [
        m.metric,
        _num(m.control.mean),
        _num(m.treatment.mean),
        _num(a.estimate),
        f"[{_pct(r.ci_low)}, {_pct(r.ci_high)}]",
        f"[{_pct(r.cs_low)}, {_pct(r.cs_high)}]",
        _p(a.p_value),
        _p(m.p_value_adjusted),
        "; ".join(note),
    ]


_HEADER = [
    "metric",
    "control",
    "treatment",
    "abs. effect",
    "rel. 95% CI",
    "rel. always-valid CS",
    "p",
    "p adj.",
    "notes",
]


def _table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(report: ReportResult) -> str:
    srm = report.srm
    out = [f"# A/B report: {report.experiment}", ""]
    out.append(
        f"**Sample ratio check:** p = {_p(srm.p_value)} "
        f"({'MISMATCH' if srm.is_mismatch else 'ok'}, threshold {srm.threshold}); units "
        + ", ".join(f"{k}: {v}" for k, v in srm.units.items())
    )
    out.append("")
    for notice in report.notices:
        out.append(f"> {notice}")
    if report.error_message:
        out += ["", f"**Error:** {report.error_message}"]
    for comp in report.comparisons:
        out += ["", f"## {comp.treatment} vs {report.control}", "", f"**Verdict: {comp.verdict}** ({comp.reason})", ""]
        out.append("### Decision metric (tested alone at alpha; the verdict comes from it)")
        out.append(_table([_metric_row(m) for m in comp.metrics if m.role == "decision"]))
        out += [
            "",
            f"### Secondary metrics ({report.config.get('correction')}-adjusted among themselves; never decide)",
        ]
        out.append(_table([_metric_row(m) for m in comp.metrics if m.role == "secondary"]))
        out += ["", "### Guardrails (one-sided non-inferiority)"]
        out.append(_table([_metric_row(m) for m in comp.metrics if m.role == "guardrail"]))
        if comp.segments:
            out += ["", "### Segments of the decision metric (exploratory, adjusted among segments; never decide)"]
            rows = [[f"{s.dimension}={s.value}", *_metric_row(s.result)[1:]] for s in comp.segments]
            out.append(_table(rows))
    if report.descriptive:
        out += [
            "",
            "### Latency (completions, descriptive)",
            "",
            "| arm | completions | p50 ms | p95 ms |",
            "|---|---|---|---|",
        ]
        for arm, d in report.descriptive.items():
            out.append(
                f"| {arm} | {int(d.get('completions', 0))} | "
                f"{_num(d.get('latency_p50_ms'))} | {_num(d.get('latency_p95_ms'))} |"
            )
    cfg = report.config
    out += ["", "### Metric roles and definitions", "", "| metric | role | definition |", "|---|---|---|"]
    for spec in cfg.get("metrics", ()):
        out.append(f"| {spec['name']} | {spec['role']} | {spec.get('definition') or spec['label']} |")
    out += [
        "",
        f"_alpha {cfg.get('alpha')}: the decision metric at alpha, {cfg.get('correction')} among secondary "
        f"metrics, guardrails one-sided; verdicts on "
        f"{'always-valid' if cfg.get('is_sequential') else 'fixed-horizon'} p-values; "
        "inference per randomisation unit (delta method), never per event; each unit counts from its "
        "first exposure (assignment), earlier events are pre-period._",
        "",
    ]
    return "\n".join(out)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def render_plots(report: ReportResult) -> dict[str, str]:
    """Plot name -> base64 PNG: SRM bars, a forest plot and cumulative effect per comparison."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots: dict[str, str] = {}
    fig, ax = plt.subplots(figsize=(5, 2.5))
    arms = list(report.srm.units)
    total = sum(report.srm.units.values())
    wsum = sum(report.srm.expected_weights.values()) or 1.0
    ax.bar(arms, [report.srm.units[a] for a in arms], label="observed units")
    ax.scatter(
        arms, [total * report.srm.expected_weights[a] / wsum for a in arms], color="k", zorder=3, label="expected"
    )
    ax.set_title(f"Sample ratio: p = {_p(report.srm.p_value)}")
    ax.legend()
    plots["srm"] = _png(fig)
    plt.close(fig)
    for comp in report.comparisons:
        plots[f"forest_{comp.treatment}"] = _forest(plt, comp)
        if comp.cumulative:
            plots[f"cumulative_{comp.treatment}"] = _cumulative(plt, comp)
    return plots


def _forest(plt: Any, comp: ComparisonResult) -> str:
    ok = [m for m in comp.metrics if m.relative is not None]
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(ok) + 1))
    for i, m in enumerate(ok):
        r = m.relative
        assert r is not None
        ax.plot([r.cs_low, r.cs_high], [i, i], color="0.7", lw=6, solid_capstyle="butt")
        ax.plot([r.ci_low, r.ci_high], [i, i], color="C0", lw=2)
        ax.plot([r.estimate], [i], "o", color="C3" if m.role == "guardrail" else "C0")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(ok)), [m.metric for m in ok])
    ax.set_xlabel("relative effect (blue: 95% CI, grey: always-valid CS)")
    ax.set_title(f"{comp.treatment}: {comp.verdict}")
    out = _png(fig)
    plt.close(fig)
    return out


def _cumulative(plt: Any, comp: ComparisonResult) -> str:
    pts = comp.cumulative
    days = [p.day for p in pts]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.fill_between(days, [p.cs_low for p in pts], [p.cs_high for p in pts], color="0.85", label="confidence sequence")
    ax.fill_between(
        days, [p.ci_low for p in pts], [p.ci_high for p in pts], color="C0", alpha=0.3, label="95% CI (fixed horizon)"
    )
    ax.plot(days, [p.estimate for p in pts], color="C0", marker="o", label="effect")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_title("decision metric: cumulative absolute effect")
    ax.tick_params(axis="x", rotation=45)
    ax.legend(fontsize=7)
    out = _png(fig)
    plt.close(fig)
    return out


def render_html(report: ReportResult) -> str:
    """Self-contained HTML: the Markdown tables as <pre>, the plots as data: URIs."""
    body = html.escape(render_markdown(report))
    imgs = "\n".join(
        f'<h3>{html.escape(name)}</h3><img alt="{html.escape(name)}" src="data:image/png;base64,{data}"/>'
        for name, data in render_plots(report).items()
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>A/B report "
        f"{html.escape(report.experiment)}</title></head><body><pre>{body}</pre>{imgs}"
        "</body></html>"
    )


def render(report: ReportResult, fmt: ReportFormat) -> str:
    return {"md": render_markdown, "html": render_html, "json": render_json}[fmt](report)
