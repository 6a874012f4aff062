"""Paired comparison of two runs: the exact sign test equals statsmodels' exact McNemar test."""

from __future__ import annotations

import pytest
from statsmodels.stats.contingency_tables import mcnemar

from experiments.bench.compare import compare_runs, render_comparison


def _runs(pairs: list[tuple[int, int]]) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    a = {f"T/{i}": {"n": 1, "passed": x} for i, (x, _) in enumerate(pairs)}
    b = {f"T/{i}": {"n": 1, "passed": y} for i, (_, y) in enumerate(pairs)}
    return a, b


def test_binary_runs_match_exact_mcnemar() -> None:
    pairs = [(1, 1)] * 30 + [(0, 0)] * 40 + [(1, 0)] * 3 + [(0, 1)] * 12
    a, b = _runs(pairs)
    result = compare_runs(a, b)
    table = [[30, 3], [12, 40]]
    assert result.p_value == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12)
    assert (result.a_better, result.b_better, result.ties) == (3, 12, 70)
    assert result.num_tasks == 85
    assert result.diff == pytest.approx(100 * (42 - 33) / 85, abs=0.01)
    assert "McNemar" in result.test
    assert "B - A" in render_comparison(result, "base", "dp")


def test_identical_runs_are_not_significant() -> None:
    a, b = _runs([(1, 1), (0, 0)])
    assert compare_runs(a, b).p_value == 1.0


def test_multi_sample_runs_use_the_sign_test_on_rates() -> None:
    a = {"x": {"n": 10, "passed": 2}, "y": {"n": 10, "passed": 5}, "z": {"n": 10, "passed": 5}}
    b = {"x": {"n": 10, "passed": 8}, "y": {"n": 10, "passed": 5}, "w": {"n": 10, "passed": 1}}
    result = compare_runs(a, b)
    assert result.num_tasks == 2 and result.only_in_a == 1 and result.only_in_b == 1
    assert (result.a_better, result.b_better) == (0, 1)
    assert result.test.startswith("exact sign test")


def test_no_common_tasks_is_an_error() -> None:
    with pytest.raises(ValueError, match="no task in common"):
        compare_runs({"a": {"n": 1, "passed": 1}}, {"b": {"n": 1, "passed": 1}})
