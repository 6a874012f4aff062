"""Which benchmark problems appear in a training corpus, exactly or nearly (dedup's lexer and shingles).

A problem's text is its prompt plus its reference solution where the data has one. It is
- `exact` when its whole lexeme sequence occurs contiguously inside one corpus document (comments
  and whitespace ignored, as `codesieve.core.shingling` lexes them);
- `near` when at least `near_threshold` of its 5-lexeme shingles are contained in one document
  (containment, not Jaccard: a copied problem sits inside a larger file);
- `clean` otherwise.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from codesieve.core.shingling import code_tokens, shingles
from experiments.bench.problems import Problem

__all__ = ["ContaminationConfig", "ContaminationFinding", "check_contamination", "summarize_contamination"]

Status = Literal["exact", "near", "clean"]
_SEP = "\x1f"  # the separator codesieve.core.shingling joins shingles with; no lexeme contains it


@dataclass(frozen=True)
class ContaminationConfig:
    ngram: int = 5  # dedup's shingle size
    near_threshold: float = 0.5  # share of the problem's shingles found in one document
    min_tokens: int = 20  # shorter problem texts are too generic to call contaminated


@dataclass(frozen=True)
class ContaminationFinding:
    task_id: str
    status: Status
    containment: float  # best share of the problem's shingles found in one document
    doc_id: str | None  # that document


def _problem_text(problem: Problem) -> str:
    return problem.prompt + (problem.canonical_solution or "")


def check_contamination(
    problems: Sequence[Problem],
    corpus: Iterable[tuple[str, str]],
    cfg: ContaminationConfig = ContaminationConfig(),
) -> list[ContaminationFinding]:
    """Classify every problem against a corpus of (doc_id, text) documents.

    Args:
        problems: benchmark problems.
        corpus: documents, streamed once.
        cfg: shingle size and thresholds.
    Returns:
        one finding per problem, in order.
    """
    tokens = {p.task_id: code_tokens(_problem_text(p)) for p in problems}
    wanted: dict[str, set[str]] = {t: set(shingles(toks, cfg.ngram)) for t, toks in tokens.items()}
    owners: dict[str, list[str]] = defaultdict(list)
    for task_id, sh in wanted.items():
        for s in sh:
            owners[s].append(task_id)
    best: dict[str, tuple[float, str | None]] = dict.fromkeys(wanted, (0.0, None))
    exact: dict[str, str] = {}
    for doc_id, text in corpus:
        doc_tokens = code_tokens(text)
        hits: Counter[str] = Counter()
        for s in set(shingles(doc_tokens, cfg.ngram)):
            for task_id in owners.get(s, ()):
                hits[task_id] += 1
        joined = None
        for task_id, count in hits.items():
            share = count / len(wanted[task_id])
            if share > best[task_id][0]:
                best[task_id] = (share, doc_id)
            if share == 1.0 and task_id not in exact:
                joined = joined if joined is not None else _SEP + _SEP.join(doc_tokens) + _SEP
                if _SEP + _SEP.join(tokens[task_id]) + _SEP in joined:
                    exact[task_id] = doc_id
    out = []
    for p in problems:
        share, best_doc = best[p.task_id]
        status: Status = "clean"
        if len(tokens[p.task_id]) < cfg.min_tokens or not wanted[p.task_id]:
            status = "clean"
        elif p.task_id in exact:
            status, best_doc, share = "exact", exact[p.task_id], 1.0
        elif share >= cfg.near_threshold:
            status = "near"
        out.append(ContaminationFinding(p.task_id, status, round(share, 4), best_doc if share > 0 else None))
    return out


def summarize_contamination(
    findings: Sequence[ContaminationFinding], run_summary: dict[str, Any] | None = None
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
