"""Stage functions of the dedup job, shared unchanged by the local and the Spark runner.

Map-style: `sketch_record` / `record_band_keys` (one record -> its keys). Group-style:
`bucket_edges`, `verified_bucket_edges` (one LSH bucket -> edges), `build_clusters` (components ->
clusters with their survivor). No I/O and no Spark here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import xxhash

from codesieve.core.minhash import Hasher, band_keys, shingle_hashes_from_utf8, signature_from_hashes
from codesieve.core.records import CodeRecord, DocMeta, is_permissive
from codesieve.core.shingling import normalize_whitespace_utf8
from dedup.config import MinhashConfig

__all__ = [
    "BandKey",
    "ClusterRow",
    "DocSketch",
    "bucket_edges",
    "build_cluster",
    "build_clusters",
    "compute_exact_key",
    "compute_exact_key_utf8",
    "compute_jaccard",
    "group_band_edges",
    "pick_survivor",
    "record_band_keys",
    "sketch_record",
    "verified_bucket_edges",
]

BandKey = tuple[int, int, int]  # (band, key as signed int64, doc_index)


@dataclass(frozen=True)
class DocSketch:
    """What stage 1 keeps of a record: metadata, exact key, band keys, optional shingle set."""

    meta: DocMeta
    band_keys: np.ndarray | None  # (bands,) uint64; None if too short to shingle
    shingle_hashes: np.ndarray | None  # sorted distinct uint32 hashes; only with cfg.verify


@dataclass(frozen=True)
class ClusterRow:
    """One duplicate cluster: its id (smallest member index), members and the survivor."""

    cluster_id: int
    kind: str  # "exact" when all members have the same normalised content, else "near"
    kept_index: int
    kept_id: str
    member_indices: tuple[int, ...]
    member_ids: tuple[str, ...]


def compute_exact_key(content: str) -> str:
    """XXH3-128 (hex) of the whitespace-normalised content: the exact-dedup key.

    `" ".join(content.split())` is `shingling.normalize_whitespace(content)` (both split on
    str.isspace runs; checked by a property test) at a quarter of the cost.
    """
    normalised = " ".join(content.split())
    return xxhash.xxh3_128_hexdigest(normalised.encode("utf-8", errors="surrogatepass"))


def compute_exact_key_utf8(content_bytes: bytes) -> str:
    """`compute_exact_key` of the text whose UTF-8 (surrogatepass) is `content_bytes`, without
    decoding it: the whitespace is collapsed on the bytes by the compiled scanner."""
    return xxhash.xxh3_128_hexdigest(normalize_whitespace_utf8(content_bytes))


def sketch_record(record: CodeRecord, cfg: MinhashConfig, hasher: Hasher) -> DocSketch:
    """Stage 1 for one record: exact key, and (if it has >= ngram lexemes) band keys.

    A file with fewer lexemes than `cfg.ngram` has no shingles; it gets no band keys, so it can
    only be an exact duplicate (an empty signature would otherwise put all such files in one
    bucket).
    """
    content_bytes = record.content.encode("utf-8", errors="surrogatepass")
    meta = DocMeta(
        doc_index=record.doc_index,
        doc_id=record.doc_id,
        exact_hash=compute_exact_key_utf8(content_bytes),
        is_permissive=is_permissive(record.licence),
        stars=record.stars,
        language=record.language or "unknown",
        n_bytes=len(content_bytes),
    )
    # the lexemes of codesieve.core.shingling.code_tokens, scanned on the UTF-8 bytes (repeats included)
    hashes = shingle_hashes_from_utf8(content_bytes, cfg.ngram, hasher.hash_fn)
    if hashes.size == 0:  # fewer than ngram lexemes
        return DocSketch(meta=meta, band_keys=None, shingle_hashes=None)
    sig = signature_from_hashes(hashes, hasher)
    return DocSketch(
        meta=meta,
        band_keys=band_keys(sig, cfg.bands, cfg.rows),
        shingle_hashes=np.unique(hashes) if cfg.verify else None,
    )


def record_band_keys(record: CodeRecord, cfg: MinhashConfig, hasher: Hasher) -> list[BandKey]:
    """(band, key, doc_index) tuples of one record (empty when too short to shingle)."""
    keys = sketch_record(record, cfg, hasher).band_keys
    if keys is None:
        return []
    signed = keys.view(np.int64).tolist()  # Spark and Parquet have no uint64
    return [(band, key, record.doc_index) for band, key in enumerate(signed)]


def bucket_edges(doc_indices: Iterable[int]) -> list[tuple[int, int]]:
    """Star edges of one bucket: (smallest member, each other member), sorted, no repeats."""
    members = sorted(set(doc_indices))
    return [(members[0], other) for other in members[1:]]


def compute_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted distinct hash arrays; 0 for two empty sets."""
    if a.size == 0 and b.size == 0:
        return 0.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)


