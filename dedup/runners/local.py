"""run_local: the dedup stages in one process (or a multiprocessing pool over input files).

Stages skip themselves when their `_SUCCESS` marker exists; stage 1 also skips input files whose
signature part is already written, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from codesieve.core import storage
from codesieve.core.records import DocMeta
from dedup.clustering import connected_components
from dedup.config import MinhashConfig, library_versions
from dedup.report import build_report, render_markdown
from dedup.runners import artifacts
from dedup.runners.artifacts import RunLayout
from dedup.steps import build_clusters, group_band_edges, verified_bucket_edges

__all__ = ["DedupResult", "run_local"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DedupResult:
    """Where a run's outputs are and which stages this invocation computed (vs skipped)."""

    layout: RunLayout
    report: dict
    stages_run: tuple[str, ...]


def run_local(
    cfg: MinhashConfig,
    inputs: Sequence[str | Path],
    output: str | Path,
    *,
    workers: int = 1,
    progress: bool = True,
) -> DedupResult:
    """Run (or resume) every stage locally; return the report."""
    files = storage.list_input_files(inputs)
    layout = RunLayout.for_config(Path(output), cfg)
    fingerprint = artifacts.check_or_save_inputs(layout, cfg, files)
    ran: list[str] = []
    if not storage.is_stage_done(layout.signatures):
        _stage_signatures(cfg, layout, files, workers=workers, progress=progress)
        ran.append("signatures")
    if not storage.is_stage_done(layout.edges):
        _stage_edges(cfg, layout)
        ran.append("edges")
    if not storage.is_stage_done(layout.components):
        _stage_components(layout)
        ran.append("components")
    if not storage.is_stage_done(layout.deduped):
        _stage_filter(layout, files, progress=progress)
        ran.append("filter")
    report = write_report(layout, cfg, fingerprint, engine="local")
    logger.info("dedup done: %s (stages run: %s)", report["totals"], ", ".join(ran) or "none")
    return DedupResult(layout=layout, report=report, stages_run=tuple(ran))


def _sketch_task(args: tuple[MinhashConfig, int, Path, Path]) -> int:
    cfg, ordinal, path, out = args
    return artifacts.sketch_file(cfg, ordinal, path, out)


def _stage_signatures(
    cfg: MinhashConfig, layout: RunLayout, files: Sequence[Path], *, workers: int, progress: bool
) -> None:
    todo = [
        (cfg, i, path, layout.signature_part(i))
        for i, path in enumerate(files)
        if not layout.signature_part(i).is_file()  # parts written before a crash are kept
    ]
    if workers > 1 and len(todo) > 1:
        with (
            tqdm(total=len(todo), desc="signatures", unit="file", disable=not progress) as bar,
            multiprocessing.get_context("spawn").Pool(workers) as pool,
        ):
            for _ in pool.imap_unordered(_sketch_task, todo):
                bar.update(1)
    else:
        # one process: count documents, since a corpus may be a single big file
        with tqdm(desc="signatures", unit="doc", disable=not progress) as bar:
            for cfg_, ordinal, path, out in todo:
                artifacts.sketch_file(cfg_, ordinal, path, out, on_record=lambda: bar.update(1))
    storage.mark_stage_done(layout.signatures, {"files": len(files)})
    logger.info("stage signatures: %d files sketched, %d resumed", len(todo), len(files) - len(todo))


def _load_band_rows(layout: RunLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = storage.read_table(layout.signatures, columns=["doc_index", "band_keys"])
    docs = table.column("doc_index").to_numpy()
    keys_col = table.column("band_keys").combine_chunks()
    lengths = keys_col.value_lengths().fill_null(0).to_numpy()
    flat_keys = keys_col.flatten().to_numpy(zero_copy_only=False)
    row_docs = np.repeat(docs, lengths)
    bands = np.concatenate([np.arange(n) for n in lengths]) if lengths.size else np.empty(0)
    return bands.astype(np.int64), flat_keys.astype(np.int64), row_docs.astype(np.int64)


# rows per batch when streaming signature parts back: their row groups' size
_SIGNATURE_BATCH_ROWS = artifacts.SKETCH_ROWS_PER_WRITE


def _signature_batches(layout: RunLayout, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """The signature parts' rows, a row group at a time: reading whole tables buffered several
    times their size in Arrow's pool, which grew with the corpus."""
    for part in sorted(layout.signatures.glob("part-*.parquet")):
        yield from pq.ParquetFile(part).iter_batches(batch_size=_SIGNATURE_BATCH_ROWS, columns=columns)


def _near_edges_by_band(cfg: MinhashConfig, layout: RunLayout) -> tuple[np.ndarray, np.ndarray]:
    """`group_band_edges` over all bands, one band at a time: the sort's temporaries are one
    band's (n_docs rows), not all bands' (n_docs x bands rows). Same edges, same order (distinct
    pairs, sorted). What stays in memory is 8 bytes per document and band."""
    doc_parts, key_parts = [], []
    for batch in _signature_batches(layout, ["doc_index", "band_keys"]):
        keys = batch.column(1)
        shingled = keys.is_valid().to_numpy(zero_copy_only=False)  # null: too short to shingle
        doc_parts.append(batch.column(0).to_numpy()[shingled].astype(np.int64))
        # every list holds `bands` keys (sketch_record): the flat values are a (docs, bands) matrix
        key_parts.append(keys.flatten().to_numpy(zero_copy_only=False).astype(np.int64).reshape(-1, cfg.bands))
    docs = np.concatenate(doc_parts) if doc_parts else np.empty(0, np.int64)
    flat = np.concatenate(key_parts) if key_parts else np.empty((0, cfg.bands), np.int64)
    zeros = np.zeros(docs.size, np.int64)
    parts = [group_band_edges(zeros, np.ascontiguousarray(flat[:, band]), docs) for band in range(cfg.bands)]
    pairs = np.unique(
        np.stack([np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])], 1), axis=0
    )
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)


