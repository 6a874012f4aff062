"""Which benchmark problems appear in a training corpus, exactly or nearly, per problem.

The test is `codesieve.core.contamination`'s (the one `dedup decontaminate` removes records by):
a problem is
- `exact` when some corpus document contains its whole text (the reference solution field, which
  for HumanEval is prompt + solution; the prompt where there is no solution) as a contiguous
  lexeme run (comments and whitespace ignored);
- `near` when some document contains another field (the prompt alone) or shares a `ngram`-lexeme
  shingle (25) with one of its fields;
- `clean` otherwise: then no document would be removed for it by `dedup decontaminate`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from codesieve.core.benchmarks import Problem
from codesieve.core.contamination import (
    ContaminationConfig,
    build_benchmark_index,
    detect_contamination,
    problem_items,
)

__all__ = ["ProblemContamination", "check_contamination", "summarize_contamination"]

Status = Literal["exact", "near", "clean"]
_RANK = {"clean": 0, "near": 1, "exact": 2}


@dataclass(frozen=True)
class ProblemContamination:
    """The strongest evidence found for one problem: the document and field it was found in."""

    task_id: str
    status: Status
    shared_ngrams: int  # n-grams that document shares with that field
    doc_id: str | None
    field: str | None  # "prompt" | "solution"


def check_contamination(
    problems: Sequence[Problem],
    corpus: Iterable[tuple[str, str]],
    cfg: ContaminationConfig | None = None,
) -> list[ProblemContamination]:
    """Classify every problem against a corpus of (doc_id, text) documents.

    Args:
        problems: benchmark problems.
        corpus: documents, streamed once.
        cfg: the contamination parameters (n-gram and substring lengths).
    Returns:
        one finding per problem, in order; per problem the first document with the strongest
        evidence (exact before near, then more shared n-grams).
    """
    items = problem_items("", problems)
    # a problem's whole text: its solution field where it has one (see problem_items), else its prompt
    whole = {i.task_id: i.field for i in items}
    index = build_benchmark_index(items, cfg)
    best: dict[str, ProblemContamination] = {}
    for doc_id, text in corpus:
        for f in detect_contamination(text, index):
            status: Status = "exact" if f.reason == "substring" and f.field == whole[f.task_id] else "near"
            found = ProblemContamination(f.task_id, status, f.shared_ngrams, doc_id, f.field)
            current = best.get(f.task_id)
            if current is None or (_RANK[status], f.shared_ngrams) > (_RANK[current.status], current.shared_ngrams):
                best[f.task_id] = found
    return [best.get(p.task_id) or ProblemContamination(p.task_id, "clean", 0, None, None) for p in problems]


def summarize_contamination(
    findings: Sequence[ProblemContamination], run_summary: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Counts per status; with a run's summary, pass rates on the clean and contaminated tasks."""
    counts = Counter(f.status for f in findings)
    out: dict[str, Any] = {
        "num_problems": len(findings),
        "exact": counts["exact"],
        "near": counts["near"],
        "clean": counts["clean"],
        "contaminated": sorted(f.task_id for f in findings if f.status != "clean"),
    }
    if run_summary is not None:
        per_task = run_summary["per_task"]
        for label, keep in (("clean", {"clean"}), ("contaminated", {"exact", "near"})):
            ids = [f.task_id for f in findings if f.status in keep and f.task_id in per_task]
            rates = [per_task[t]["passed"] / per_task[t]["n"] for t in ids]
            out[f"pass_rate_{label}"] = round(100 * sum(rates) / len(rates), 2) if rates else None
        out["flagged"] = bool(out["contaminated"])
    return out