def verified_bucket_edges(members: Iterable[tuple[int, np.ndarray]], threshold: float) -> list[tuple[int, int]]:
    """Edges of one bucket whose exact Jaccard reaches `threshold` (greedy representatives).

    Members are visited in index order; each joins the first representative it is similar to
    (edge rep -> member), or becomes a representative itself. This costs O(bucket x reps)
    Jaccard computations instead of all pairs; a similar pair split across representatives here
    is usually joined through another band's bucket.
    """
    reps: list[tuple[int, np.ndarray]] = []
    edges: list[tuple[int, int]] = []
    seen: set[int] = set()
    for idx, hashes in sorted(members, key=lambda m: m[0]):
        if idx in seen:
            continue
        seen.add(idx)
        for rep_idx, rep_hashes in reps:
            if compute_jaccard(rep_hashes, hashes) >= threshold:
                edges.append((rep_idx, idx))
                break
        else:
            reps.append((idx, hashes))
    return edges


def group_band_edges(bands: np.ndarray, keys: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`bucket_edges` for every (band, key) bucket at once, vectorised for the local runner.

    Args:
        bands, keys, docs: (m,) arrays, one row per (document, band).
    Returns:
        (src, dst) int64 arrays of distinct star edges, src < dst.
    """
    if docs.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = np.lexsort((docs, keys, bands))
    b, k, d = bands[order], keys[order], docs[order]
    new_group = np.ones(d.size, dtype=bool)
    new_group[1:] = (b[1:] != b[:-1]) | (k[1:] != k[:-1])
    group_first = np.maximum.accumulate(np.where(new_group, np.arange(d.size), 0))
    src, dst = d[group_first], d
    keep = src != dst
    pairs = np.unique(np.stack([src[keep], dst[keep]], axis=1), axis=0)
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)


def pick_survivor(metas: Iterable[DocMeta]) -> DocMeta:
    """The member a cluster keeps, deterministically.

    Rule, in order: a permissive licence (records.PERMISSIVE_LICENCES) beats any other licence;
    then more GitHub stars; then the smallest stable id (`id`, else `repo:path`); then the
    smallest input position.
    """
    return min(metas, key=DocMeta.keep_key)


def build_cluster(cluster_id: int, metas: Iterable[DocMeta]) -> ClusterRow:
    """One cluster (a connected component labelled with its smallest doc_index) and its survivor."""
    member_metas = sorted(metas, key=lambda m: m.doc_index)
    kept = pick_survivor(member_metas)
    return ClusterRow(
        cluster_id=cluster_id,
        kind="exact" if len({m.exact_hash for m in member_metas}) == 1 else "near",
        kept_index=kept.doc_index,
        kept_id=kept.doc_id,
        member_indices=tuple(m.doc_index for m in member_metas),
        member_ids=tuple(m.doc_id for m in member_metas),
    )


def build_clusters(components: Mapping[int, int], metas: Mapping[int, DocMeta]) -> list[ClusterRow]:
    """Clusters from a {doc_index: component root} map, each with its survivor.

    Returns:
        ClusterRows sorted by cluster_id (the component's smallest doc_index).
    """
    groups: dict[int, list[DocMeta]] = {}
    for node, root in components.items():
        groups.setdefault(root, []).append(metas[node])
    return [build_cluster(root, groups[root]) for root in sorted(groups)]
