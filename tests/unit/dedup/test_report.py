"""Report: per-language counts, histogram, Markdown."""

from __future__ import annotations

from codesieve.core.records import DocMeta
from dedup.config import MinhashConfig
from dedup.report import build_report, render_markdown
from dedup.steps import ClusterRow


def test_report_counts_and_histogram() -> None:
    metas = [
        DocMeta(0, "a", "h1", True, 0, "python", 100),
        DocMeta(1, "b", "h1", False, 0, "python", 110),
        DocMeta(2, "c", "h2", False, 0, "go", 50),
        DocMeta(3, "d", "h3", False, 0, "go", 60),
        DocMeta(4, "e", "h4", False, 0, "go", 70),
    ]
    clusters = [
        ClusterRow(0, "exact", 0, "a", (0, 1), ("a", "b")),
        ClusterRow(2, "near", 3, "d", (2, 3, 4), ("c", "d", "e")),
    ]
    report = build_report(
        cfg=MinhashConfig(),
        engine="local",
        fingerprint={"sha256": "f"},
        metas=metas,
        clusters=clusters,
        versions={"numpy": "x"},
    )
    assert report["totals"] == {
        "input_docs": 5,
        "input_bytes": 390,
        "kept_docs": 2,
        "kept_bytes": 160,
        "removed_exact_docs": 1,
        "removed_exact_bytes": 110,
        "removed_near_docs": 2,
        "removed_near_bytes": 120,
    }
    assert report["per_language"]["go"]["removed_near_docs"] == 2
    assert report["cluster_size_histogram"] == {"2": 1, "3": 1}
    md = render_markdown(report)
    assert "| go | 3 | 180 | 1 | 60 | 0 | 2 |" in md
