"""The protocol that makes pass@k numbers comparable: sampling checks, quick-signal labels, and the
failure-mode and execution-time distributions of a run. Pure functions over plain data.

Protocol (Chen et al. 2021; EvalPlus): pass@1 from greedy decoding or temperature 0.2; pass@k for
k > 1 from n >= k samples per task at a temperature around 0.8. A run outside it still gets its
numbers, with a warning saying which number is not comparable (or is refused under --strict-protocol).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

__all__ = ["failure_modes", "protocol_warnings", "quick_signal_label", "time_distribution"]

PASS_AT_1_MAX_TEMPERATURE = 0.2  # greedy (0) or 0.2 for pass@1
PASS_AT_K_TEMPERATURE = (0.6, 1.0)  # "around 0.8" for k > 1
REPORTED_KS = (1, 10, 100)


def protocol_warnings(n: int | None, temperature: float | None) -> list[str]:
    """What the request cannot estimate, or estimates off-protocol.

    Args:
        n: samples per task (None: pre-generated samples of unknown sampling).
        temperature: the sampling temperature (None: unknown).
    Returns:
        one sentence per problem; empty when the run follows the protocol.
    """
    if n is None or temperature is None:
        return []  # pre-generated samples: their sampling is the publisher's to state
    out = []
    missing = [k for k in REPORTED_KS if k > 1 and n < k]
    if missing and n > 1:
        out.append(f"pass@{'/'.join(map(str, missing))} not estimated: pass@k needs n >= k samples per task (n={n})")
    if n == 1 and temperature > PASS_AT_1_MAX_TEMPERATURE:
        out.append(
            f"pass@1 from one sample at temperature {temperature} is one random draw per task: "
            f"use greedy (0) or n >= 10 at {PASS_AT_1_MAX_TEMPERATURE}"
        )
    low, high = PASS_AT_K_TEMPERATURE
    if n > 1 and not low <= temperature <= high:
        out.append(
            f"pass@k for k > 1 is estimated at a temperature around 0.8; temperature {temperature} "
            "makes it incomparable with published pass@10/pass@100"
        )
    return out


def quick_signal_label(limit: int | None, total: int, n: int | None) -> str | None:
    """The label every output of a first-N-tasks run carries, or None for a full run."""
    if limit is None or limit >= total:
        return None
    return f"QUICK SIGNAL: first {limit} of {total} tasks, n={n if n is not None else '?'}; not a benchmark score"


def failure_modes(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Failed samples by mode: syntax_error, runtime_error:<Type>, wrong_answer, timeout,
    sandbox_violation, memory, crash, blocked (by a gateway filter)."""
    modes: Counter[str] = Counter()
    for row in rows:
        if row.get("passed"):
            continue
        category = str(row.get("category", "crash"))
        if category in ("assertion", "wrong_answer"):
            modes["wrong_answer"] += 1
        elif category.startswith("exception:"):
            modes["runtime_error:" + category.removeprefix("exception:")] += 1
        else:
            modes[category] += 1
    return dict(modes.most_common())


def time_distribution(durations_s: Sequence[float]) -> dict[str, float]:
    """Execution time per sample (judging wall time): min, p50, p90, p99, max and total, seconds."""
    if not durations_s:
        return {}
    ordered = sorted(durations_s)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)

    return {
        "min": round(ordered[0], 4),
        "p50": pct(0.5),
        "p90": pct(0.9),
        "p99": pct(0.99),
        "max": round(ordered[-1], 4),
        "total": round(sum(ordered), 2),
    }
