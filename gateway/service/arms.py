"""Experiment arm assignment: a deterministic hash of (salt, unit id), so a unit keeps its arm
across replicas and restarts with no shared state. Pure functions plus a small registry."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.protocol.experiments import Arm, ExperimentDefinition

_SCALE = float(2**64)


def compute_bucket(salt: str, unit_id: str) -> float:
    """Uniform value in [0, 1) from the first 64 bits of SHA-256(salt ':' unit_id)."""
    digest = hashlib.sha256(f"{salt}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def assign_arm(exp: ExperimentDefinition, unit_id: str) -> Arm:
    """The arm whose cumulative-weight interval contains the unit's bucket."""
    total = sum(a.weight for a in exp.arms)
    point = compute_bucket(exp.effective_salt, unit_id) * total
    upper = 0.0
    for arm in exp.arms:
        upper += arm.weight
        if point < upper:
            return arm
    return exp.arms[-1]  # float rounding at the very top


@dataclass(frozen=True, slots=True)
class Assignment:
    experiment: ExperimentDefinition
    arm: Arm


class ExperimentRegistry:
    """The experiments the gateway knows, and which one applies at a given moment.

    At most one experiment runs at a time (overlapping windows are refused when defined), so arm
    overrides never conflict.
    """

    def __init__(self, definitions: Iterable[ExperimentDefinition] = ()) -> None:
        self._by_name = {d.name: d for d in definitions}

    def all(self) -> list[ExperimentDefinition]:
        return sorted(self._by_name.values(), key=lambda d: d.name)

    def replace(self, definitions: Iterable[ExperimentDefinition]) -> None:
        self._by_name = {d.name: d for d in definitions}

    def conflicting(self, new: ExperimentDefinition, now: datetime | None = None) -> str | None:
        """Name of an existing experiment whose window overlaps `new`'s from `now` on, if any.

        Windows are clipped to [now, +inf): a finished experiment never conflicts, and a missing
        start means "from now".
        """
        now_ts = (now or datetime.now(UTC)).timestamp()
        for other in self._by_name.values():
            if other.name != new.name and _overlaps(other, new, now_ts):
                return other.name
        return None

    def active(self, now: datetime) -> ExperimentDefinition | None:
        for d in self._by_name.values():
            if (d.start is None or d.start <= now) and (d.stop is None or now < d.stop):
                return d
        return None

    def assign(self, now: datetime, *, user_unit: str, machine_unit: str | None) -> Assignment | None:
        exp = self.active(now)
        if exp is None:
            return None
        unit = machine_unit if exp.unit == "machine" and machine_unit else user_unit
        return Assignment(exp, assign_arm(exp, unit))


def _overlaps(a: ExperimentDefinition, b: ExperimentDefinition, now_ts: float) -> bool:
    lo_a = max(now_ts, a.start.timestamp() if a.start else now_ts)
    hi_a = a.stop.timestamp() if a.stop else float("inf")
    lo_b = max(now_ts, b.start.timestamp() if b.start else now_ts)
    hi_b = b.stop.timestamp() if b.stop else float("inf")
    return lo_a < hi_b and lo_b < hi_a
