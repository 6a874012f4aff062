"""The reference index of licensed code: winnowed k-gram fingerprints and the containment query.

Pure: arrays in, matches out (the files live in `dedup.index_store`). Both sides use
`dedup.shingling.code_lexemes`, then `normalize_lexemes` maps every identifier and number to one
symbol (keywords and punctuation keep their identity), so a copy with renamed identifiers or
re-indented code yields the same fingerprints as the original.

Fingerprints (Schleimer et al., "Winnowing", SIGMOD 2003): the hash of every k consecutive
normalized lexemes; the index keeps, per window of `window` consecutive k-gram hashes, the minimum.
Any shared run of >= window + k - 1 lexemes therefore shares at least one fingerprint, and the
query side hashes *every* k-gram, so it sees every indexed fingerprint inside a copied region.
A match is a chain of hits on one document diagonal (doc position - query position constant);
the hits span a lower bound L of the copied run. Winnowing selects a fingerprint in every window
of `window` k-grams of the indexed file, so the run extends at most window - 1 lexemes beyond the
hits at each end: the reported `matched_lexemes` is that estimate, L + 2 * (window - 1), clipped
to the checked text (exact to within 2 * (window - 1) lexemes; window 5 => 8).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from hashlib import blake2b
from itertools import chain

import numpy as np

from dedup.shingling import Lexeme, code_lexemes, code_tokens

__all__ = [
    "DocTable",
    "IndexConfig",
    "LOW_INFORMATION",
    "LicensedIndex",
    "ProvenanceMatch",
    "compute_fingerprints",
    "compute_kgram_hashes",
    "compute_reuse_distances",
    "normalize_lexemes",
]


@dataclass(frozen=True)
class IndexConfig:
    """Index parameters; saved with the index (config.json) and read back by the query side."""

    # k = 12 lexemes ~ one or two statements; window 5 => any shared run of >= 16 lexemes holds a
    # fingerprint, and a match's measured length misses at most 2 * (5 - 1) = 8 lexemes of the
    # copied run, at ~2/(window+1) = 33% density (~1.1 bytes of index per byte of source).
    # benchmarks/filters_quality.py: window 8 lost 28% of the 65-99-lexeme copies, window 4 14%.
    k: int = 12
    window: int = 5
    # Fingerprints with more postings than this are boilerplate (licence headers, `self.x = x`
    # runs, generated tables): dropped at build time, they would only produce noise and size.
    max_postings: int = 1000
    # At query time a hash contributes at most this many postings (bounds the query cost).
    # 200 lost 8% of the 65-99-lexeme copies of generated code (hundreds of files alike once
    # names are normalized) for a few % of query time; 2000 keeps them.
    query_max_postings: int = 2000
    # A hit chain continues while consecutive hits are at most this many k-grams apart.
    max_gap: int = 24
    seed: int = 0

    def __post_init__(self) -> None:
        if self.k < 2 or self.window < 1:
            raise ValueError("IndexConfig: k must be >= 2 and window >= 1")


@dataclass(frozen=True, slots=True)
class DocTable:
    """Per-document metadata, indexed by doc id: repo, path and licence."""

    repos: Sequence[str]
    paths: Sequence[str]
    licences: Sequence[str]


@dataclass(frozen=True, slots=True)
class ProvenanceMatch:
    """One near-verbatim match of a completion against an indexed document.

    `start`/`end` are the character span in the completion; `line_start`/`line_end` are 1-based
    lines in the indexed file (line_end is the first line of the last matching k-gram);
    `similarity` is matched_lexemes / lexemes in the checked text (completion + context).
    """

    repo: str
    path: str
    licence: str
    line_start: int
    line_end: int
    matched_lexemes: int
    similarity: float
    start: int
    end: int


# Reserved words keep their identity after normalization (the structure of the code); every other
# identifier becomes one symbol. Only Python's keywords (+ self/cls): they also cover the control
# flow of the C/Java/JS family (if, else, for, while, return, class, import, ...), while any other
# language's reserved word (`const`, `function`, `namespace`, `type`) is an ordinary name in some
# other language or in a docstring, and a copy that renames it must still match.
_KEYWORDS = frozenset(
    """
    False None True and as assert async await break class continue def del elif else except
    finally for from global if import in is lambda nonlocal not or pass raise return try while
    with yield self cls
    """.split()
)


@cache
def _symbol_code(symbol: str) -> int:
    # A stable 64-bit code per symbol (Python's hash() is salted per process).
    return int.from_bytes(blake2b(symbol.encode("utf-8"), digest_size=8).digest(), "little")


_ID_CODE = _symbol_code("\x00id")
# Lexeme -> code for every keyword and every ASCII character; other single characters (Unicode
# punctuation or one-letter names) are added on first sight. Longer lexemes that are not
# keywords are identifiers or numbers (punctuation lexemes are single characters): _ID_CODE.
_CODES: dict[str, int] = {kw: _symbol_code(kw) for kw in _KEYWORDS}


def _single_char_code(ch: str) -> int:
    code = _ID_CODE if (ch.isalnum() or ch == "_") else _symbol_code(ch)
    _CODES[ch] = code
    return code


for _c in map(chr, range(128)):
    _single_char_code(_c)


def normalize_lexemes(lexemes: Sequence[str]) -> np.ndarray:
    """Map lexeme strings to uint64 codes: keywords/punctuation by value, identifiers/numbers to one.

    Args:
        lexemes: lexeme strings from `dedup.shingling` (`code_tokens` or `Lexeme.text`).
    Returns:
        uint64 array of the same length.
    """
    get = _CODES.get
    codes = [get(t, _ID_CODE) if len(t) != 1 else (get(t) or _single_char_code(t)) for t in lexemes]
    return np.array(codes, dtype=np.uint64)


_NO_PREVIOUS = 1 << 30
# Hash value marking a low-information (periodic) k-gram; see _periodic_kgrams.
LOW_INFORMATION = np.uint64(0xFFFFFFFFFFFFFFFF)
MAX_PERIOD = 8


def compute_reuse_distances(lexemes: Sequence[str]) -> np.ndarray:
    """For each identifier/number lexeme, the distance (in lexemes) to its previous occurrence.

    This is Baker's parameterized-string encoding: invariant under consistent renaming, yet
    `self.a = a` and `self.a = b` differ. Punctuation, keywords and first occurrences get a
    large value (no previous occurrence).

    Returns:
        int64 array of the same length as `lexemes`.
    """
    ids: dict[str, int] = {}
    keys = np.array(
        [
            -1 if (len(t) == 1 and not (t.isalnum() or t == "_")) or t in _KEYWORDS else ids.setdefault(t, len(ids))
            for t in lexemes
        ],
        dtype=np.int64,
    )
    out = np.full(len(keys), _NO_PREVIOUS, dtype=np.int64)
    named = np.flatnonzero(keys >= 0)
    if len(named) > 1:
        order = named[np.argsort(keys[named], kind="stable")]
        same = keys[order[1:]] == keys[order[:-1]]
        out[order[1:][same]] = order[1:][same] - order[:-1][same]
    return out


# Odd 64-bit multipliers for the polynomial k-gram hash (golden-ratio and splitmix constants).
_MULT = np.uint64(0x9E3779B97F4A7C15)
_REUSE_MULT = np.uint64(0xD6E8FEB86659FD93)


def compute_kgram_hashes(
    codes: np.ndarray,
    k: int,
    seed: int = 0,
    reuse: np.ndarray | None = None,
    tokens: Sequence[str] | None = None,
) -> np.ndarray:
    """Polynomial hash of every k consecutive codes (mod 2**64), then a 64-bit finalizer.

    Args:
        codes: uint64 lexeme codes (`normalize_lexemes`).
        k: k-gram length in lexemes.
        seed: mixed into every hash, so two configs never share fingerprints by accident.
        reuse: optional `compute_reuse_distances`; a lexeme whose previous occurrence lies in the
            same k-gram contributes that distance, so the hash sees the k-gram's reuse pattern.
        tokens: the lexeme strings; when given, k-grams that are periodic after normalization
            (tables, string lists) are hashed on their raw lexemes instead (`_raw_fallback`).
    Returns:
        uint64 array of len(codes) - k + 1 hashes (empty when shorter than k); periodic,
        low-information k-grams get LOW_INFORMATION.
    """
    n = len(codes) - k + 1
    if n <= 0:
        return np.empty(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = np.full(n, np.uint64(seed) * _MULT + np.uint64(1), dtype=np.uint64)
        for j in range(k):
            h = h * _MULT + codes[j : j + n]
            if reuse is not None:
                d = reuse[j : j + n]
                h += np.where(d <= j, d, 0).astype(np.uint64) * _REUSE_MULT
        # splitmix64 finalizer: spreads the bits so that `min` in winnowing is unbiased.
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    values = codes if reuse is None else codes ^ np.minimum(reuse, k).astype(np.uint64)
    periodic = _periodic_kgrams(values, k)
    if tokens is not None and periodic.any():
        _raw_fallback(h, periodic, tokens, k, seed)
    else:
        h[periodic] = LOW_INFORMATION
    return h


def _raw_code(token: str) -> int:
    data = token.encode("utf-8")
    return zlib.crc32(data) | (zlib.adler32(data) << 32)


def _raw_fallback(h: np.ndarray, periodic: np.ndarray, tokens: Sequence[str], k: int, seed: int) -> None:
    """Re-hash periodic k-grams on their raw lexemes (in place).

    A table or a list of strings is periodic once names are normalized, but its raw text is
    distinctive: hashing it raw (with another seed, so raw and normalized hashes never meet)
    keeps verbatim copies of data findable. A k-gram periodic even raw stays LOW_INFORMATION.
    """
    starts = np.flatnonzero(periodic)
    needed = np.unique((starts[:, None] + np.arange(k)).ravel())
    raw = np.zeros(len(tokens), dtype=np.uint64)
    raw[needed] = np.fromiter((_raw_code(tokens[i]) for i in needed), dtype=np.uint64, count=len(needed))
    with np.errstate(over="ignore"):
        g = np.full(len(starts), np.uint64(seed + 1) * _REUSE_MULT + np.uint64(7), dtype=np.uint64)
        for j in range(k):
            g = g * _MULT + raw[starts + j]
        g ^= g >> np.uint64(29)
        g *= np.uint64(0xBF58476D1CE4E5B9)
        g ^= g >> np.uint64(32)
    raw_periodic = _periodic_kgrams(raw, k)[starts]
    g[raw_periodic] = LOW_INFORMATION
    h[starts] = g


def _periodic_kgrams(values: np.ndarray, k: int) -> np.ndarray:
    """k-grams that repeat with a period <= MAX_PERIOD (`'a', 'b', 'c', ...`, `x = x\n` runs).

    Lists of strings, tables and re-export blocks are identical across unrelated files once
    names are normalized; such k-grams carry no provenance signal and are never indexed/queried.
    """
    n = len(values) - k + 1
    periods = min(MAX_PERIOD, k - 2)
    if n <= 0 or periods < 1:
        return np.zeros(max(n, 0), dtype=bool)
    # same[p-1, i+1] = #{j <= i : values[j] == values[j + p]}: one cumulative sum for all periods.
    length = len(values)
    same = np.zeros((periods, length + 1), dtype=np.int32)
    for p in range(1, periods + 1):
        same[p - 1, 1 : length - p + 1] = values[p:] == values[:-p]
    np.cumsum(same, axis=1, out=same)
    # k-gram at s is p-periodic when values[s+j] == values[s+j+p] for j in [0, k-p).
    spans = (k - np.arange(1, periods + 1))[:, None]
    ends = np.arange(n)[None, :] + spans
    counts = np.take_along_axis(same, ends, axis=1) - same[:, :n]
    periodic: np.ndarray = np.any(counts == spans, axis=0)
    return periodic


def compute_fingerprints(hashes: np.ndarray, window: int) -> np.ndarray:
    """Winnowing: positions of the minimum hash in every window of `window` hashes (rightmost).

    Args:
        hashes: k-gram hashes of one document.
        window: winnowing window w.
    Returns:
        sorted unique int64 positions into `hashes`, LOW_INFORMATION k-grams excluded.
    """
    positions = _winnow(hashes, window)
    kept: np.ndarray = positions[hashes[positions] != LOW_INFORMATION]
    return kept


def _winnow(hashes: np.ndarray, window: int) -> np.ndarray:
    n = len(hashes)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if n <= window:
        return np.array([n - 1 - int(np.argmin(hashes[::-1]))], dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(hashes, window)
    # Rightmost minimum (the winnowing tie rule): argmin over the reversed window.
    rightmost = window - 1 - np.argmin(windows[:, ::-1], axis=1)
    positions = np.arange(len(windows), dtype=np.int64) + rightmost
    return np.unique(positions)


class _LexedText:
    """Lexemes of a text, lexed line by line; character spans computed only when asked for.

    `dedup.shingling` lexemes and comments never span a newline, so the per-line stream equals
    `code_lexemes(text)` (tested), without a span object per lexeme on the hot path.
    """

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        per_line = [code_tokens(line) for line in self.lines]
        self.tokens: list[str] = list(chain.from_iterable(per_line))
        self._cum = np.cumsum([len(t) for t in per_line])
        self._line_offsets = np.concatenate(([0], np.cumsum([len(x) + 1 for x in self.lines])))

    def span(self, i: int) -> Lexeme:
        """Lexeme i with its span in the whole text."""
        line = int(np.searchsorted(self._cum, i, side="right"))
        before = int(self._cum[line - 1]) if line else 0
        lexeme = code_lexemes(self.lines[line])[i - before]
        offset = int(self._line_offsets[line])
        return Lexeme(lexeme.text, lexeme.start + offset, lexeme.end + offset)


class LicensedIndex:
    """Sorted fingerprint arrays (memory-mappable) plus document metadata; answers `query`.

    Arrays (all the same length, sorted by `hashes`): `hashes` uint64, `doc_ids` uint32,
    `positions` uint32 (k-gram index in the document), `lines` uint32 (1-based line of the
    k-gram's first lexeme).
    """

    def __init__(
        self,
        *,
        config: IndexConfig,
        hashes: np.ndarray,
        doc_ids: np.ndarray,
        positions: np.ndarray,
        lines: np.ndarray,
        docs: DocTable,
    ) -> None:
        if not (len(hashes) == len(doc_ids) == len(positions) == len(lines)):
            raise ValueError("LicensedIndex: fingerprint arrays differ in length")
        self.config = config
        self.hashes = hashes
        self.doc_ids = doc_ids
        self.positions = positions
        self.lines = lines
        self.docs = docs

    def __len__(self) -> int:
        return len(self.hashes)

    def query(
        self,
        completion_text: str,
        context_before: str = "",
        *,
        min_match_lexemes: int = 65,
        context_chars: int = 150,
        max_matches: int = 5,
    ) -> list[ProvenanceMatch]:
        """Indexed documents that contain a near-verbatim copy of the completion.

        Args:
            completion_text: the generated text.
            context_before: code before the completion; its last `context_chars` characters are
                checked together with the completion (a copy often starts in the prompt).
            min_match_lexemes: minimum matched run, in lexemes, counting the context part.
            context_chars: how much of `context_before` to include.
            max_matches: at most this many matches, longest first.
        Returns:
            matches that reach into the completion, longest first, one per (repo, path).
        """
        context = context_before[-context_chars:] if context_chars > 0 else ""
        lexed = _LexedText(context + completion_text)
        texts = lexed.tokens
        cfg = self.config
        if len(texts) < max(cfg.k, min_match_lexemes) or len(self.hashes) == 0:
            return []
        qhash = compute_kgram_hashes(normalize_lexemes(texts), cfg.k, cfg.seed, compute_reuse_distances(texts), texts)
        hits = self._hits(qhash)
        if hits is None:
            return []
        return self._chain(hits, lexed, len(context), min_match_lexemes, max_matches)

    def _hits(self, qhash: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        size = len(self.hashes)
        lo = np.searchsorted(self.hashes, qhash, side="left")
        present = (lo < size) & (qhash != LOW_INFORMATION)
        present[present] = self.hashes[lo[present]] == qhash[present]
        if not present.any():
            return None
        # Most k-grams of a completion are not indexed: the second search runs on hits only.
        counts = np.zeros(len(qhash), dtype=np.int64)
        counts[present] = np.searchsorted(self.hashes, qhash[present], side="right") - lo[present]
        # A frequent fingerprint contributes only its first query_max_postings postings. Postings
        # of one hash are in doc-id order, so consecutive frequent k-grams truncate to the same
        # documents and still chain: common code is attributed to its lowest-id sources.
        counts = np.minimum(counts, self.config.query_max_postings)
        keep = counts > 0
        qpos = np.nonzero(keep)[0]
        lo, counts = lo[keep], counts[keep]
        total = int(counts.sum())
        # Expand each [lo, lo+count) range into flat posting indices.
        starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
        idx = starts + np.arange(total)
        return np.repeat(qpos, counts), idx, counts

    def _chain(
        self,
        hits: tuple[np.ndarray, np.ndarray, np.ndarray],
        lexed: _LexedText,
        context_len: int,
        min_match_lexemes: int,
        max_matches: int,
    ) -> list[ProvenanceMatch]:
        cfg = self.config
        qpos, idx, _ = hits
        doc = np.asarray(self.doc_ids[idx], dtype=np.int64)
        dpos = np.asarray(self.positions[idx], dtype=np.int64)
        diag = dpos - qpos
        order = np.lexsort((qpos, diag, doc))
        doc, diag, qpos, idx = doc[order], diag[order], qpos[order], idx[order]
        # A chain breaks at a new (doc, diagonal) or a gap of more than max_gap k-grams.
        new_chain = np.ones(len(doc), dtype=bool)
        new_chain[1:] = (doc[1:] != doc[:-1]) | (diag[1:] != diag[:-1]) | (qpos[1:] - qpos[:-1] > cfg.max_gap)
        chain_start = np.nonzero(new_chain)[0]
        chain_end = np.append(chain_start[1:], len(doc)) - 1
        # Estimated run: the hits' span widened by window - 1 lexemes per side, within the text.
        first_lexeme = np.maximum(qpos[chain_start] - (cfg.window - 1), 0)
        end_lexeme = np.minimum(qpos[chain_end] + cfg.k + (cfg.window - 1), len(lexed.tokens))
        span = end_lexeme - first_lexeme
        good = np.nonzero(span >= min_match_lexemes)[0]
        if len(good) == 0:
            return []
        good = good[np.argsort(-span[good], kind="stable")]
        total = len(lexed.tokens)
        matches: list[ProvenanceMatch] = []
        seen: set[int] = set()
        for c in good:
            first, last = chain_start[c], chain_end[c]
            doc_id = int(doc[first])
            if doc_id in seen:
                continue  # this doc is already reported (with a longer chain)
            end_char = lexed.span(int(qpos[last]) + cfg.k - 1).end
            if end_char <= context_len:
                continue  # the copy lies wholly in the prompt: the user's code, not the model's
            seen.add(doc_id)
            matches.append(
                ProvenanceMatch(
                    repo=self.docs.repos[doc_id],
                    path=self.docs.paths[doc_id],
                    licence=self.docs.licences[doc_id],
                    line_start=int(self.lines[idx[first]]),
                    line_end=int(self.lines[idx[last]]),
                    matched_lexemes=int(span[c]),
                    similarity=round(float(span[c]) / total, 4),
                    start=max(0, lexed.span(int(qpos[first])).start - context_len),
                    end=end_char - context_len,
                )
            )
            if len(matches) >= max_matches:
                break
        return matches
