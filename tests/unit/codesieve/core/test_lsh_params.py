"""LSH parameter maths: golden values and the issue's 25x10 default."""

from __future__ import annotations

import numpy as np

from codesieve.core.lsh_params import collision_probability, optimal_bands_rows, s_curve_threshold


def test_optimum_for_issue_defaults_is_25_bands_of_10_rows() -> None:
    assert optimal_bands_rows(0.7, 256) == (25, 10)


def test_collision_probability_golden_values() -> None:
    got = collision_probability(np.array([0.5, 0.7, 0.8, 0.9]), 25, 10)
    np.testing.assert_allclose(got, [0.0241, 0.5115, 0.9416, 1.0000], atol=1e-4)


def test_s_curve_midpoint() -> None:
    assert round(s_curve_threshold(25, 10), 4) == 0.7248


def test_higher_threshold_asks_for_more_rows_per_band() -> None:
    b_low, r_low = optimal_bands_rows(0.5, 128)
    b_high, r_high = optimal_bands_rows(0.9, 128)
    assert r_high > r_low and b_high < b_low
