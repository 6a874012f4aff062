"""Prints the validation-suite figures (the tests assert them; this shows the numbers).

    .venv/bin/python benchmarks/ab_validation.py

Same seeds and sizes as tests/unit/experiments/ab/test_ab_validation.py: 2,000 simulated
experiments of 1,000 units with unit-level heterogeneity in usage and acceptance.
"""

from __future__ import annotations

import time

import numpy as np
from statsmodels.stats.proportion import proportions_ztest

from experiments.ab.metrics import MetricSpec, build_stat, required_moments
from experiments.ab.plan import PlanConfig, compute_plan
from experiments.ab.significance import (
    apply_cuped,
    compute_confidence_sequence,
    compute_srm_p_value,
    compute_welch_test,
)
from experiments.ab.simulation import (
    P_MAX,
    SimulatedUnits,
    compute_batch_moments,
    simulate_units,
)

N_EXP, N_UNITS, ALPHA = 2000, 1000, 0.05
ACCEPTANCE = MetricSpec("acceptance_rate", "", "ratio", "n_accepted", "n_shown")
SHOWN = MetricSpec("shown_per_unit", "", "mean", "n_shown", covariate="pre_n_shown")


def _stats(sim: SimulatedUnits, spec: MetricSpec, *, cuped: bool = False):  # type: ignore[no-untyped-def]
    cols, prods = required_moments((spec,), with_cuped=cuped)
    a = build_stat(spec, compute_batch_moments(sim, cols, prods, treatment=False), with_cuped=cuped)
    b = build_stat(spec, compute_batch_moments(sim, cols, prods, treatment=True), with_cuped=cuped)
    return apply_cuped(a, b) if cuped else (a, b)  # type: ignore[arg-type]


def main() -> None:
    t0 = time.perf_counter()
    aa = simulate_units(np.random.default_rng(20261122), n_experiments=N_EXP, n_units=N_UNITS)
    print(f"A/A false-positive rates over {N_EXP} experiments (target 5% +- 1.5%):")
    for label, spec, rel, cuped in [
        ("acceptance (delta method), absolute", ACCEPTANCE, False, False),
        ("acceptance (delta method), relative", ACCEPTANCE, True, False),
        ("shown per unit (Welch)", SHOWN, False, False),
        ("shown per unit, CUPED", SHOWN, False, True),
    ]:
        a, b = _stats(aa, spec, cuped=cuped)
        w = compute_welch_test(a, b, relative=rel)
        seq = compute_confidence_sequence(w, np.asarray(a.n) + np.asarray(b.n))
        print(f"  {label:40s} fixed {np.mean(w.p_value < ALPHA):.2%}   always-valid {np.mean(seq.p_value < ALPHA):.2%}")
    counts = np.stack([(~aa.is_treatment).sum(1), aa.is_treatment.sum(1)], axis=1)
    srm = compute_srm_p_value(counts, [1, 1])
    print(f"  SRM chi-square at 0.05: {np.mean(srm < 0.05):.2%}; at 0.001: {np.mean(srm < 0.001):.2%}")
    acc, shown, t = aa.columns["n_accepted"], aa.columns["n_shown"], aa.is_treatment
    naive = np.array(
        [
            proportions_ztest(
                [acc[i][t[i]].sum(), acc[i][~t[i]].sum()],
                [shown[i][t[i]].sum(), shown[i][~t[i]].sum()],
            )[1]
            for i in range(N_EXP)
        ]
    )
    print(f"  naive event-level two-proportion z test: {np.mean(naive < ALPHA):.2%}  <- refused")

    sim = simulate_units(np.random.default_rng(11), n_experiments=N_EXP, n_units=N_UNITS, effect_relative=0.1)
    w = compute_welch_test(*_stats(sim, ACCEPTANCE), relative=True)
    print(
        f"95% CI coverage (acceptance, relative, +10% planted): {np.mean((w.ci_low <= 0.1) & (0.1 <= w.ci_high)):.2%}"
    )
    w = compute_welch_test(*_stats(sim, ACCEPTANCE))
    truth = P_MAX * 0.4 * 0.1
    print(f"95% CI coverage (acceptance, absolute): {np.mean((w.ci_low <= truth) & (truth <= w.ci_high)):.2%}")

    rng = np.random.default_rng(5)
    hist = simulate_units(rng, n_experiments=1, n_units=20000)
    cols, prods = required_moments((ACCEPTANCE,), with_cuped=False)
    hist_all = SimulatedUnits(np.ones_like(hist.is_treatment), hist.columns)
    moments = {k: float(v[0]) for k, v in compute_batch_moments(hist_all, cols, prods, treatment=True).items()}
    plan = compute_plan(
        build_stat(ACCEPTANCE, moments, with_cuped=False),  # type: ignore[arg-type]
        PlanConfig(mde_relative=0.08, units_per_arm=500),
    )
    sim = simulate_units(rng, n_experiments=N_EXP, n_units=1000, effect_relative=0.08)
    emp = np.mean(compute_welch_test(*_stats(sim, ACCEPTANCE)).p_value < ALPHA)
    print(
        f"power at +8%, 500 units/arm: plan {plan.power:.3f}, simulated {emp:.3f} "
        f"(design effect {plan.design_effect:.2f})"
    )
    print(f"elapsed {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
