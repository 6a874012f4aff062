"""Why the provenance index uses winnowed k-gram fingerprints and not MinHash over windows (issue 3).

    .venv/bin/python benchmarks/provenance_design.py [--index-mb 20] [--samples 300]

Both designs run on the same labelled data as benchmarks/filters_quality.py (an index of the
installed packages' sources; verbatim and renamed+reformatted copies of >= 150 chars with the 150
chars before them; novel code from held-out packages) and on the same lexemes and normalized,
reuse-aware k-gram hashes (codesieve.core.winnowing), so only the indexing scheme differs:

- winnowing (shipped): the minimum k-gram hash of every window of 5 k-grams is posted; the query
  looks up every k-gram and chains hits on a diagonal (>= 65 lexemes reported).
- MinHash windows: every `stride` shingles, a 32-permutation MinHash of
  the next `window` shingles, stored as 8 LSH band keys of 4 rows; the query hashes a window at
  every shingle position and reports a document when a query window and a document window share
  >= 2 band keys (estimated Jaccard ~>= 0.5). Shingles are the index's 12-grams: window 40 +
  stride 10 - 1 <= the 54 shingles of a 65-lexeme copy, so any copy at the threshold contains a
  whole document window.

Printed per design: recall on verbatim / renamed copies whose checked text has >= 65 lexemes,
false-match rate on novel code, index bytes per source byte, and query CPU time.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from filters_data import reformat, rename_identifiers, sample_completion  # noqa: E402
from filters_quality import SPLIT, _corpus  # noqa: E402

from codesieve.core.index import checked_lexemes  # noqa: E402
from codesieve.core.index_store import build_index  # noqa: E402
from codesieve.core.shingling import provenance_tokens  # noqa: E402
from codesieve.core.winnowing import (  # noqa: E402
    LOW_INFORMATION,
    compute_kgram_hashes,
    compute_reuse_distances,
    normalize_lexemes,
)

# Shingles are the shipped index's k-grams (k = 12): shorter normalized shingles (5) are so generic
# that unrelated windows reach Jaccard 0.5 (a first run: 52% false matches).
NUM_PERM, BANDS, ROWS, SHINGLE = 32, 8, 4, 12
_rng = np.random.default_rng(12345)
_A = (_rng.integers(1, 2**63, NUM_PERM, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
_B = _rng.integers(0, 2**63, NUM_PERM, dtype=np.uint64)


def _shingle_hashes(tokens: list[str]) -> np.ndarray:
    return compute_kgram_hashes(
        normalize_lexemes(tokens), SHINGLE, 0, compute_reuse_distances(tokens), raw_codes=None, tokens=tokens
    )


def _window_bands(h: np.ndarray, window: int, stride: int) -> np.ndarray:
    """(n_windows, BANDS) uint64 band keys of the windows starting every `stride` shingles."""
    if len(h) < window:
        return np.empty((0, BANDS), dtype=np.uint64)
    with np.errstate(over="ignore"):
        permuted = h[:, None] * _A[None, :] + _B[None, :]  # (n, NUM_PERM)
    permuted[h == LOW_INFORMATION] = np.uint64(2**64 - 1)
    mins = np.lib.stride_tricks.sliding_window_view(permuted, window, axis=0)[::stride].min(axis=2)
    # Windows that are mostly low-information (tables, string lists) all hash alike: not indexed.
    low = np.lib.stride_tricks.sliding_window_view(h == LOW_INFORMATION, window)[::stride].mean(axis=1)
    mins = mins[low < 0.5]
    rows = mins.reshape(len(mins), BANDS, ROWS)
    with np.errstate(over="ignore"):
        keys = np.zeros((len(mins), BANDS), dtype=np.uint64)
        for r in range(ROWS):
            keys = keys * np.uint64(0x9E3779B97F4A7C15) + rows[:, :, r]
        keys += np.arange(BANDS, dtype=np.uint64)[None, :] * np.uint64(0xD6E8FEB86659FD93)
    return keys


class MinHashWindows:
    """Band key -> (doc, window) postings, sorted (the same array layout as the shipped index)."""

    def __init__(self, texts: list[str], window: int, stride: int) -> None:
        self.window, self.stride = window, stride
        keys, docs = [], []
        for d, text in enumerate(texts):
            bands = _window_bands(_shingle_hashes(provenance_tokens(text)), window, stride).ravel()
            keys.append(bands)
            docs.append(np.full(len(bands), d, dtype=np.uint32))
        order = np.argsort(np.concatenate(keys), kind="stable")
        self.keys = np.concatenate(keys)[order]
        self.docs = np.concatenate(docs)[order]
        # positions (uint32) would be needed for line ranges: counted in the size, not stored here
        self.nbytes = self.keys.nbytes + 2 * self.docs.nbytes

    def query(self, completion: str, before: str) -> set[int]:
        tokens = checked_lexemes(completion, before)
        bands = _window_bands(_shingle_hashes(tokens), self.window, 1)
        if len(bands) == 0:
            return set()
        flat = bands.ravel()
        lo = np.searchsorted(self.keys, flat, side="left")
        hi = np.searchsorted(self.keys, flat, side="right")
        votes: dict[tuple[int, int], int] = defaultdict(int)
        for i in np.flatnonzero(hi > lo):
            for d in self.docs[lo[i] : hi[i]].tolist():
                votes[(int(i) // BANDS, d)] += 1  # one vote per (query window, doc) and band
        return {d for (_, d), v in votes.items() if v >= 2}


def _samples(indexed, held, n: int, seed: int):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    out: dict[str, list[tuple[str, str, str]]] = {"verbatim": [], "renamed": [], "novel": []}
    for kind in ("verbatim", "renamed"):
        while len(out[kind]) < n:
            _, path, text = rng.choice(indexed)
            s = sample_completion(text, rng)
            if s is None:
                continue
            before, completion = s
            if kind == "renamed":
                joined = rename_identifiers(before[-2000:] + SPLIT + completion, rng)
                before, completion = reformat(joined).split(SPLIT, 1)
            if len(checked_lexemes(completion, before)) >= 65:
                out[kind].append((str(path), before, completion))
    while len(out["novel"]) < 2 * n:
        _, path, text = rng.choice(held)
        s = sample_completion(text, rng)
        if s is not None:
            out["novel"].append((str(path), s[0], s[1]))
    return out


def _evaluate(name: str, query, samples, source_bytes: int, index_bytes: int) -> None:  # type: ignore[no-untyped-def]
    row = [f"{name:28s}"]
    cpu = []
    for kind in ("verbatim", "renamed", "novel"):
        hits = 0
        for path, before, completion in samples[kind]:
            c0 = time.process_time()
            found = query(completion, before)
            cpu.append(time.process_time() - c0)
            hits += (path in found) if kind != "novel" else bool(found)
        rate = hits / len(samples[kind])
        row.append(f"{'false-match' if kind == 'novel' else 'recall ' + kind} {rate:7.2%}")
    row.append(f"index {index_bytes / source_bytes:.2f}x source")
    row.append(f"query CPU mean {np.mean(cpu) * 1000:.2f} ms")
    print("  ".join(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-mb", type=int, default=20)
    parser.add_argument("--samples", type=int, default=300, help="copies per kind (2x novel)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    indexed, held = _corpus(args.index_mb)
    texts = [t for _, _, t in indexed]
    paths = [str(p) for _, p, _ in indexed]
    source_bytes = sum(len(t.encode()) for t in texts)
    samples = _samples(indexed, held, args.samples, args.seed)
    print(f"{len(texts)} indexed files ({source_bytes / 1e6:.1f} MB); samples with >= 65 checked lexemes")

    index = build_index(
        {"content": t, "repo": "r", "path": p, "licence": "MIT"} for t, p in zip(texts, paths, strict=True)
    )
    nbytes = sum(getattr(index, a).nbytes for a in ("hashes", "doc_ids", "positions", "lines"))
    _evaluate("winnowing k=12 w=5", lambda c, b: {m.path for m in index.query(c, b)}, samples, source_bytes, nbytes)
    for window, stride in ((40, 10), (40, 5)):
        mh = MinHashWindows(texts, window, stride)
        _evaluate(
            f"minhash window {window} stride {stride}",
            lambda c, b, mh=mh: {paths[d] for d in mh.query(c, b)},
            samples,
            source_bytes,
            mh.nbytes,
        )


if __name__ == "__main__":
    main()
