"""Benchmark decontamination (pure): does a file contain a benchmark's prompt or solution?

Text is compared as lexemes (codesieve.core.shingling: comments and whitespace dropped, case kept), so
re-indenting or re-commenting a copied solution does not hide it. Two tests, either is enough:
- normalised exact substring: a benchmark field of >= `min_substring_lexemes` lexemes occurs
  as a contiguous lexeme run in the file;
- long n-gram overlap: the file shares >= `min_shared_ngrams` `ngram`-lexeme shingles with a
  benchmark field (catches a copy with edits further than one n-gram apart).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import xxhash

from codesieve.core.shingling import SHINGLE_SEPARATOR, code_tokens, shingles

__all__ = [
    "BenchmarkIndex",
    "BenchmarkItem",
    "ContaminationFinding",
    "DecontaminationConfig",
    "build_benchmark_index",
    "detect_contamination",
]


@dataclass(frozen=True)
class DecontaminationConfig:
    """Matching parameters (saved with the report)."""

    # 25 lexemes is about two lines of code: long enough that an unrelated file sharing one is
    # rare, short enough to catch a solution pasted with small edits (GPT-3 used 13 words; a
    # lexeme is smaller than a word, punctuation counts).
    ngram: int = 25
    min_shared_ngrams: int = 1
    # Fields shorter than this are not matched as substrings: `return a + b` would hit everywhere.
    min_substring_lexemes: int = 20


@dataclass(frozen=True)
class BenchmarkItem:
    """One benchmark text to look for: e.g. ("humaneval", "HumanEval/0", "prompt", text)."""

    benchmark: str
    task_id: str
    field: str
    text: str


@dataclass(frozen=True)
class ContaminationFinding:
    """Why a file is contaminated: which item, and by which test."""

    benchmark: str
    task_id: str
    field: str
    reason: str  # "substring" | "ngram_overlap"
    shared_ngrams: int


@dataclass(frozen=True)
class BenchmarkIndex:
    """Hashed n-grams and substring prefixes of every benchmark item (built once)."""

    cfg: DecontaminationConfig
    items: tuple[BenchmarkItem, ...]
    ngram_items: dict[int, tuple[int, ...]]  # n-gram hash -> item positions
    needles: dict[int, str]  # item position -> " lexeme lexeme ... " (long enough items only)
    prefix_items: dict[int, tuple[int, ...]]  # hash of a needle's first m lexemes -> positions


def _hash(shingle: str) -> int:
    return xxhash.xxh3_64_intdigest(shingle.encode("utf-8", errors="surrogatepass"))


def build_benchmark_index(items: Iterable[BenchmarkItem], cfg: DecontaminationConfig | None = None) -> BenchmarkIndex:
    """Index benchmark items for `detect_contamination`."""
    cfg = cfg or DecontaminationConfig()
    kept = tuple(items)
    ngram_items: dict[int, set[int]] = defaultdict(set)
    prefix_items: dict[int, set[int]] = defaultdict(set)
    needles: dict[int, str] = {}
    m = cfg.min_substring_lexemes
    for pos, item in enumerate(kept):
        tokens = code_tokens(item.text)
        for shingle in shingles(tokens, cfg.ngram):
            ngram_items[_hash(shingle)].add(pos)
        if len(tokens) >= m:
            needles[pos] = " " + " ".join(tokens) + " "
            prefix_items[_hash(SHINGLE_SEPARATOR.join(tokens[:m]))].add(pos)
    return BenchmarkIndex(
        cfg=cfg,
        items=kept,
        ngram_items={k: tuple(sorted(v)) for k, v in ngram_items.items()},
        needles=needles,
        prefix_items={k: tuple(sorted(v)) for k, v in prefix_items.items()},
    )


def detect_contamination(text: str, index: BenchmarkIndex) -> list[ContaminationFinding]:
    """Benchmark items found in `text`, one finding per item, ordered by item.

    Returns:
        [] for a clean file.
    """
    cfg = index.cfg
    tokens = code_tokens(text)
    shared: dict[int, int] = defaultdict(int)
    for shingle in set(shingles(tokens, cfg.ngram)):
        for pos in index.ngram_items.get(_hash(shingle), ()):
            shared[pos] += 1
    substring_hits: set[int] = set()
    candidates = {
        pos
        for shingle in shingles(tokens, cfg.min_substring_lexemes)
        for pos in index.prefix_items.get(_hash(shingle), ())
    }
    if candidates:
        haystack = " " + " ".join(tokens) + " "
        substring_hits = {pos for pos in candidates if index.needles[pos] in haystack}
    findings = []
    for pos in sorted(substring_hits | {p for p, n in shared.items() if n >= cfg.min_shared_ngrams}):
        item = index.items[pos]
        findings.append(
            ContaminationFinding(
                benchmark=item.benchmark,
                task_id=item.task_id,
                field=item.field,
                reason="substring" if pos in substring_hits else "ngram_overlap",
                shared_ngrams=shared.get(pos, 0),
            )
        )
    return findings


def summarise_findings(findings: Sequence[ContaminationFinding]) -> str:
    """A short reason string for a removed record, e.g. `humaneval:HumanEval/3:prompt:substring`."""
    return "; ".join(f"{f.benchmark}:{f.task_id}:{f.field}:{f.reason}" for f in findings)
