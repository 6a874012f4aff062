"""Reference completions of repository tasks, to check the tasks and the judge end to end.

- "original": each task's own body: every task must pass (else the oracle is broken);
- "notimpl": `raise NotImplementedError`: no task may pass (else the oracle tests nothing);
- "swap": the body of another task (the next one in task-id order whose body differs), moved to
  this task's indentation: close to 0% (a body that fits two functions is rare, not impossible).
"""

from __future__ import annotations

from typing import Literal

from experiments.bench.generate import Sample
from experiments.bench.repo.functions import reindent, stub_body
from experiments.bench.repo.tasks import RepoTask

__all__ = ["REFERENCE_KINDS", "reference_samples"]

ReferenceKind = Literal["original", "notimpl", "swap"]
REFERENCE_KINDS: tuple[ReferenceKind, ...] = ("original", "notimpl", "swap")


def _swapped(tasks: list[RepoTask]) -> dict[str, str]:
    ordered = sorted(tasks, key=lambda t: t.task_id)
    out = {}
    for i, task in enumerate(ordered):
        for step in range(1, len(ordered)):
            other = ordered[(i + step) % len(ordered)]
            body = reindent(other.canonical_solution, other.indent, task.indent)
            if body.strip() != task.canonical_solution.strip():
                out[task.task_id] = body
                break
        else:
            out[task.task_id] = stub_body(task.indent)  # one task, or all bodies alike
    return out


def reference_samples(tasks: list[RepoTask], kind: ReferenceKind) -> list[Sample]:
    """One sample per task of the given kind (sample_idx 0)."""
    if kind == "original":
        bodies = {t.task_id: t.canonical_solution for t in tasks}
    elif kind == "notimpl":
        bodies = {t.task_id: stub_body(t.indent) for t in tasks}
    elif kind == "swap":
        bodies = _swapped(tasks)
    else:
        raise ValueError(f"unknown reference kind {kind!r}; known: {', '.join(REFERENCE_KINDS)}")
    return [Sample(t.task_id, 0, bodies[t.task_id]) for t in tasks]
