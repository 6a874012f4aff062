"""The reference index's build and file format: build_index / save_index / load_index.

Format 3 (one directory, written atomically): `config.json` (IndexConfig + counts + format
version), `docs.json` (repos, paths, licences per doc id), and four `.npy` arrays sorted by key
(`hashes` uint64 posting keys, see `codesieve.core.winnowing.posting_keys`; `doc_ids` / `positions` / `lines`
uint32). Older formats (1: plain 64-bit hashes; 2: comments not fingerprinted) are refused with
a message to rebuild. `load_index`
memory-maps the arrays read-only, so it returns in well under a second and worker processes share
one page-cache copy.
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import chain
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from codesieve.core.index import DocTable, IndexConfig, LicensedIndex
from codesieve.core.shingling import code_tokens, provenance_tokens
from codesieve.core.winnowing import (
    TAG_MASK,
    compute_fingerprints,
    compute_kgram_hashes,
    compute_raw_codes,
    compute_raw_tags,
    compute_reuse_distances,
    normalize_lexemes,
    posting_keys,
)

__all__ = [
    "FORMAT_VERSION",
    "IndexFormatError",
    "build_index",
    "compute_record_postings",
    "compute_stop_mask",
    "load_index",
    "read_corpus_records",
    "save_index",
]

logger = logging.getLogger(__name__)

# 2: `hashes` holds posting keys (48-bit normalized hash + 16-bit raw tag) instead of 64-bit hashes.
# 3: comment words are lexemes (`provenance_tokens`); stop-fingerprints by repo count (max_repos).
FORMAT_VERSION = 3
_ARRAYS = {"hashes": np.uint64, "doc_ids": np.uint32, "positions": np.uint32, "lines": np.uint32}
REQUIRED_FIELDS = ("content", "repo", "path", "licence")


class IndexFormatError(ValueError):
    """The directory is not a readable index, or a corpus record is malformed."""


@dataclass(frozen=True, slots=True)
class _Postings:
    hashes: np.ndarray
    positions: np.ndarray
    lines: np.ndarray


def compute_record_postings(content: str, config: IndexConfig) -> _Postings:
    """Winnowed fingerprints of one document with their k-gram positions and 1-based lines.

    Lexes line by line with `codesieve.core.shingling.provenance_tokens`: lexemes and comments never
    span a newline, so this is the same lexeme stream as `provenance_lexemes(content)` (what the query side
    uses; a unit test checks it), and the per-line counts give each lexeme's line without
    building a span object per lexeme (3x faster on a large corpus).
    """
    lex = provenance_tokens if config.count_comments else code_tokens
    per_line = [lex(line) for line in content.split("\n")]
    counts = np.fromiter((len(t) for t in per_line), dtype=np.int64, count=len(per_line))
    tokens = list(chain.from_iterable(per_line))
    raw = compute_raw_codes(tokens)
    hashes = compute_kgram_hashes(
        normalize_lexemes(tokens), config.k, config.seed, compute_reuse_distances(tokens), raw_codes=raw
    )
    selected = compute_fingerprints(hashes, config.window)
    keys = posting_keys(hashes[selected], compute_raw_tags(raw, config.k, config.seed)[selected])
    # Line (1-based) of lexeme i = 1 + number of lines whose cumulative count is <= i.
    lines = np.searchsorted(np.cumsum(counts), selected, side="right") + 1
    return _Postings(keys, selected.astype(np.uint32), lines.astype(np.uint32))


def _postings_worker(args: tuple[str, IndexConfig]) -> _Postings:
    return compute_record_postings(*args)


def _validated(record: Mapping[str, Any], n: int) -> Mapping[str, Any]:
    missing = [f for f in REQUIRED_FIELDS if f not in record]
    if missing or not isinstance(record.get("content"), str):
        raise IndexFormatError(f"corpus record {n}: missing or invalid field(s) {missing or ['content']}")
    return record


def build_index(
    records: Iterable[Mapping[str, Any]],
    config: IndexConfig | None = None,
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> LicensedIndex:
    """Build an in-memory LicensedIndex from corpus records.

    Args:
        records: mappings with `content`, `repo`, `path`, `licence` (a None licence -> "unknown").
        config: index parameters (default IndexConfig()).
        workers: processes for fingerprinting (1 = in this process).
        progress: called with (records done, content chars done) after each record.
    Returns:
        the index, arrays sorted by hash, boilerplate fingerprints (> max_postings) dropped.
    """
    cfg = config or IndexConfig()
    repos: list[str] = []
    paths: list[str] = []
    licences: list[str] = []
    parts: list[tuple[int, _Postings]] = []
    chars = 0

    def jobs() -> Iterator[tuple[str, IndexConfig]]:
        nonlocal chars
        for n, record in enumerate(records):
            rec = _validated(record, n)
            repos.append(str(rec["repo"]))
            paths.append(str(rec["path"]))
            licences.append(str(rec["licence"] or "unknown"))
            chars += len(rec["content"])
            yield rec["content"], cfg

    if workers > 1:
        with get_context("fork").Pool(workers) as pool:
            for doc_id, postings in enumerate(pool.imap(_postings_worker, jobs(), chunksize=16)):
                parts.append((doc_id, postings))
                if progress:
                    progress(doc_id + 1, chars)
    else:
        for doc_id, job in enumerate(jobs()):
            parts.append((doc_id, compute_record_postings(*job)))
            if progress:
                progress(doc_id + 1, chars)
    return _assemble(cfg, parts, DocTable(repos, paths, licences))


def _assemble(cfg: IndexConfig, parts: list[tuple[int, _Postings]], docs: DocTable) -> LicensedIndex:
    if parts:
        hashes = np.concatenate([p.hashes for _, p in parts])
        doc_ids = np.concatenate([np.full(len(p.hashes), d, dtype=np.uint32) for d, p in parts])
        positions = np.concatenate([p.positions for _, p in parts])
        lines = np.concatenate([p.lines for _, p in parts])
    else:
        hashes = np.empty(0, np.uint64)
        doc_ids = positions = lines = np.empty(0, np.uint32)
    # Stable: within one key the postings stay in doc-id order (the query's truncation relies on it).
    order = np.argsort(hashes, kind="stable")
    hashes, doc_ids, positions, lines = hashes[order], doc_ids[order], positions[order], lines[order]
    del order
    keep = compute_stop_mask(hashes, doc_ids, docs.repos, max_postings=cfg.max_postings, max_repos=cfg.max_repos)
    logger.info(
        "index built: docs=%d fingerprints=%d dropped_boilerplate=%d",
        len(docs.paths),
        int(keep.sum()),
        int((~keep).sum()),
    )
    return LicensedIndex(
        config=cfg,
        hashes=hashes[keep],
        doc_ids=doc_ids[keep],
        positions=positions[keep],
        lines=lines[keep],
        docs=docs,
    )


def compute_stop_mask(
    hashes: np.ndarray, doc_ids: np.ndarray, repos: Sequence[str], *, max_postings: int, max_repos: int
) -> np.ndarray:
    """Which postings to keep: not boilerplate (stop-fingerprints, as in MOSS).

    A normalized hash (whatever its raw tags) is dropped when it has more than `max_postings`
    postings, or when it occurs in more than `max_repos` distinct repos (0: no repo limit).
    Args:
        hashes: posting keys sorted by key (so each normalized hash's postings are contiguous).
        doc_ids: the postings' documents; repos: repo of each doc id.
    Returns:
        bool array, True for the postings kept.
    """
    base = hashes & ~TAG_MASK
    bounds = np.flatnonzero(base[1:] != base[:-1]) + 1
    del base
    starts = np.concatenate(([0], bounds)).astype(np.int64) if len(hashes) else np.empty(0, np.int64)
    counts = np.diff(np.append(starts, len(hashes)))
    drop = counts > max_postings
    if max_repos:
        # Only a hash with more than max_repos postings can be in more than max_repos repos: the
        # distinct (hash, repo) pairs are counted on those few postings only.
        _, repo_of_doc = np.unique(np.asarray(repos, dtype=object).astype(str), return_inverse=True)
        many = np.flatnonzero((counts > max_repos) & ~drop)
        if len(many):
            group = np.repeat(np.arange(len(many)), counts[many])
            idx = _expand_ranges(starts[many], counts[many])
            repo = repo_of_doc[doc_ids[idx]]
            order = np.lexsort((repo, group))
            group, repo = group[order], repo[order]
            distinct = np.ones(len(group), dtype=bool)
            distinct[1:] = (group[1:] != group[:-1]) | (repo[1:] != repo[:-1])
            drop[many[np.bincount(group[distinct], minlength=len(many)) > max_repos]] = True
    keep: np.ndarray = np.repeat(~drop, counts)
    return keep


def _expand_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    offsets = np.repeat(starts - np.cumsum(counts) + counts, counts)
    expanded: np.ndarray = offsets + np.arange(int(counts.sum()))
    return expanded


def save_index(index: LicensedIndex, directory: str | os.PathLike[str]) -> Path:
    """Write `index` to `directory` atomically (a temp dir renamed into place)."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        for name, dtype in _ARRAYS.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(getattr(index, name), dtype=dtype))
        docs = index.docs
        (tmp / "docs.json").write_text(
            json.dumps({"repos": list(docs.repos), "paths": list(docs.paths), "licences": list(docs.licences)})
        )
        meta = {
            "format_version": FORMAT_VERSION,
            "config": asdict(index.config),
            "fingerprints": len(index),
            "docs": len(docs.paths),
        }
        (tmp / "config.json").write_text(json.dumps(meta, indent=2))
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
        tmp.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load_index(directory: str | os.PathLike[str]) -> LicensedIndex:
    """Memory-map an index written by `save_index` (read-only; shared across processes).

    Raises:
        IndexFormatError: missing files, wrong version, or inconsistent arrays.
    """
    root = Path(directory)
    try:
        meta = json.loads((root / "config.json").read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise IndexFormatError(
                f"{root}: unsupported index format {meta.get('format_version')} (this version reads format "
                f"{FORMAT_VERSION}); rebuild it with `codesieve index build`"
            )
        cfg = IndexConfig(**meta["config"])
        docs_raw = json.loads((root / "docs.json").read_text())
        docs = DocTable(docs_raw["repos"], docs_raw["paths"], docs_raw["licences"])
        arrays = {name: np.load(root / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, IndexFormatError):
            raise
        raise IndexFormatError(f"{root}: not a readable codesieve index ({exc})") from exc
    for name, dtype in _ARRAYS.items():
        if arrays[name].dtype != dtype or len(arrays[name]) != meta["fingerprints"]:
            raise IndexFormatError(f"{root}: array {name} is inconsistent with config.json")
    # Checked against the metadata only: scanning doc_ids would page the whole array in.
    if meta.get("docs") != len(docs.paths) or not (len(docs.repos) == len(docs.licences) == len(docs.paths)):
        raise IndexFormatError(f"{root}: docs.json is inconsistent with config.json")
    return LicensedIndex(config=cfg, docs=docs, **arrays)


def warm_index(index: LicensedIndex) -> int:
    """Fault every page of the index's memory-mapped arrays into this process; returns bytes touched.

    Queries on a cold map pay a page fault per page they touch (p99 6.0 ms instead of 3.3 ms on the
    1 GB benchmark index, benchmarks/filters.py); the gateway calls this in a background thread at
    start-up. Pages are shared with other processes mapping the same files, so N workers still hold
    one copy.
    """
    page = mmap.PAGESIZE
    touched = 0
    for name in _ARRAYS:
        arr = getattr(index, name)
        if arr.size:
            step = max(1, page // arr.itemsize)
            np.add.reduce(arr[::step], dtype=np.uint64)  # one read per page
            touched += arr.nbytes
    return touched


def read_corpus_records(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Stream corpus records from JSONL (`.jsonl`, `.json`) or Parquet (`.parquet`).

    Raises:
        IndexFormatError: unreadable line, or an unsupported extension.
    """
    p = Path(path)
    if p.suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(p).iter_batches(columns=list(REQUIRED_FIELDS)):
            yield from batch.to_pylist()
    elif p.suffix in {".jsonl", ".json", ".ndjson"}:
        with p.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise IndexFormatError(f"{p}:{n}: invalid JSON ({exc.msg})") from exc
    else:
        raise IndexFormatError(f"{p}: corpus must be .jsonl or .parquet")
