"""Stage artifacts shared by both runners: output layout, markers, input check, per-file tasks.

Layout under OUTPUT/<config string>/:
  config.json, input_fingerprint.json
  signatures/part-NNNNN.parquet   stage 1: per document meta, exact key, band keys
  edges/                          stage 2: duplicate-graph edges (src, dst, kind)
  components/clusters.parquet     stage 3: clusters with their survivor; remove_ids/ the dropped docs
  deduped/, removed/              stage 4: the corpus without duplicates; the dropped records
  clusters.jsonl, report.json, report.md
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from codesieve.core import storage
from codesieve.core.minhash import Hasher, build_hasher
from codesieve.core.records import DocMeta, split_doc_index
from dedup.config import MinhashConfig, library_versions
from dedup.steps import ClusterRow, DocSketch, sketch_record

__all__ = [
    "CLUSTER_SCHEMA",
    "EDGE_SCHEMA",
    "META_COLUMNS",
    "SIGNATURE_SCHEMA",
    "InputChangedError",
    "RunLayout",
    "check_or_save_inputs",
    "cluster_table",
    "filter_file",
    "metas_from_table",
    "read_clusters",
    "read_remove_map",
    "removed_rows_by_file",
    "sketch_file",
    "write_cluster_outputs",
]

logger = logging.getLogger(__name__)

SIGNATURE_SCHEMA = pa.schema(
    [
        ("doc_index", pa.int64()),
        ("doc_id", pa.string()),
        ("exact_hash", pa.string()),
        ("is_permissive", pa.bool_()),
        ("stars", pa.int64()),
        ("language", pa.string()),
        ("n_bytes", pa.int64()),
        ("band_keys", pa.list_(pa.int64())),  # uint64 keys viewed as int64; null if too short
        ("shingle_hashes", pa.list_(pa.uint32())),  # only with verify
    ]
)
EDGE_SCHEMA = pa.schema([("src", pa.int64()), ("dst", pa.int64()), ("kind", pa.string())])
CLUSTER_SCHEMA = pa.schema(
    [
        ("cluster_id", pa.int64()),
        ("kind", pa.string()),
        ("kept_index", pa.int64()),
        ("kept_id", pa.string()),
        ("member_indices", pa.list_(pa.int64())),
        ("member_ids", pa.list_(pa.string())),
    ]
)


class InputChangedError(RuntimeError):
    """The input differs from the one the existing stages of this output were computed on."""


@dataclass(frozen=True)
class RunLayout:
    """Paths of one run's artifacts."""

    root: Path

    @classmethod
    def for_config(cls, output: Path, cfg: MinhashConfig) -> RunLayout:
        return cls(Path(output) / str(cfg))

    @property
    def signatures(self) -> Path:
        return self.root / "signatures"

    @property
    def edges(self) -> Path:
        return self.root / "edges"

    @property
    def components(self) -> Path:
        return self.root / "components"

    @property
    def remove_ids(self) -> Path:
        return self.root / "remove_ids"

    @property
    def deduped(self) -> Path:
        return self.root / "deduped"

    @property
    def removed(self) -> Path:
        return self.root / "removed"

    @property
    def clusters_file(self) -> Path:
        return self.root / "clusters.jsonl"

    def signature_part(self, file_ordinal: int) -> Path:
        return self.signatures / f"part-{file_ordinal:05d}.parquet"


def check_or_save_inputs(layout: RunLayout, cfg: MinhashConfig, files: Sequence[Path]) -> dict:
    """Save config and input fingerprint on the first run; on a rerun, refuse changed input.

    Raises:
        InputChangedError: the stored fingerprint differs from the current input's.
    """
    fingerprint = storage.compute_input_fingerprint(files)
    stored_path = layout.root / "input_fingerprint.json"
    if stored_path.is_file():
        stored = json.loads(stored_path.read_text(encoding="utf-8"))
        if stored.get("sha256") != fingerprint["sha256"]:
            raise InputChangedError(
                f"{layout.root} holds stages computed on other input "
                f"(fingerprint {stored.get('sha256', '?')[:12]} != {fingerprint['sha256'][:12]}); "
                "use a new --output folder"
            )
    else:
        storage.write_json(stored_path, fingerprint)
    storage.write_json(layout.root / "config.json", {"config": cfg.to_dict(), "versions": library_versions()})
    return fingerprint


@functools.lru_cache(maxsize=4)
def _cached_hasher(cfg: MinhashConfig) -> Hasher:
    # permutation set-up once per process (worker or Spark python worker), not once per record
    return build_hasher(cfg)


# rows per Parquet row group of a signature part: the part is written in slices, so stage 1's
# memory does not grow with the size of an input file
SKETCH_ROWS_PER_WRITE = 2048


def sketch_file(
    cfg: MinhashConfig,
    file_ordinal: int,
    path: Path,
    out_path: Path,
    on_record: Callable[[], None] | None = None,
) -> int:
    """Stage 1 for one input file: write its signature part atomically; return its doc count."""
    import pyarrow.parquet as pq

    hasher = _cached_hasher(cfg)
    n_docs = 0
    with storage.atomic_path(out_path) as tmp, pq.ParquetWriter(tmp, SIGNATURE_SCHEMA) as writer:
        columns: dict[str, list[Any]] = {name: [] for name in SIGNATURE_SCHEMA.names}
        for record in storage.iter_code_records(path, file_ordinal):
            _append_sketch(columns, sketch_record(record, cfg, hasher))
            n_docs += 1
            if on_record is not None:
                on_record()
            if len(columns["doc_index"]) >= SKETCH_ROWS_PER_WRITE:
                writer.write_table(pa.table(columns, schema=SIGNATURE_SCHEMA))
                columns = {name: [] for name in SIGNATURE_SCHEMA.names}
        writer.write_table(pa.table(columns, schema=SIGNATURE_SCHEMA))
    return n_docs


