"""plan.py golden values: the textbook two-sample formulas."""

from __future__ import annotations

import pytest

from experiments.ab.plan import (
    PlanConfig,
    compute_plan,
    estimate_mde,
    estimate_power,
    estimate_units_per_arm,
)
from experiments.ab.stats import RatioStat, SampleMeanStat


def test_units_per_arm_golden() -> None:
    # 2 * 0.25 * (1.959964 + 0.841621)^2 / 0.01^2 = 39244.4 -> 39245
    assert estimate_units_per_arm(effect_absolute=0.01, variance_per_unit=0.25) == 39245


def test_power_and_mde_are_inverse() -> None:
    n = estimate_units_per_arm(effect_absolute=0.02, variance_per_unit=0.1, power=0.9)
    assert estimate_power(effect_absolute=0.02, variance_per_unit=0.1, units_per_arm=n) == (
        pytest.approx(0.9, abs=1e-3)
    )
    assert estimate_mde(variance_per_unit=0.1, units_per_arm=n, power=0.9) == pytest.approx(0.02, rel=1e-3)
    assert estimate_power(effect_absolute=0.0, variance_per_unit=0.1, units_per_arm=n) == (pytest.approx(0.05))


def test_plan_reports_design_effect() -> None:
    history = RatioStat(
        n=1000, m=SampleMeanStat(1000, 5000, 60000), d=SampleMeanStat(1000, 20000, 600000), m_d_sum_of_products=170000
    )
    plan = compute_plan(history, PlanConfig(mde_relative=0.05))
    assert plan.baseline_mean == 0.25
    # design effect = Var_unit(ratio) * shown per unit / (p (1 - p))
    assert plan.design_effect == pytest.approx(float(history.variance) * 20 / (0.25 * 0.75))
    assert plan.power == pytest.approx(0.8, abs=0.01)
    given_n = compute_plan(history, PlanConfig(mde_relative=None, units_per_arm=plan.units_per_arm))
    assert given_n.mde_relative == pytest.approx(0.05, rel=1e-3)
