"""training.canaries: deterministic canary sets, insertion records, rank and exposure golden values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.canaries import (
    CanarySet,
    build_canaries,
    canary_records,
    compute_exposure,
    compute_rank,
)


def test_canary_set_is_deterministic_and_disjoint() -> None:
    a = build_canaries(per_count=3, n_references=50, seed=1)
    b = build_canaries(per_count=3, n_references=50, seed=1)
    assert a == b and a != build_canaries(per_count=3, n_references=50, seed=2)
    assert sorted(a.inserted.values()) == [1, 1, 1, 4, 4, 4, 16, 16, 16]
    assert len(a.references) == 50 and not set(a.references) & set(a.inserted)
    assert CanarySet.from_dict(a.to_dict()) == a


def test_each_insertion_is_its_own_record() -> None:
    cset = build_canaries(per_count=1, n_references=5, seed=0)
    rows = canary_records(cset)
    assert len(rows) == 1 + 4 + 16 and len({r["id"] for r in rows}) == 21
    for secret, count in cset.inserted.items():
        assert sum(r["content"] == cset.text(secret) for r in rows) == count


def test_rank_and_exposure_golden() -> None:
    refs = np.array([1.0, 2.0, 3.0, 4.0])
    assert compute_rank(0.5, refs) == 1  # more likely than every reference
    assert compute_rank(2.5, refs) == 3
    assert compute_rank(9.0, refs) == 5
    assert compute_exposure(1, 1024) == pytest.approx(10.0)  # fully exposed: log2 |R|
    assert compute_exposure(1024, 1024) == 0.0
    assert compute_exposure(256, 1024) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        compute_exposure(0, 10)


def test_exposure_of_a_random_rank_is_about_log2_e() -> None:
    """Chance level: an unmemorized canary ranks uniformly; mean exposure -> log2(e) ~ 1.44 bits."""
    n = 1000
    mean = sum(compute_exposure(r, n) for r in range(1, n + 1)) / n
    assert mean == pytest.approx(math.log2(math.e), abs=0.02)
