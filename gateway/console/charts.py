"""The overview's charts as inline SVG, drawn server-side by matplotlib (no JavaScript, no CDN).

matplotlib is already the A/B report's plotting library (the `analysis` extra); drawing here keeps
the console air-gap safe with nothing to serve but HTML. CPU work: callers run it in a thread.
Returns no charts (the tables still show every number) when matplotlib is not installed.
"""

from __future__ import annotations

import io
from typing import Any


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    out = buf.getvalue()
    return out[out.index("<svg") :]  # drop the XML prolog and DOCTYPE: the SVG goes inline


def _figure() -> Any:
    from matplotlib.figure import Figure  # the object API: no pyplot global state, safe in threads

    fig = Figure(figsize=(6.4, 2.2), dpi=72)
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(axis="x", rotation=45, labelsize=8)
    ax.tick_params(axis="y", labelsize=8)
    return fig, ax


def overview_charts(summary: dict[str, Any]) -> dict[str, str]:
    """name -> inline SVG: completions (and errors) per day; acceptance rate per day."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return {}
    charts: dict[str, str] = {}
    days = summary["days"]
    if days:
        fig, ax = _figure()
        labels = [d["day"][5:] for d in days]
        ax.bar(labels, [d["completions"] for d in days], color="#3b6ea5", label="completions")
        ax.bar(labels, [d["errors"] for d in days], color="#c0392b", label="errors")
        ax.legend(fontsize=8, frameon=False)
        ax.set_title("completions per day (UTC)", fontsize=9)
        charts["completions"] = _svg(fig)
    points = [(d, r) for d, r in summary["acceptance_by_day"] if r is not None]
    if points:
        fig, ax = _figure()
        ax.plot([d[5:] for d, _ in points], [r for _, r in points], marker="o", color="#2e8b57")
        ax.set_ylim(0, max(r for _, r in points) * 1.2 or 1)
        ax.set_title("acceptance rate per day (accepted / shown)", fontsize=9)
        charts["acceptance"] = _svg(fig)
    return charts
