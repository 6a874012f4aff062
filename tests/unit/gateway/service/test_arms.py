"""Arm assignment: deterministic, weight-proportional, independent across salts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from gateway.protocol.experiments import ExperimentDefinition
from gateway.service.arms import ExperimentRegistry, assign_arm, compute_bucket


def _exp(**kw: object) -> ExperimentDefinition:
    base = {"name": "e", "arms": [{"name": "a", "weight": 1}, {"name": "b", "weight": 2}, {"name": "c", "weight": 1}]}
    return ExperimentDefinition.model_validate({**base, **kw})


def test_shares_match_weights_within_one_percent_over_100k_units() -> None:
    exp = _exp()
    counts = Counter(assign_arm(exp, f"unit-{i}").name for i in range(100_000))
    for arm, share in (("a", 0.25), ("b", 0.5), ("c", 0.25)):
        assert abs(counts[arm] / 100_000 - share) <= 0.01


def test_assignment_is_deterministic_and_salt_dependent() -> None:
    assert compute_bucket("s", "u1") == compute_bucket("s", "u1")
    first = [assign_arm(_exp(salt="one"), f"u{i}").name for i in range(2000)]
    again = [assign_arm(_exp(salt="one"), f"u{i}").name for i in range(2000)]
    other = [assign_arm(_exp(salt="two"), f"u{i}").name for i in range(2000)]
    assert first == again
    agreement = sum(x == y for x, y in zip(first, other, strict=True)) / 2000
    assert 0.25 < agreement < 0.5  # independent re-randomization: P(same) = .25^2 + .5^2 + .25^2 = .375


def test_registry_windows_and_overlap() -> None:
    now = datetime.now(UTC)
    past = _exp(name="past", start=now - timedelta(days=2), stop=now - timedelta(days=1))
    live = _exp(name="live", start=now - timedelta(hours=1))
    reg = ExperimentRegistry([past, live])
    assert reg.active(now).name == "live"  # type: ignore[union-attr]
    assert reg.conflicting(_exp(name="new")) == "live"
    assert reg.conflicting(_exp(name="old", start=now - timedelta(days=5), stop=now - timedelta(days=3))) is None
    machine = _exp(name="m", unit="machine")
    reg2 = ExperimentRegistry([machine])
    got = reg2.assign(now, user_unit="user-x", machine_unit="machine-y")
    assert got is not None and got.arm == assign_arm(machine, "machine-y")