def _append_sketch(columns: dict[str, list[Any]], sketch: DocSketch) -> None:
    meta = sketch.meta
    for name in ("doc_index", "doc_id", "exact_hash", "is_permissive", "stars", "language", "n_bytes"):
        columns[name].append(getattr(meta, name))
    keys = sketch.band_keys
    columns["band_keys"].append(None if keys is None else keys.view(np.int64).tolist())
    hashes = sketch.shingle_hashes
    columns["shingle_hashes"].append(None if hashes is None else hashes.tolist())


META_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(DocMeta))


def metas_from_table(table: pa.Table) -> dict[int, DocMeta]:
    cols = [table.column(name).to_pylist() for name in META_COLUMNS]
    return {values[0]: DocMeta(*values) for values in zip(*cols, strict=True)}


def cluster_table(clusters: Sequence[ClusterRow]) -> pa.Table:
    return pa.table(
        {
            "cluster_id": [c.cluster_id for c in clusters],
            "kind": [c.kind for c in clusters],
            "kept_index": [c.kept_index for c in clusters],
            "kept_id": [c.kept_id for c in clusters],
            "member_indices": [list(c.member_indices) for c in clusters],
            "member_ids": [list(c.member_ids) for c in clusters],
        },
        schema=CLUSTER_SCHEMA,
    )


def read_clusters(layout: RunLayout) -> list[ClusterRow]:
    table = storage.read_table(layout.components / "clusters.parquet")
    return [
        ClusterRow(
            cluster_id=r["cluster_id"],
            kind=r["kind"],
            kept_index=r["kept_index"],
            kept_id=r["kept_id"],
            member_indices=tuple(r["member_indices"]),
            member_ids=tuple(r["member_ids"]),
        )
        for r in table.to_pylist()
    ]


def write_cluster_outputs(layout: RunLayout, clusters: Sequence[ClusterRow]) -> None:
    """Stage 3 outputs: clusters.parquet, remove_ids/, clusters.jsonl; then the stage marker."""
    storage.write_table(layout.components / "clusters.parquet", cluster_table(clusters))
    removed = [(m, c.cluster_id, c.kind) for c in clusters for m in c.member_indices if m != c.kept_index]
    storage.write_table(
        layout.remove_ids / "remove_ids.parquet",
        pa.table(
            {
                "doc_index": [r[0] for r in removed],
                "cluster_id": [r[1] for r in removed],
                "kind": [r[2] for r in removed],
            },
            schema=pa.schema([("doc_index", pa.int64()), ("cluster_id", pa.int64()), ("kind", pa.string())]),
        ),
    )
    lines = [
        json.dumps(
            {
                "cluster_id": c.cluster_id,
                "kind": c.kind,
                "size": len(c.member_ids),
                "kept_id": c.kept_id,
                "member_ids": list(c.member_ids),
            }
        )
        for c in clusters
    ]
    storage.write_text(layout.clusters_file, "".join(line + "\n" for line in lines))
    storage.mark_stage_done(layout.remove_ids, {"removed": len(removed)})
    storage.mark_stage_done(layout.components, {"clusters": len(clusters)})


def read_remove_map(layout: RunLayout) -> dict[int, tuple[int, str]]:
    table = storage.read_table(layout.remove_ids / "remove_ids.parquet")
    return {
        d: (c, k)
        for d, c, k in zip(
            table.column("doc_index").to_pylist(),
            table.column("cluster_id").to_pylist(),
            table.column("kind").to_pylist(),
            strict=True,
        )
    }


def filter_file(
    layout: RunLayout,
    file_ordinal: int,
    path: Path,
    removed: Mapping[int, tuple[int, str]],
) -> dict[str, int]:
    """Stage 4 for one input file: kept records to deduped/, dropped ones (with cluster) to removed/.

    Args:
        removed: {row in this file: (cluster_id, kind)} of the file's dropped records.
    """

    def route(row: int, raw: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        hit = removed.get(row)
        if hit is None:
            return "deduped", None
        return "removed", {**raw, "dedup_cluster_id": hit[0], "dedup_kind": hit[1]}

    name = storage.output_name(file_ordinal, path)
    return storage.rewrite_records(
        path,
        {"deduped": layout.deduped / name, "removed": layout.removed / name},
        route,
        extra_columns={"removed": {"dedup_cluster_id": pa.int64(), "dedup_kind": pa.string()}},
    )


def removed_rows_by_file(removed: Mapping[int, tuple[int, str]]) -> dict[int, dict[int, Any]]:
    """{file ordinal: {row: (cluster_id, kind)}} from a {doc_index: (cluster_id, kind)} map."""
    by_file: dict[int, dict[int, Any]] = {}
    for doc_index, hit in removed.items():
        ordinal, row = split_doc_index(doc_index)
        by_file.setdefault(ordinal, {})[row] = hit
    return by_file