def _exact_edges(layout: RunLayout) -> tuple[np.ndarray, np.ndarray]:
    """Star edges between documents with equal exact keys (XXH3-128 hex, grouped as two 64-bit
    halves: the same groups as the full string, 16 bytes per document in memory)."""
    doc_parts, half_parts = [], []
    for batch in _signature_batches(layout, ["doc_index", "exact_hash"]):
        doc_parts.append(batch.column(0).to_numpy().astype(np.int64))
        raw = bytes.fromhex("".join(batch.column(1).to_pylist()))
        half_parts.append(np.frombuffer(raw, dtype=">u8").astype(np.uint64).view(np.int64).reshape(-1, 2))
    if not doc_parts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    halves = np.concatenate(half_parts)
    return group_band_edges(halves[:, 0].copy(), halves[:, 1].copy(), np.concatenate(doc_parts))


def _stage_edges(cfg: MinhashConfig, layout: RunLayout) -> None:
    if cfg.verify:
        src, dst = _verified_edges(cfg, layout, *_load_band_rows(layout))
    else:
        src, dst = _near_edges_by_band(cfg, layout)
    e_src, e_dst = _exact_edges(layout)
    table = pa.table(
        {
            "src": np.concatenate([e_src, src]),
            "dst": np.concatenate([e_dst, dst]),
            "kind": ["exact"] * e_src.size + ["near"] * src.size,
        },
        schema=artifacts.EDGE_SCHEMA,
    )
    storage.write_table(layout.edges / "edges.parquet", table)
    storage.mark_stage_done(layout.edges, {"exact_edges": int(e_src.size), "near_edges": int(src.size)})
    logger.info("stage edges: %d exact, %d near", e_src.size, src.size)


def _verified_edges(
    cfg: MinhashConfig, layout: RunLayout, bands: np.ndarray, keys: np.ndarray, docs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    # buckets with >= 2 members, then the shingle sets of just those documents
    order = np.lexsort((docs, keys, bands))
    b, k, d = bands[order], keys[order], docs[order]
    boundaries = np.flatnonzero((b[1:] != b[:-1]) | (k[1:] != k[:-1])) + 1
    buckets = [g for g in np.split(d, boundaries) if g.size > 1]
    needed = np.unique(np.concatenate(buckets)) if buckets else np.empty(0, np.int64)
    table = (
        pq.read_table(
            layout.signatures,
            columns=["doc_index", "shingle_hashes"],
            filters=[("doc_index", "in", needed.tolist())] if needed.size else None,
        )
        if needed.size
        else None
    )
    sets = {}
    if table is not None:
        for idx, hashes in zip(
            table.column("doc_index").to_pylist(),
            table.column("shingle_hashes").to_pylist(),
            strict=True,
        ):
            sets[idx] = np.asarray(hashes, dtype=np.uint32)
    edges = set()
    for bucket in buckets:
        members = [(int(i), sets[int(i)]) for i in bucket]
        edges.update(verified_bucket_edges(members, cfg.threshold))
    pairs = np.array(sorted(edges), dtype=np.int64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def _stage_components(layout: RunLayout) -> None:
    edges = storage.read_table(layout.edges / "edges.parquet")
    components = connected_components(edges.column("src").to_numpy(), edges.column("dst").to_numpy())
    # only the clustered documents' metadata: memory follows the duplicates, not the corpus
    nodes = np.fromiter(components, dtype=np.int64, count=len(components))
    metas: dict[int, DocMeta] = {}
    for batch in _signature_batches(layout, list(artifacts.META_COLUMNS)):
        wanted = np.isin(batch.column(0).to_numpy(), nodes)
        if wanted.any():
            metas.update(artifacts.metas_from_table(pa.Table.from_batches([batch.filter(pa.array(wanted))])))
    clusters = build_clusters(components, metas)
    artifacts.write_cluster_outputs(layout, clusters)
    logger.info("stage components: %d clusters", len(clusters))


def _stage_filter(layout: RunLayout, files: Sequence[Path], *, progress: bool) -> None:
    by_file = artifacts.removed_rows_by_file(artifacts.read_remove_map(layout))
    counts = {"deduped": 0, "removed": 0}
    for ordinal, path in enumerate(tqdm(files, desc="filter", unit="file", disable=not progress)):
        written = artifacts.filter_file(layout, ordinal, path, by_file.get(ordinal, {}))
        for name, n in written.items():
            counts[name] += n
    storage.mark_stage_done(layout.removed, {"records": counts["removed"]})
    storage.mark_stage_done(layout.deduped, {"records": counts["deduped"]})
    logger.info("stage filter: %d kept, %d removed", counts["deduped"], counts["removed"])


def write_report(layout: RunLayout, cfg: MinhashConfig, fingerprint: dict, *, engine: str) -> dict:
    """Build report.json and report.md from the stage outputs (cheap; redone on every run)."""
    report = build_report(
        cfg=cfg,
        engine=engine,
        fingerprint=fingerprint,
        metas=_iter_metas(layout),
        clusters=artifacts.read_clusters(layout),
        versions=library_versions(),
    )
    storage.write_json(layout.root / "report.json", report)
    storage.write_text(layout.root / "report.md", render_markdown(report))
    return report


def _iter_metas(layout: RunLayout) -> Iterator[DocMeta]:
    # streamed batch by batch: the report only sums over documents
    for batch in _signature_batches(layout, list(artifacts.META_COLUMNS)):
        yield from artifacts.metas_from_table(pa.Table.from_batches([batch])).values()
