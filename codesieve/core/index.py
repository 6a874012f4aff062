"""The reference index of licensed code: winnowed k-gram fingerprints and the containment query.

Pure: arrays in, matches out (the files live in `codesieve.core.index_store`). Both sides fingerprint
code with `codesieve.core.winnowing` (normalized lexemes, k-gram hashes, winnowing): the index
keeps, per window of `window` consecutive k-gram hashes, the minimum; any shared run of
>= window + k - 1 lexemes therefore shares at least one fingerprint, and the
query side hashes *every* k-gram, so it sees every indexed fingerprint inside a copied region.
A match is a chain of hits on one document diagonal (doc position - query position constant);
the hits span a lower bound L of the copied run. Winnowing selects a fingerprint in every window
of `window` k-grams of the indexed file, so the run extends at most window - 1 lexemes beyond the
hits at each end: the reported `matched_lexemes` is that estimate, L + 2 * (window - 1), clipped
to the checked text (exact to within 2 * (window - 1) lexemes; window 5 => 8).

Attribution: generated code (API type stubs, protobuf modules) comes in hundreds of files that are
identical once names are normalized, so a normalized match cannot tell which one was copied. Each
posting therefore also carries a 16-bit tag of the k-gram's raw lexemes (`posting_keys`); among
equally long matches the file agreeing on more raw k-grams ranks first, and when a frequent
k-gram's postings are truncated the raw-equal ones are kept first. (Without it, 4% of verbatim
copies in benchmarks/filters_quality.py were reported against a sibling file only.)

Why winnowing rather than MinHash over windows: `benchmarks/provenance_design.py` runs both on the
same lexemes, k-gram hashes and labelled samples (10 MB index, 150 copies of each kind, 300 novel):
winnowing k=12 w=5: recall 100% verbatim / 97.3% renamed, 0.0% false matches, index 1.11x the
source, 0.95 ms per query; MinHash (32 permutations, 8 bands x 4 rows) over 40-shingle windows
every 10 shingles: 100% / 98.7%, 3.3% false matches, 2.1x, 4.2 ms (every 5: 4.7%, 4.2x, 6.7 ms).
A window's estimated Jaccard is a fuzzier test than a chain of exact k-gram hits on one
diagonal, which also gives the matched length and line range directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from codesieve.core.shingling import Lexeme, code_lexemes, code_tokens, provenance_lexemes, provenance_tokens
from codesieve.core.winnowing import (
    LOW_INFORMATION,
    TAG_MASK,
    compute_kgram_hashes,
    compute_raw_codes,
    compute_raw_tags,
    compute_reuse_distances,
    normalize_lexemes,
)

__all__ = [
    "DocTable",
    "IndexConfig",
    "LicensedIndex",
    "ProvenanceMatch",
    "checked_lexemes",
]


@dataclass(frozen=True)
class IndexConfig:
    """Index parameters; saved with the index (config.json) and read back by the query side."""

    # k = 12 lexemes ~ one or two statements; window 5 => any shared run of >= 16 lexemes holds a
    # fingerprint, and a match's measured length misses at most 2 * (5 - 1) = 8 lexemes of the
    # copied run, at ~2/(window+1) = 33% density (1.0-1.1 bytes of index per byte of source).
    # benchmarks/filters_quality.py (60 MB, seed 0; verbatim / renamed recall, index size):
    # window 4: 99.45% / 97.0%, 1.35x; 5: 99.59% / 96.9%, 1.13x; 8: 99.59% / 96.3%, 0.75x, with
    # any-match on novel code 0.65% (5) vs 0.75% (8). 5 keeps the renamed recall's margin over 95%
    # (95.8% with seed 1) at a size well inside the 1.5x RAM target.
    k: int = 12
    window: int = 5
    # Fingerprints with more postings than this are boilerplate (licence headers, `self.x = x`
    # runs, generated tables): dropped at build time, they would only produce noise and size.
    max_postings: int = 1000
    # MOSS-style stop-fingerprints: a fingerprint found in more than this many distinct repos is
    # boilerplate (licence headers, common import blocks, generated-code idioms), dropped at build
    # time. Comments count since index format 3, so licence-header text would otherwise match
    # every file that carries it. 0 disables the rule. benchmarks/filters_quality.py (60 MB, 102
    # repos, seed 0; verbatim / renamed recall, false matches on novel code): no limit 99.12% /
    # 96.94% / 0.45%; 50: 99.12% / 96.81% / 0.45%; 20: 98.61% / 96.08% / 0.40%; 10: 97.73% /
    # 94.85% / 0.35%. Lower limits drop common idioms that copies need for their hit chains; 50
    # keeps recall and bounds what one popular header can match.
    max_repos: int = 50
    # Line comments count as lexemes (`provenance_tokens`, issue 19). False lexes as format 2 did
    # (comments dropped, `code_tokens`): the before/after comparison of benchmarks/filters_quality.py.
    count_comments: bool = True
    # At query time a hash contributes at most this many postings (bounds the query cost; the
    # raw-tag-equal postings are kept first). Above max_postings it never binds; lower caps cost
    # renamed-copy recall on generated code (hundreds of files alike once names are normalized:
    # 250 -> -1.9 points, 500 -> -0.5) and saved no time (the truncation is a Python loop).
    query_max_postings: int = 2000
    # A hit chain continues while consecutive hits are at most this many k-grams apart.
    max_gap: int = 24
    seed: int = 0

    def __post_init__(self) -> None:
        if self.k < 2 or self.window < 1 or self.max_repos < 0:
            raise ValueError("IndexConfig: k must be >= 2, window >= 1 and max_repos >= 0")


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


# Above this many hits, documents with too few hits for a match are dropped before the sort.
_FILTER_ABOVE_HITS = 2048


class _LexedText:
    """The checked text (context tail + completion) lexed line by line; spans computed on demand.

    `codesieve.core.shingling` lexemes and comments never span a newline, so the per-line stream equals
    `provenance_lexemes(text)` (tested), without a span object per lexeme on the hot path.

    The context is cut `context_chars` before the completion, usually mid-line. Lexing the cut
    string alone would turn the tail of a `# comment` on that line into code lexemes that the
    indexed file does not have (the indexer lexed them as comment words); so the first line is
    lexed whole and its lexemes that start before the cut are dropped. `offset` is the cut's
    position in the lexed text: character spans are reported relative to it.
    """

    def __init__(self, context_before: str, completion: str, context_chars: int, count_comments: bool = True) -> None:
        lex, tokens = (provenance_lexemes, provenance_tokens) if count_comments else (code_lexemes, code_tokens)
        self._lex = lex
        cut = max(len(context_before) - context_chars, 0) if context_chars > 0 else len(context_before)
        line_start = context_before.rfind("\n", 0, cut) + 1
        self.lines = (context_before[line_start:] + completion).split("\n")
        self.context_len = len(context_before) - line_start
        offset = cut - line_start
        self.skip = sum(1 for lx in lex(self.lines[0]) if lx.start < offset) if offset else 0
        per_line = [tokens(line) for line in self.lines]
        self.tokens: list[str] = list(chain.from_iterable(per_line))[self.skip :]
        self._cum = np.cumsum([len(t) for t in per_line])
        self._line_offsets = np.concatenate(([0], np.cumsum([len(x) + 1 for x in self.lines])))
        self._line_lexemes: dict[int, list[Lexeme]] = {}

    def span(self, i: int) -> Lexeme:
        """Lexeme i (of `tokens`) with its span in the lexed text."""
        i += self.skip
        line = int(np.searchsorted(self._cum, i, side="right"))
        before = int(self._cum[line - 1]) if line else 0
        if line not in self._line_lexemes:  # the matches of one text share their first/last lines
            self._line_lexemes[line] = self._lex(self.lines[line])
        lexeme = self._line_lexemes[line][i - before]
        offset = int(self._line_offsets[line])
        return Lexeme(lexeme.text, lexeme.start + offset, lexeme.end + offset)


def checked_lexemes(
    completion_text: str, context_before: str = "", context_chars: int = 150, *, count_comments: bool = True
) -> list[str]:
    """The lexemes `LicensedIndex.query` checks: the last `context_chars` of the context + completion.

    A match can be at most this long, so a copy whose checked text has fewer lexemes than the
    threshold is undetectable by definition (the quality benchmark buckets by this count).
    """
    return _LexedText(context_before, completion_text, context_chars, count_comments).tokens


@dataclass(frozen=True, slots=True)
class _Hits:
    """Query k-gram position and posting index of every hit, and the query's posting keys.

    A hit is raw-exact (its k-gram's raw tag agrees too) when `hashes[idx] == qkeys[qpos]`.
    """

    qpos: np.ndarray
    idx: np.ndarray
    qkeys: np.ndarray


class LicensedIndex:
    """Sorted posting arrays (memory-mappable) plus document metadata; answers `query`.

    Arrays (all the same length, sorted by `hashes`): `hashes` uint64 posting keys (the k-gram's
    normalized hash, top 48 bits, and its raw tag, low 16 bits: `posting_keys`), `doc_ids`
    uint32, `positions` uint32 (k-gram index in the document), `lines` uint32 (1-based line of
    the k-gram's first lexeme).
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
        # Plain ndarray views of the (possibly memory-mapped) arrays: np.memmap's per-access
        # Python overhead is measurable on the per-completion hot path.
        self._hashes, self._doc_ids, self._positions = np.asarray(hashes), np.asarray(doc_ids), np.asarray(positions)

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
            max_matches: at most this many matches, longest first; among equally long ones,
                the documents that agree with the text on more raw (un-normalized) k-grams first.
        Returns:
            matches that reach into the completion, one per (repo, path).
        """
        lexed = _LexedText(context_before, completion_text, context_chars, self.config.count_comments)
        texts = lexed.tokens
        cfg = self.config
        if len(texts) < max(cfg.k, min_match_lexemes) or len(self.hashes) == 0:
            return []
        raw = compute_raw_codes(texts)
        qhash = compute_kgram_hashes(
            normalize_lexemes(texts), cfg.k, cfg.seed, compute_reuse_distances(texts), raw_codes=raw
        )
        hits = self._hits(qhash, compute_raw_tags(raw, cfg.k, cfg.seed))
        if hits is None:
            return []
        return self._chain(hits, lexed, min_match_lexemes, max_matches)

    def _hits(self, qhash: np.ndarray, qtags: np.ndarray) -> _Hits | None:
        hashes, size = self._hashes, len(self._hashes)
        base = qhash & ~TAG_MASK
        # Searched in ascending order: numpy's binary search then narrows each search with the
        # previous result, and consecutive searches touch nearby pages of a large index.
        order = np.argsort(base)
        lo = np.empty(len(base), dtype=np.int64)
        lo[order] = np.searchsorted(hashes, base[order], side="left")
        present = (qhash != LOW_INFORMATION) & (lo < size)
        present[present] = (hashes[lo[present]] & ~TAG_MASK) == base[present]
        if not present.any():
            return None
        # Most k-grams of a completion are not indexed: the other searches run on hits only.
        qpos = np.flatnonzero(present)
        lo = lo[qpos]
        hi = np.searchsorted(hashes, base[qpos] | TAG_MASK, side="right")
        qkeys = base | qtags
        counts = hi - lo
        cap = self.config.query_max_postings
        if counts.max() <= cap:
            return _Hits(np.repeat(qpos, counts), _expand(lo, counts), qkeys)
        exact_lo = np.searchsorted(hashes, qkeys[qpos], side="left")
        exact_hi = np.searchsorted(hashes, qkeys[qpos], side="right")
        qrep, idx = self._capped_hits(qpos, lo, hi, exact_lo, exact_hi, cap)
        return _Hits(qrep, idx, qkeys)

    @staticmethod
    def _capped_hits(
        qpos: np.ndarray, lo: np.ndarray, hi: np.ndarray, exact_lo: np.ndarray, exact_hi: np.ndarray, cap: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Postings of frequent k-grams truncated to `cap`: the raw-tag-equal ones first.

        Within one tag the postings are in doc-id order, so consecutive frequent k-grams of a
        verbatim copy keep the same documents (their diagonals still chain), and a renamed copy
        falls back to the lowest-id documents, as before.
        """
        ranges: list[tuple[int, int, int]] = []  # (query pos, start, stop)
        for q, a, b, ea, eb in zip(
            qpos.tolist(), lo.tolist(), hi.tolist(), exact_lo.tolist(), exact_hi.tolist(), strict=True
        ):
            if b - a <= cap:
                ranges.append((q, a, b))
                continue
            room = cap
            for start, stop in ((ea, eb), (a, ea), (eb, b)):
                take = min(stop - start, room)
                ranges.append((q, start, start + take))
                room -= take
        arr = np.array(ranges, dtype=np.int64).reshape(-1, 3)
        counts = arr[:, 2] - arr[:, 1]
        return np.repeat(arr[:, 0], counts), _expand(arr[:, 1], counts)

    def _chain(self, hits: _Hits, lexed: _LexedText, min_match_lexemes: int, max_matches: int) -> list[ProvenanceMatch]:
        cfg = self.config
        qpos, idx = hits.qpos, hits.idx
        doc = self._doc_ids[idx].astype(np.int64)
        if len(doc) > _FILTER_ABOVE_HITS:
            # A document with fewer hits than any reportable chain needs cannot match: dropping
            # it before the sort is lossless and cuts the cost of texts with many chance hits.
            keep = np.bincount(doc)[doc] >= self._min_chain_hits(min_match_lexemes)
            qpos, idx, doc = qpos[keep], idx[keep], doc[keep]
        doc, new_chain, qpos, idx = _group_by_diagonal(doc, self._positions[idx].astype(np.int64) - qpos, qpos, idx)
        # A chain breaks at a new (doc, diagonal) or a gap of more than max_gap k-grams.
        new_chain[1:] |= qpos[1:] - qpos[:-1] > cfg.max_gap
        chain_start = np.nonzero(new_chain)[0]
        chain_end = np.append(chain_start[1:], len(doc)) - 1
        # Estimated run: the hits' span widened by window - 1 lexemes per side, within the text.
        total = len(lexed.tokens)
        first_lexeme = np.maximum(qpos[chain_start] - (cfg.window - 1), 0)
        end_lexeme = np.minimum(qpos[chain_end] + cfg.k + (cfg.window - 1), total)
        span = end_lexeme - first_lexeme
        good = np.nonzero(span >= min_match_lexemes)[0]
        if len(good) == 0:
            return []
        # Longest first; ties (files that differ only in names) go to the most raw-tag agreement.
        exact = self._hashes[idx] == hits.qkeys[qpos]
        exact_count = np.add.reduceat(exact.astype(np.int64), chain_start)
        good = good[np.lexsort((-exact_count[good], -span[good]))]
        return self._matches(good, chain_start, chain_end, doc, qpos, idx, span, lexed, max_matches)

    def _min_chain_hits(self, min_match_lexemes: int) -> int:
        """Fewest hits a chain of >= min_match_lexemes can have (see the span estimate in `_chain`).

        The estimate is (last - first hit) + k + 2 * (window - 1), and consecutive hits of a
        chain are at most max_gap apart: (65 - 12 - 8) / 24 -> 2 gaps -> 3 hits by default.
        """
        cfg = self.config
        needed = max(0, min_match_lexemes - cfg.k - 2 * (cfg.window - 1))
        return 1 + -(-needed // cfg.max_gap)

    def _matches(
        self,
        good: np.ndarray,
        chain_start: np.ndarray,
        chain_end: np.ndarray,
        doc: np.ndarray,
        qpos: np.ndarray,
        idx: np.ndarray,
        span: np.ndarray,
        lexed: _LexedText,
        max_matches: int,
    ) -> list[ProvenanceMatch]:
        k, total = self.config.k, len(lexed.tokens)
        matches: list[ProvenanceMatch] = []
        seen: set[int] = set()
        for c in good.tolist():
            first, last = chain_start[c], chain_end[c]
            doc_id = int(doc[first])
            if doc_id in seen:
                continue  # this doc is already reported (with a longer chain)
            end_char = lexed.span(int(qpos[last]) + k - 1).end
            if end_char <= lexed.context_len:
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
                    start=max(0, lexed.span(int(qpos[first])).start - lexed.context_len),
                    end=end_char - lexed.context_len,
                )
            )
            if len(matches) >= max_matches:
                break
        return matches


def _group_by_diagonal(
    doc: np.ndarray, diag: np.ndarray, qpos: np.ndarray, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hits ordered by (doc, diagonal, qpos): (doc, new_group, qpos, idx) in that order.

    `new_group[i]` is True where hit i starts a new (doc, diagonal). The hits arrive in qpos
    order, so their ordinal stands in for qpos: (doc, diagonal, ordinal) packed into one int64 is
    sorted by value (SIMD sort: ~10x faster than a 3-key lexsort on the ~10^4 hits of a copy of
    generated code); a lexsort is the fallback when the three do not fit in 63 bits.
    """
    n = len(doc)
    new_group = np.ones(n, dtype=bool)
    shifted = diag - int(diag.min()) if n else diag
    diag_bits, ord_bits = int(shifted.max(initial=0)).bit_length(), max(n - 1, 0).bit_length()
    if int(doc.max(initial=0)).bit_length() + diag_bits + ord_bits <= 63:
        key = (((doc << diag_bits) | shifted) << ord_bits) | np.arange(n, dtype=np.int64)
        key.sort()
        ordinal = key & ((1 << ord_bits) - 1)
        packed = key >> ord_bits
        new_group[1:] = packed[1:] != packed[:-1]
        return packed >> diag_bits, new_group, qpos[ordinal], idx[ordinal]
    ordinal = np.lexsort((qpos, diag, doc))
    doc, diag = doc[ordinal], diag[ordinal]
    new_group[1:] = (doc[1:] != doc[:-1]) | (diag[1:] != diag[:-1])
    return doc, new_group, qpos[ordinal], idx[ordinal]


def _expand(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ranges [start, start + count) as one int64 array."""
    total = int(counts.sum())
    offsets = np.repeat(starts - np.cumsum(counts) + counts, counts)
    expanded: np.ndarray = offsets + np.arange(total)
    return expanded
