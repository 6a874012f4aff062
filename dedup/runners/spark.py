"""run_spark: the same dedup stages as PySpark jobs (any master URL; `local[*]` by default).

Stage 1 and the filter stage run the shared per-file tasks (artifacts.sketch_file/filter_file)
on executors, one task per input file, so executors need the input and output paths on a shared
filesystem. Buckets are `groupByKey` on (band, key); connected components are the iterative
large-star / small-star of dedup.clustering, distributed. Stage folders have the same schema as
the local runner's, so either engine can resume the other's run.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codesieve.core import storage
from codesieve.core.records import DocMeta
from dedup.clustering import (
    large_star_map,
    large_star_reduce,
    small_star_map,
    small_star_reduce,
)
from dedup.config import MinhashConfig, spark_worker_python
from dedup.runners import artifacts
from dedup.runners.artifacts import RunLayout
from dedup.runners.local import DedupResult, write_report
from dedup.steps import bucket_edges, build_cluster, verified_bucket_edges

if TYPE_CHECKING:
    from pyspark import RDD
    from pyspark.sql import SparkSession

__all__ = ["build_spark_session", "run_spark"]

logger = logging.getLogger(__name__)

# The iterative star CC converges in O(log n) rounds on real duplicate graphs; this bounds a
# pathological input instead of looping forever.
_MAX_CC_ROUNDS = 64


def build_spark_session(master: str = "local[*]", *, shuffle_partitions: int = 8) -> SparkSession:
    """A SparkSession for dedup: given master URL, UI off, workers on this Python interpreter."""
    from pyspark.sql import SparkSession

    # PySpark reads the worker interpreter only from the environment (SparkContext.pythonExec)
    os.environ["PYSPARK_PYTHON"] = spark_worker_python()
    return (
        SparkSession.builder.master(master)
        .appName("codesieve-dedup")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


def run_spark(
    cfg: MinhashConfig,
    inputs: Sequence[str | Path],
    output: str | Path,
    *,
    spark: SparkSession | None = None,
    master: str = "local[*]",
) -> DedupResult:
    """Run (or resume) every stage on Spark; return the report (same artifacts as run_local)."""
    files = [p.resolve() for p in storage.list_input_files(inputs)]
    layout = RunLayout.for_config(Path(output).resolve(), cfg)
    fingerprint = artifacts.check_or_save_inputs(layout, cfg, files)
    own_session = spark is None
    session = spark if spark is not None else build_spark_session(master)
    ran: list[str] = []
    try:
        sc = session.sparkContext
        if not storage.is_stage_done(layout.signatures):
            _stage_signatures(sc, cfg, layout, files)
            ran.append("signatures")
        if not storage.is_stage_done(layout.edges):
            _stage_edges(session, cfg, layout)
            ran.append("edges")
        if not storage.is_stage_done(layout.components):
            _stage_components(session, layout)
            ran.append("components")
        if not storage.is_stage_done(layout.deduped):
            _stage_filter(sc, layout, files)
            ran.append("filter")
    finally:
        if own_session:
            session.stop()
    report = write_report(layout, cfg, fingerprint, engine="spark")
    logger.info("dedup (spark) done: %s (stages run: %s)", report["totals"], ", ".join(ran) or "none")
    return DedupResult(layout=layout, report=report, stages_run=tuple(ran))


def _sketch_task(task: tuple[MinhashConfig, int, str, str]) -> int:
    cfg, ordinal, path, out = task
    return artifacts.sketch_file(cfg, ordinal, Path(path), Path(out))


def _stage_signatures(sc: Any, cfg: MinhashConfig, layout: RunLayout, files: Sequence[Path]) -> None:
    todo = [
        (cfg, i, str(path), str(layout.signature_part(i)))
        for i, path in enumerate(files)
        if not layout.signature_part(i).is_file()
    ]
    if todo:
        docs = sc.parallelize(todo, len(todo)).map(_sketch_task).sum()
        logger.info("stage signatures: %d files, %d documents sketched", len(todo), docs)
    storage.mark_stage_done(layout.signatures, {"files": len(files)})


def _band_rows(row: Any) -> list[tuple[tuple[int, int], int]]:
    return [((band, key), row.doc_index) for band, key in enumerate(row.band_keys or [])]


def _stage_edges(spark: SparkSession, cfg: MinhashConfig, layout: RunLayout) -> None:
    signatures = spark.read.parquet(str(layout.signatures))
    buckets = (
        signatures.select("doc_index", "band_keys")
        .rdd.flatMap(_band_rows)
        .groupByKey()
        .map(lambda kv: sorted(kv[1]))
        .filter(lambda m: len(m) > 1)
    )
    if cfg.verify:
        near = _verified_near_edges(signatures, buckets, cfg.threshold)
    else:
        near = buckets.flatMap(bucket_edges).distinct()
    exact = (
        signatures.select("exact_hash", "doc_index")
        .rdd.map(lambda r: (r.exact_hash, r.doc_index))
        .groupByKey()
        .flatMap(lambda kv: bucket_edges(kv[1]))
    )
    edges = exact.map(lambda e: (e[0], e[1], "exact")).union(near.map(lambda e: (e[0], e[1], "near")))
    df = spark.createDataFrame(edges, schema="src long, dst long, kind string")
    _write_dataframe(df, layout.edges)
    storage.mark_stage_done(layout.edges)


def _verified_near_edges(signatures: Any, buckets: RDD, threshold: float) -> RDD:
    import numpy as np

    sets = signatures.select("doc_index", "shingle_hashes").rdd.map(lambda r: (r.doc_index, r.shingle_hashes))
    by_doc = buckets.zipWithUniqueId().flatMap(lambda mb: [(d, mb[1]) for d in mb[0]])
    grouped = by_doc.join(sets).map(lambda kv: (kv[1][0], (kv[0], np.asarray(kv[1][1], dtype=np.uint32)))).groupByKey()
    return grouped.flatMap(lambda kv: verified_bucket_edges(list(kv[1]), threshold)).distinct()


def _star_components(edges: RDD) -> RDD:
    """(node, smallest node of its component) for every node of the edge graph."""
    current = edges.map(lambda e: (e[0], e[1])).distinct().cache()
    n_current = current.count()
    for _ in range(_MAX_CC_ROUNDS):
        large = current.flatMap(large_star_map).groupByKey().flatMap(large_star_reduce)
        small = large.map(small_star_map).groupByKey().flatMap(small_star_reduce).distinct().cache()
        n_small = small.count()
        # same size and no new edge <=> the edge set is unchanged: a fixed point
        converged = n_small == n_current and small.subtract(current).isEmpty()
        current.unpersist()
        current, n_current = small, n_small
        if converged:
            break
    else:
        raise RuntimeError(f"connected components did not converge in {_MAX_CC_ROUNDS} rounds")
    roots = current.map(lambda e: e[1]).distinct().map(lambda r: (r, r))
    return current.union(roots).distinct()


def _stage_components(spark: SparkSession, layout: RunLayout) -> None:
    edges = spark.read.parquet(str(layout.edges)).rdd.map(lambda r: (r.src, r.dst))
    components = _star_components(edges)
    metas = (
        spark.read.parquet(str(layout.signatures))
        .select(*artifacts.META_COLUMNS)
        .rdd.map(lambda r: (r.doc_index, DocMeta(*r)))
    )
    clusters = (
        components.join(metas)
        .map(lambda kv: (kv[1][0], kv[1][1]))
        .groupByKey()
        .map(lambda kv: build_cluster(kv[0], kv[1]))
        .collect()
    )
    clusters.sort(key=lambda c: c.cluster_id)
    # cluster rows are small (ids only); the driver writes them with the same code as local
    artifacts.write_cluster_outputs(layout, clusters)
    logger.info("stage components: %d clusters", len(clusters))


def _filter_task(task: tuple[str, int, str, dict]) -> dict[str, int]:
    root, ordinal, path, rows = task
    return artifacts.filter_file(RunLayout(Path(root)), ordinal, Path(path), rows)


def _stage_filter(sc: Any, layout: RunLayout, files: Sequence[Path]) -> None:
    by_file = artifacts.removed_rows_by_file(artifacts.read_remove_map(layout))
    tasks = [(str(layout.root), i, str(p), by_file.get(i, {})) for i, p in enumerate(files)]
    counts = sc.parallelize(tasks, len(tasks)).map(_filter_task).collect()
    kept = sum(c["deduped"] for c in counts)
    removed = sum(c["removed"] for c in counts)
    storage.mark_stage_done(layout.removed, {"records": removed})
    storage.mark_stage_done(layout.deduped, {"records": kept})
    logger.info("stage filter: %d kept, %d removed", kept, removed)


def _write_dataframe(df: Any, final: Path) -> None:
    """Write a DataFrame as Parquet into `final` atomically (temp folder, then rename)."""
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    df.write.mode("overwrite").parquet(str(tmp))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
