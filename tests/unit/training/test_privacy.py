"""Budget maths of training.privacy: golden values and the relations the DP report relies on."""

from __future__ import annotations

import pytest

from training.privacy import (
    build_plan,
    compute_default_delta,
    compute_epsilon_prv,
    compute_epsilon_rdp,
    compute_sample_rate,
    compute_steps,
)


def test_default_delta_is_n_to_the_minus_1_1_and_below_1_over_n() -> None:
    assert compute_default_delta(1000) == pytest.approx(1000**-1.1)
    assert round(compute_default_delta(1000), 8) == 0.00050119
    for n in (1, 2, 10, 10_000):
        assert compute_default_delta(n) <= 1 / n
    with pytest.raises(ValueError):
        compute_default_delta(0)


def test_sample_rate_and_steps_match_opacus_dataloader() -> None:
    assert compute_sample_rate(16, 1000) == 1 / 63  # opacus: 1 / len(DataLoader) = 1 / ceil(N/B)
    assert compute_sample_rate(16, 100) == 1 / 7
    assert compute_steps(1 / 7, 3) == 21
    assert compute_steps(1 / 63, 1) == 63


def test_epsilon_golden_values_and_prv_is_tighter_than_rdp() -> None:
    # q=0.01, sigma=1.0, 1000 steps, delta=1e-5 (the Abadi et al. MNIST-like regime)
    rdp = compute_epsilon_rdp(sample_rate=0.01, noise_multiplier=1.0, steps=1000, delta=1e-5)
    prv = compute_epsilon_prv(sample_rate=0.01, noise_multiplier=1.0, steps=1000, delta=1e-5)
    assert round(rdp, 2) == 2.10
    assert round(prv, 2) == 1.84
    assert prv < rdp
    assert compute_epsilon_prv(sample_rate=0.01, noise_multiplier=1.0, steps=0, delta=1e-5) == 0.0


def test_plan_hits_the_target_from_below() -> None:
    # target 1.0: sigma ~ 1, where each PRV evaluation of the noise search is quick
    plan = build_plan(n_units=1000, batch_size=10, epochs=1, target_epsilon=1.0, delta=None, epsilon_tolerance=0.05)
    assert plan.steps == 100 and plan.sample_rate == 0.01 and plan.delta == compute_default_delta(1000)
    eps = compute_epsilon_prv(
        sample_rate=plan.sample_rate, noise_multiplier=plan.noise_multiplier, steps=plan.steps, delta=plan.delta
    )
    assert 1.0 - 0.05 <= eps <= 1.0


def test_plan_refuses_a_delta_not_below_1_over_n() -> None:
    with pytest.raises(ValueError, match="not below 1/N"):
        build_plan(n_units=100, batch_size=10, epochs=1, target_epsilon=2.0, delta=0.01)
