"""The dedup report: counts and bytes per language, cluster size histogram, parameters (pure).

`build_report` returns a JSON-ready dict; `render_markdown` formats the same dict for people.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from codesieve.core.lsh_params import s_curve_threshold
from codesieve.core.records import PERMISSIVE_LICENCES, DocMeta
from dedup.config import MinhashConfig
from dedup.steps import ClusterRow

__all__ = ["build_report", "render_markdown"]

_COUNTERS = ("input", "kept", "removed_exact", "removed_near")


def build_report(
    *,
    cfg: MinhashConfig,
    engine: str,
    fingerprint: Mapping[str, Any],
    metas: Iterable[DocMeta],
    clusters: Iterable[ClusterRow],
    versions: Mapping[str, str],
) -> dict[str, Any]:
    """Summarise a finished run.

    Returns:
        {"parameters", "input_fingerprint", "totals", "per_language", "cluster_size_histogram",
         "clusters", "short_files"} with counts and bytes for input / kept / removed_exact /
        removed_near.
    """
    clusters = list(clusters)
    removed_kind = {m: c.kind for c in clusters for m in c.member_indices if m != c.kept_index}
    per_language: dict[str, dict[str, int]] = {}
    totals = {f"{k}_{u}": 0 for k in _COUNTERS for u in ("docs", "bytes")}
    for meta in metas:
        row = per_language.setdefault(meta.language, {f"{k}_{u}": 0 for k in _COUNTERS for u in ("docs", "bytes")})
        kind = removed_kind.get(meta.doc_index)
        for counter in ("input", "kept" if kind is None else f"removed_{kind}"):
            for target in (row, totals):
                target[f"{counter}_docs"] += 1
                target[f"{counter}_bytes"] += meta.n_bytes
    histogram = Counter(len(c.member_indices) for c in clusters)
    return {
        "engine": engine,
        "parameters": {
            **cfg.to_dict(),
            "config_string": str(cfg),
            "s_curve_threshold": round(s_curve_threshold(cfg.bands, cfg.rows), 4),
            "permissive_licences": sorted(PERMISSIVE_LICENCES),
        },
        "versions": dict(versions),
        "input_fingerprint": fingerprint.get("sha256"),
        "input_files": [f["path"] for f in fingerprint.get("files", [])],
        "totals": totals,
        "per_language": dict(sorted(per_language.items())),
        "clusters": {
            "count": len(clusters),
            "exact": sum(c.kind == "exact" for c in clusters),
            "near": sum(c.kind == "near" for c in clusters),
        },
        "cluster_size_histogram": {str(k): v for k, v in sorted(histogram.items())},
    }


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown tables."""
    t = report["totals"]
    p = report["parameters"]
    lines = [
        "# Dedup report",
        "",
        f"- engine: {report['engine']}",
        f"- parameters: `{p['config_string']}` (threshold {p['threshold']}, "
        f"S-curve midpoint {p['s_curve_threshold']}, verify {p['verify']})",
        f"- input fingerprint: `{report['input_fingerprint']}`",
        f"- documents: {t['input_docs']} in, {t['kept_docs']} kept, "
        f"{t['removed_exact_docs']} exact duplicates and {t['removed_near_docs']} near duplicates removed",
        "",
        "## Per language",
        "",
        "| language | docs in | bytes in | kept | bytes kept | exact removed | near removed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for lang, r in report["per_language"].items():
        lines.append(
            f"| {lang} | {r['input_docs']} | {r['input_bytes']} | {r['kept_docs']} | "
            f"{r['kept_bytes']} | {r['removed_exact_docs']} | {r['removed_near_docs']} |"
        )
    lines += ["", "## Cluster sizes", "", "| size | clusters |", "| ---: | ---: |"]
    for size, count in report["cluster_size_histogram"].items():
        lines.append(f"| {size} | {count} |")
    return "\n".join(lines) + "\n"
