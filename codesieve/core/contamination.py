"""The one definition of benchmark contamination: `dedup decontaminate` and `eval contamination` use it.

Definition. A benchmark problem contributes its fields (`problem_items`): the problem statement,
and the reference solution where the data has one (for a completion benchmark such as HumanEval,
prompt + canonical solution, since the solution alone is an indented body). Text is compared as
lexemes (`codesieve.core.shingling`: comments and whitespace dropped, case kept), so re-indenting
or re-commenting a copy does not hide it. A text contains a field when either
- substring: the field has >= `min_substring_lexemes` (20) lexemes and its whole lexeme
  sequence occurs contiguously in the text; or
- n-gram overlap: the text shares >= `min_shared_ngrams` (1) `ngram`-lexeme (25) shingles with
  the field (catches a copy with edits further than one n-gram apart).
`dedup decontaminate` removes every record that contains a field of any problem. `eval
contamination` calls a problem `exact` when some corpus document contains its whole text (its
solution field, else its prompt) as a substring, `near` when a document contains any other field
or shares an n-gram with a field, `clean` otherwise. Both decide with `detect_contamination`, so
a corpus that `dedup decontaminate` leaves is `clean` for every problem under `eval
contamination` with the same parameters (tests/unit/codesieve/core/test_contamination_agreement.py
checks it on a crafted corpus).

Why this definition rather than 5-lexeme shingle containment >= 0.5 (what `eval contamination`
used before):
- It is the one the corpus filter already removed records by: the training data that was cleaned
  is judged by the same test that cleaned it, which is the agreement the two commands need.
- It is local. One verbatim 25-lexeme run (about two lines of code) is evidence of a copy however
  large the document and however little of the problem it holds. Containment scores the share of
  a problem's shingles found in one document, so a document holding 40% of a long solution
  verbatim is `clean` under it (0.4 < 0.5), and the verdict depends on the problem's length.
- It is a per-record decision made in one streaming pass (one hash lookup per shingle, no state
  across records), which is what a corpus filter over millions of files needs.
- It is the usual training-data decontamination test: long n-gram overlap (GPT-3 used 13 words; a
  lexeme is smaller than a word, punctuation counts) plus a normalised substring test.
What it costs: boilerplate runs count. Against the 868 non-test modules of CPython 3.11's stdlib
(lib2to3's test data included), the old test flagged none of HumanEval's 164 problems, this one
flags one: HumanEval/19 `near` a grammar test file, both holding the literal
`{'zero': 0, 'one': 1, ...}` (11 shared 25-grams; 5-lexeme containment 0.18). A copy edited at
least every 25 lexemes (e.g. every identifier renamed) is not found; the provenance index
(`codesieve.core.winnowing`) is the tool for renamed copies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import xxhash

from codesieve.core.benchmarks import Problem, UnknownFormat, load_benchmark, read_jsonl
from codesieve.core.shingling import SHINGLE_SEPARATOR, code_tokens, shingles

__all__ = [
    "BenchmarkIndex",
    "BenchmarkItem",
    "ContaminationConfig",
    "ContaminationFinding",
    "build_benchmark_index",
    "detect_contamination",
    "load_benchmark_items",
    "load_repo_tasks",
    "problem_items",
]


@dataclass(frozen=True)
class ContaminationConfig:
    """Matching parameters (saved with the report)."""

    # 25 lexemes is about two lines of code: long enough that an unrelated file sharing one is
    # rare, short enough to catch a solution pasted with small edits (GPT-3 used 13 words; a
    # lexeme is smaller than a word, punctuation counts).
    ngram: int = 25
    min_shared_ngrams: int = 1
    # Fields shorter than this are not matched as substrings: `return a + b` would hit everywhere.
    min_substring_lexemes: int = 20

    def __post_init__(self) -> None:
        if self.ngram < 1 or self.min_shared_ngrams < 1 or self.min_substring_lexemes < 1:
            raise ValueError("ngram, min_shared_ngrams and min_substring_lexemes must be >= 1")


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

    cfg: ContaminationConfig
    items: tuple[BenchmarkItem, ...]
    ngram_items: dict[int, tuple[int, ...]]  # n-gram hash -> item positions
    needles: dict[int, str]  # item position -> " lexeme lexeme ... " (long enough items only)
    prefix_items: dict[int, tuple[int, ...]]  # hash of a needle's first m lexemes -> positions


def _hash(shingle: str) -> int:
    return xxhash.xxh3_64_intdigest(shingle.encode("utf-8", errors="surrogatepass"))


def build_benchmark_index(items: Iterable[BenchmarkItem], cfg: ContaminationConfig | None = None) -> BenchmarkIndex:
    """Index benchmark items for `detect_contamination`."""
    cfg = cfg or ContaminationConfig()
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


# Fields of a generic JSONL benchmark (one that is not HumanEval, MBPP or MultiPL-E): the first
# present of each role.
_PROMPT_FIELDS = ("prompt", "text", "question", "problem")
_SOLUTION_FIELDS = ("canonical_solution", "code", "solution")


def problem_items(benchmark: str, problems: Iterable[Problem]) -> list[BenchmarkItem]:
    """The fields of each problem that a training text must not contain (see the module docstring).

    - statement: the prompt; for a script benchmark (MBPP) the task description the data gives
      (its prompt wraps the description and a test in a docstring of our making);
    - solution: prompt + canonical solution for a completion benchmark, the solution alone for
      a script benchmark (MBPP's code is a whole program); none without a reference solution.
    """
    items = []
    for p in problems:
        script = p.test_style == "script"
        statement = p.original.get("text") if script else None
        if not isinstance(statement, str):
            statement = p.prompt
        items.append(BenchmarkItem(benchmark, p.task_id, "prompt", statement))
        if p.canonical_solution:
            solution = p.canonical_solution if script else p.prompt + p.canonical_solution
            items.append(BenchmarkItem(benchmark, p.task_id, "solution", solution))
    return items


def load_repo_tasks(path: Path) -> list[BenchmarkItem]:
    """Items from an `eval repo mine` tasks file: each task's whole function as in the repository
    (signature, docstring and body; the text `eval contamination --benchmark repo:FILE` looks for), so
    the corpus drops the code a repository benchmark asks for."""
    if not path.is_file():
        raise ValueError(f"tasks file not found: {path}")
    name = f"repo:{path.name.split('.')[0]}"
    items = []
    for row_no, row in enumerate(read_jsonl(path)):
        function = row.get("function") if isinstance(row, dict) else None
        if not isinstance(function, str) or not function.strip():
            raise ValueError(f"{path}: record {row_no} is not a repository task (no `function`)")
        items.append(BenchmarkItem(name, str(row.get("task_id", row_no)), "function", function))
    return items


def _generic_items(path: Path) -> list[BenchmarkItem]:
    name = path.name.split(".")[0]
    items = []
    for row_no, row in enumerate(read_jsonl(path)):
        task_id = str(row.get("task_id", row_no))
        found = False
        for fields, role in ((_PROMPT_FIELDS, "prompt"), (_SOLUTION_FIELDS, "solution")):
            field = next((f for f in fields if isinstance(row.get(f), str) and row[f].strip()), None)
            if field is not None:
                items.append(BenchmarkItem(name, task_id, role, row[field]))
                found = True
        if not found:
            raise ValueError(f"{path}: record {row_no} has none of {_PROMPT_FIELDS + _SOLUTION_FIELDS}")
    return items


def load_benchmark_items(spec: str, data_dir: Path | None = None) -> list[BenchmarkItem]:
    """Items for a comma-separated spec of benchmarks, each loaded by `codesieve.core.benchmarks`.

    Args:
        spec: names `load_benchmark` knows (humaneval, mbpp, humaneval+, humaneval-<lang>) or
            JSONL(.gz) paths; a file in none of its formats may hold any prompt-like
            (prompt, text, question, problem) and/or solution-like (canonical_solution, code,
            solution) string field per line.
        data_dir: a directory laid out like the benchmark mirror; default: the mirror setting,
            else the data directory (`codesieve eval data fetch NAME`).
    """
    items: list[BenchmarkItem] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part.startswith("repo:"):
            items.extend(load_repo_tasks(Path(part.removeprefix("repo:"))))
            continue
        path = Path(part)
        try:
            bench = load_benchmark(part if path.is_file() else part.lower(), data_dir=data_dir)
        except UnknownFormat:
            items.extend(_generic_items(path))
            continue
        items.extend(problem_items(bench.name, bench.problems))
    if not items:
        raise ValueError("no benchmarks given")
    return items
