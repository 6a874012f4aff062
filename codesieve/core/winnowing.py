"""Winnowing fingerprints of code (pure maths): lexeme normalisation, k-gram hashes, winnowing.

Lexemes come from `codesieve.core.shingling.provenance_lexemes`; `normalize_lexemes` maps every
identifier, number and comment word to one symbol (keywords and punctuation keep their identity),
so a copy with renamed identifiers or re-indented code yields the same fingerprints as the original.

Fingerprints (Schleimer et al., "Winnowing", SIGMOD 2003): the hash of every k consecutive
normalized lexemes; an index keeps, per window of `window` consecutive k-gram hashes, the minimum.
Any shared run of >= window + k - 1 lexemes therefore shares at least one fingerprint. Each
k-gram also has a 16-bit tag of its raw (un-normalized) lexemes, packed into its posting key
(`posting_keys`), so that ties between files alike once names are normalized go to the file
actually copied. The query engine over these fingerprints is `codesieve.core.index`.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from functools import cache
from hashlib import blake2b

import numpy as np

from codesieve.core.shingling import COMMENT_MARK

__all__ = [
    "LOW_INFORMATION",
    "MAX_PERIOD",
    "TAG_BITS",
    "TAG_MASK",
    "compute_fingerprints",
    "compute_kgram_hashes",
    "compute_raw_codes",
    "compute_raw_tags",
    "compute_reuse_distances",
    "normalize_lexemes",
    "posting_keys",
]


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
# keywords are identifiers, numbers or comment words (punctuation lexemes are single characters):
# _ID_CODE. Comment words (COMMENT_MARK + lower-cased word) are normalized like identifiers, so a
# k-gram of code and comment survives renaming and a reworded comment; a run of comment words
# alone is periodic once normalized, so `compute_kgram_hashes` hashes it on its raw words instead
# (verbatim comments match; boilerplate prose is left to the index's stop-fingerprints).
_CODES: dict[str, int] = {kw: _symbol_code(kw) for kw in _KEYWORDS}


def _single_char_code(ch: str) -> int:
    code = _ID_CODE if (ch.isalnum() or ch == "_") else _symbol_code(ch)
    _CODES[ch] = code
    return code


for _c in map(chr, range(128)):
    _single_char_code(_c)


def normalize_lexemes(lexemes: Sequence[str]) -> np.ndarray:
    """Map lexeme strings to uint64 codes: keywords/punctuation by value, identifiers/numbers/comment
    words to one.

    Args:
        lexemes: lexeme strings from `codesieve.core.shingling` (`provenance_tokens` or `Lexeme.text`).
    Returns:
        uint64 array of the same length.
    """
    get = _CODES.get
    codes = [get(t, _ID_CODE) if len(t) != 1 else (get(t) or _single_char_code(t)) for t in lexemes]
    return np.array(codes, dtype=np.uint64)


# Low bits of a posting key that hold the raw tag (see posting_keys).
TAG_BITS = 16
TAG_MASK = np.uint64((1 << TAG_BITS) - 1)
_NO_PREVIOUS = 1 << 30
# Hash value marking a low-information (periodic) k-gram; see _periodic_kgrams.
LOW_INFORMATION = np.uint64(0xFFFFFFFFFFFFFFFF)
MAX_PERIOD = 8


def compute_reuse_distances(lexemes: Sequence[str]) -> np.ndarray:
    """For each identifier/number lexeme, the distance (in lexemes) to its previous occurrence.

    This is Baker's parameterized-string encoding: invariant under consistent renaming, yet
    `self.a = a` and `self.a = b` differ. Punctuation, keywords, comment words (prose, not
    names: a run of them stays periodic and is hashed raw) and first occurrences get a large
    value (no previous occurrence).

    Returns:
        int64 array of the same length as `lexemes`.
    """
    ids: dict[str, int] = {}
    keys = np.array(
        [
            -1
            if (len(t) == 1 and not (t.isalnum() or t == "_")) or t in _KEYWORDS or t[0] == COMMENT_MARK
            else ids.setdefault(t, len(ids))
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
    raw_codes: np.ndarray | None = None,
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
        raw_codes: `compute_raw_codes(tokens)` when the caller has it already (saves a pass).
    Returns:
        uint64 array of len(codes) - k + 1 hashes (empty when shorter than k); periodic,
        low-information k-grams get LOW_INFORMATION.
    """
    n = len(codes) - k + 1
    if n <= 0:
        return np.empty(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = np.full(n, np.uint64(seed) * _MULT + np.uint64(1), dtype=np.uint64)
        # In-place ops and the reuse term's product hoisted out of the loop: the same values
        # (wrapping uint64 arithmetic), about half the numpy calls on the per-completion path.
        weighted = None if reuse is None else reuse.astype(np.uint64) * _REUSE_MULT
        zero = np.uint64(0)
        for j in range(k):
            np.multiply(h, _MULT, out=h)
            np.add(h, codes[j : j + n], out=h)
            if reuse is not None and weighted is not None:
                np.add(h, np.where(reuse[j : j + n] <= j, weighted[j : j + n], zero), out=h)
        # splitmix64 finalizer: spreads the bits so that `min` in winnowing is unbiased.
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    values = codes if reuse is None else codes ^ np.minimum(reuse, k).astype(np.uint64)
    periodic = _periodic_kgrams(values, k)
    if (tokens is not None or raw_codes is not None) and periodic.any():
        _raw_fallback(h, periodic, compute_raw_codes(tokens or ()) if raw_codes is None else raw_codes, k, seed)
    else:
        h[periodic] = LOW_INFORMATION
    return h


def _raw_code(token: str) -> int:
    data = token.encode("utf-8")
    return zlib.crc32(data) | (zlib.adler32(data) << 32)


# Raw lexeme codes are looked up far more often than new lexemes appear (identifiers repeat):
# a cache, bounded so that a worker indexing a huge corpus does not grow without limit.
_RAW_CACHE: dict[str, int] = {}
_RAW_CACHE_MAX = 1 << 20


def compute_raw_codes(tokens: Sequence[str]) -> np.ndarray:
    """A stable 64-bit code per raw (un-normalized) lexeme string: uint64 array, same length."""
    if len(_RAW_CACHE) > _RAW_CACHE_MAX:
        _RAW_CACHE.clear()
    get = _RAW_CACHE.get
    codes = [get(t) or _RAW_CACHE.setdefault(t, _raw_code(t)) for t in tokens]
    return np.array(codes, dtype=np.uint64)


def compute_raw_tags(raw_codes: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """A 16-bit tag of every k-gram's raw lexemes (uint64 array of values < 2**16).

    Stored in the low bits of each posting's key (see `posting_keys`): a verbatim copy agrees
    with its source on the tag, a sibling file that differs only in names almost never does
    (2**-16 per k-gram), so ties between near-identical files go to the file actually copied.
    """
    n = len(raw_codes) - k + 1
    if n <= 0:
        return np.empty(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        g = np.full(n, np.uint64(seed + 3) * _REUSE_MULT + np.uint64(11), dtype=np.uint64)
        for j in range(k):
            g = g * _MULT + raw_codes[j : j + n]
        g ^= g >> np.uint64(31)
        g *= np.uint64(0x94D049BB133111EB)
    tags: np.ndarray = g >> np.uint64(64 - TAG_BITS)
    return tags


def posting_keys(hashes: np.ndarray, tags: np.ndarray) -> np.ndarray:
    """The index key of a k-gram: its normalized hash's top 48 bits, then its 16-bit raw tag.

    Sorted by key, the postings of one normalized hash are contiguous and, inside that range,
    those of one raw tag are too: one array serves both the renaming-tolerant lookup and the
    verbatim tie-break at 8 bytes per posting. 48 bits keep chance collisions negligible
    (1e8 postings / 2**48 ~ 4e-7 per query k-gram, and a match needs a chain of hits).
    """
    keys: np.ndarray = (hashes & ~TAG_MASK) | tags
    return keys


def _raw_fallback(h: np.ndarray, periodic: np.ndarray, raw: np.ndarray, k: int, seed: int) -> None:
    """Re-hash periodic k-grams on their raw lexemes (in place).

    A table or a list of strings is periodic once names are normalized, but its raw text is
    distinctive: hashing it raw (with another seed, so raw and normalized hashes never meet)
    keeps verbatim copies of data findable. A k-gram periodic even raw stays LOW_INFORMATION.
    """
    starts = np.flatnonzero(periodic)
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
    periodic = np.zeros(n, dtype=bool)
    for p in range(1, periods + 1):
        span, row = k - p, same[p - 1]
        periodic |= (row[span : span + n] - row[:n]) == span
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
