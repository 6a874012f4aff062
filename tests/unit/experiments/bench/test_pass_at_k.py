"""Golden values and invariants of the unbiased pass@k estimator."""

from __future__ import annotations

from math import comb

import pytest
from hypothesis import given
from hypothesis import strategies as st

from experiments.bench.pass_at_k import compute_pass_at_k, estimate_pass_at_k, feasible_ks

DECIMALS = 10


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (1, 0, 1, 0.0),
        (1, 1, 1, 1.0),
        (10, 3, 1, 0.3),
        (10, 3, 10, 1.0),
        (10, 1, 5, 0.5),
        (200, 10, 10, 0.4085478661),  # 1 - C(190,10)/C(200,10)
        (5, 0, 5, 0.0),
    ],
)
def test_estimate_pass_at_k_golden(n: int, c: int, k: int, expected: float) -> None:
    assert round(estimate_pass_at_k(n, c, k), DECIMALS) == expected


@given(st.integers(1, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_matches_the_binomial_formula(args: tuple[int, int, int]) -> None:
    n, c, k = args
    exact = 1 - comb(n - c, k) / comb(n, k)
    assert estimate_pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-9)


@given(st.integers(2, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_monotone_in_k(args: tuple[int, int]) -> None:
    n, c = args
    values = [estimate_pass_at_k(n, c, k) for k in range(1, n + 1)]
    assert all(a <= b + 1e-12 for a, b in zip(values, values[1:], strict=False))


@pytest.mark.parametrize(("n", "c", "k"), [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_rejects_impossible_counts(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        estimate_pass_at_k(n, c, k)


def test_compute_pass_at_k_reports_only_feasible_ks() -> None:
    results = {"a": [True] + [False] * 9, "b": [False] * 10, "c": [True] * 10}
    got = compute_pass_at_k(results)
    assert sorted(got.pass_at_k) == [1, 10]
    assert round(got.pass_at_k[1], 6) == round((0.1 + 0 + 1) / 3, 6)
    assert round(got.pass_at_k[10], 6) == round((1 + 0 + 1) / 3, 6)
    assert got.num_tasks == 3
    assert feasible_ks([1, 200, 150]) == [1]
    assert feasible_ks([100, 200]) == [1, 10, 100]
