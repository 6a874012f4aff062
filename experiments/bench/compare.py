"""`codesieve eval compare`: paired per-task comparison of two runs with an exact significance test.

Both runs are reduced to one pass rate per task (passed / samples). Only tasks present in both runs
count. The test is the exact two-sided sign test on the tasks where the runs differ (ties dropped);
with one sample per task this is exactly McNemar's exact test on the discordant pairs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ComparisonResult", "compare_runs", "render_comparison"]


@dataclass(frozen=True)
class ComparisonResult:
    num_tasks: int
    mean_a: float  # mean per-task pass rate of run A, percent
    mean_b: float
    diff: float  # mean_b - mean_a, percentage points
    a_better: int  # tasks where A's pass rate is higher
    b_better: int
    ties: int
    p_value: float
    test: str
    only_in_a: int
    only_in_b: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def compare_runs(per_task_a: dict[str, dict[str, int]], per_task_b: dict[str, dict[str, int]]) -> ComparisonResult:
    """Compare two runs' `per_task` blocks ({task: {"n": samples, "passed": k}}) task by task."""
    from scipy.stats import binomtest

    common = sorted(per_task_a.keys() & per_task_b.keys())
    if not common:
        raise ValueError("the two runs have no task in common")
    rate_a = {t: per_task_a[t]["passed"] / per_task_a[t]["n"] for t in common}
    rate_b = {t: per_task_b[t]["passed"] / per_task_b[t]["n"] for t in common}
    a_better = sum(rate_a[t] > rate_b[t] for t in common)
    b_better = sum(rate_b[t] > rate_a[t] for t in common)
    discordant = a_better + b_better
    p_value = binomtest(a_better, discordant, 0.5).pvalue if discordant else 1.0
    binary = all(per_task_a[t]["n"] == 1 and per_task_b[t]["n"] == 1 for t in common)
    mean_a = 100 * sum(rate_a.values()) / len(common)
    mean_b = 100 * sum(rate_b.values()) / len(common)
    return ComparisonResult(
        num_tasks=len(common),
        mean_a=round(mean_a, 2),
        mean_b=round(mean_b, 2),
        diff=round(mean_b - mean_a, 2),
        a_better=a_better,
        b_better=b_better,
        ties=len(common) - discordant,
        p_value=float(p_value),
        test="exact McNemar (sign test on discordant tasks)" if binary else "exact sign test on per-task pass rates",
        only_in_a=len(per_task_a.keys() - per_task_b.keys()),
        only_in_b=len(per_task_b.keys() - per_task_a.keys()),
    )


def render_comparison(result: ComparisonResult, name_a: str, name_b: str) -> str:
    """Markdown table of a comparison."""
    return "\n".join(
        [
            f"# {name_a} (A) vs {name_b} (B)",
            "",
            "| | value |",
            "| --- | --- |",
            f"| tasks compared | {result.num_tasks} |",
            f"| mean pass rate A / B (%) | {result.mean_a:.2f} / {result.mean_b:.2f} |",
            f"| B - A (points) | {result.diff:+.2f} |",
            f"| tasks A better / B better / tie | {result.a_better} / {result.b_better} / {result.ties} |",
            f"| p-value ({result.test}) | {result.p_value:.4g} |",
            "",
        ]
    )
