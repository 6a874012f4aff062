"""Validation suite: the report's tests on simulated telemetry with within-unit correlation.

Thousands of simulated experiments run at once through the same stats/significance functions the
report calls (vectorised over experiments). Seeds are fixed, so the figures are reproducible;
tolerances are ~3 binomial standard errors of the simulated rates.
"""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.proportion import proportions_ztest

from experiments.ab.analysis import AbReportConfig, run_analysis
from experiments.ab.metrics import DEFAULT_METRICS, MetricSpec, build_stat, required_moments
from experiments.ab.plan import PlanConfig, compute_plan
from experiments.ab.significance import (
    adjust_p_values,
    apply_cuped,
    compute_confidence_sequence,
    compute_noninferiority_test,
    compute_srm_p_value,
    compute_welch_test,
)
from experiments.ab.simulation import (
    P_MAX,
    SimulatedUnits,
    compute_batch_moments,
    compute_single_moments,
    holm_adjust_batch,
    simulate_units,
    true_values,
)
from experiments.ab.stats import RatioStat
from factories import ab_metric

N_EXPERIMENTS = 2000  # binomial SE of a 5 % rate: 0.49 points; +-1.5 points is ~3 SE
N_UNITS = 1000
ALPHA = 0.05

ACCEPTANCE = ab_metric("acceptance_rate")
PERSISTENCE = ab_metric("persistence_rate_30s")
SHOWN = ab_metric("shown_per_unit")
LATENCY = ab_metric("latency_mean_ms")
ERRORS = ab_metric("error_rate")
CAR = ab_metric("car")
WCAR = ab_metric("wcar")
PCW = ab_metric("pcw")
ALL_SPECS = (ACCEPTANCE, PERSISTENCE, SHOWN, LATENCY, ERRORS, CAR, WCAR, PCW)
# The eight metrics that were Holm-adjusted together before metric roles (issue 20)
OLD_GOAL_FAMILY = tuple(
    ab_metric(n)
    for n in (
        "acceptance_rate",
        *(f"persistence_rate_{s}s" for s in (15, 30, 120, 300, 600)),
        "retained_chars_per_unit",
        "shown_per_unit",
    )
)


def _stats(sim: SimulatedUnits, spec: MetricSpec, *, cuped: bool = False):  # type: ignore[no-untyped-def]
    cols, prods = required_moments((spec,), with_cuped=cuped)
    a = build_stat(spec, compute_batch_moments(sim, cols, prods, treatment=False), with_cuped=cuped)
    b = build_stat(spec, compute_batch_moments(sim, cols, prods, treatment=True), with_cuped=cuped)
    if cuped:
        a, b = apply_cuped(a, b)  # type: ignore[arg-type]
    return a, b


@pytest.fixture(scope="module")
def aa() -> SimulatedUnits:
    return simulate_units(np.random.default_rng(20261122), n_experiments=N_EXPERIMENTS, n_units=N_UNITS)


def _rate(p: np.ndarray, alpha: float = ALPHA) -> float:
    assert np.all(np.isfinite(p))
    return float(np.mean(p < alpha))


@pytest.mark.parametrize(
    ("spec", "relative", "cuped"),
    [
        (ACCEPTANCE, False, False),
        (ACCEPTANCE, True, False),
        (PERSISTENCE, False, False),
        (SHOWN, False, False),
        (SHOWN, True, False),
        (SHOWN, False, True),
        (SHOWN, True, True),
        (LATENCY, True, False),
        (ERRORS, False, False),
        (CAR, False, False),
        (CAR, True, False),
        (WCAR, False, False),
        (WCAR, True, False),
        (PCW, False, False),
        (PCW, True, False),
    ],
)
def test_aa_false_positive_rate_is_nominal(aa: SimulatedUnits, spec: MetricSpec, relative: bool, cuped: bool) -> None:
    a, b = _stats(aa, spec, cuped=cuped)
    p = compute_welch_test(a, b, alpha=ALPHA, relative=relative).p_value
    assert abs(_rate(p) - ALPHA) <= 0.015


def test_aa_srm_is_calibrated(aa: SimulatedUnits) -> None:
    counts = np.stack([(~aa.is_treatment).sum(1), aa.is_treatment.sum(1)], axis=1)
    p = compute_srm_p_value(counts, [1.0, 1.0])
    assert abs(_rate(p) - ALPHA) <= 0.015
    assert _rate(p, 0.001) <= 0.005  # the report's threshold fires ~0.1 % of the time


def test_aa_confidence_sequence_single_look_never_exceeds_alpha(aa: SimulatedUnits) -> None:
    """At one look the always-valid test is conservative by construction (<= alpha, not = alpha)."""
    for spec in (ACCEPTANCE, SHOWN):
        a, b = _stats(aa, spec)
        w = compute_welch_test(a, b, alpha=ALPHA)
        seq = compute_confidence_sequence(w, np.asarray(a.n) + np.asarray(b.n), alpha=ALPHA)
        assert _rate(seq.p_value) <= ALPHA
        # the sequence contains the estimate's CI: it is wider, never narrower
        assert np.all(seq.cs_high - seq.cs_low >= w.ci_high - w.ci_low)


def test_aa_holm_keeps_family_wise_rate(aa: SimulatedUnits) -> None:
    ps = np.stack([compute_welch_test(*_stats(aa, s)).p_value for s in (ACCEPTANCE, PERSISTENCE, SHOWN)])
    # Holm's smallest adjusted p-value is min(k * min p, 1): vectorised over all experiments, and
    # checked against statsmodels (adjust_p_values) on a sample (multipletests runs gc.collect()
    # on every call, ~0.15 s, so 2,000 calls would dominate the suite).
    holm_min = np.minimum(ps.shape[0] * ps.min(axis=0), 1.0)
    for i in range(0, N_EXPERIMENTS, 100):
        assert min(adjust_p_values(list(ps[:, i]))) == pytest.approx(holm_min[i], abs=1e-12)
    fwer = float(np.mean(holm_min < ALPHA))
    any_unadjusted = float(np.mean(ps.min(axis=0) < ALPHA))
    assert fwer <= ALPHA + 0.015
    assert any_unadjusted > fwer  # three looks at the data without correction inflate it


def test_noninferiority_at_the_margin_rejects_alpha() -> None:
    """Treatment worse by exactly the margin: 'non-inferior' is claimed ~alpha of the time."""
    rng = np.random.default_rng(7)
    sim = simulate_units(
        rng,
        n_experiments=N_EXPERIMENTS,
        n_units=N_UNITS,
        latency_effect_relative=LATENCY.margin or 0,
        error_rate_effect_absolute=ERRORS.margin or 0,
    )
    for spec, relative in ((LATENCY, True), (ERRORS, False)):
        assert spec.margin is not None
        w = compute_welch_test(*_stats(sim, spec), relative=relative)
        p = compute_noninferiority_test(w, margin=spec.margin, higher_is_better=False)
        assert abs(_rate(p) - ALPHA) <= 0.015, spec.name


def test_ci_coverage_under_planted_effect() -> None:
    effect = 0.10
    sim = simulate_units(
        np.random.default_rng(11),
        n_experiments=N_EXPERIMENTS,
        n_units=N_UNITS,
        effect_relative=effect,
        shown_effect_relative=effect,
    )
    base_rate = P_MAX * 2 / 5
    base_shown = 1 + 20.0
    truths = {
        (ACCEPTANCE, False, False): base_rate * effect,
        (ACCEPTANCE, True, False): effect,
        (SHOWN, False, False): 20.0 * effect,
        (SHOWN, False, True): 20.0 * effect,
        (SHOWN, True, True): 20.0 * effect / base_shown,
    }
    for (spec, relative, cuped), truth in truths.items():
        w = compute_welch_test(*_stats(sim, spec, cuped=cuped), alpha=ALPHA, relative=relative)
        coverage = float(np.mean((w.ci_low <= truth) & (truth <= w.ci_high)))
        assert coverage >= 0.935, (spec.name, relative, cuped, coverage)


def test_cuped_reduces_variance_and_keeps_units_without_history(aa: SimulatedUnits) -> None:
    raw = compute_welch_test(*_stats(aa, SHOWN)).variance
    adj = compute_welch_test(*_stats(aa, SHOWN, cuped=True)).variance
    assert np.median(adj / raw) < 0.8
    a, _ = _stats(aa, SHOWN, cuped=True)
    assert np.all(a.n == (~aa.is_treatment).sum(axis=1))  # no unit dropped (20 % have no history)


def _sequential_looks(
    rng: np.random.Generator, n_experiments: int, n_units: int, n_looks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per look, the fixed-horizon and always-valid p-values of acceptance (A/A, staggered entry)."""
    shape = (n_experiments, n_units)
    is_t = rng.random(shape) < 0.5
    entry = rng.integers(0, n_looks, size=shape)
    lam = rng.gamma(1.5, 2.0 / 1.5, size=shape)  # ~2 shown per unit per look
    p_u = P_MAX * rng.beta(2.0, 3.0, size=shape)
    shown = np.zeros(shape)
    accepted = np.zeros(shape)
    p_fixed, p_seq = [], []
    for look in range(n_looks):
        active = entry <= look
        new = np.where(active, rng.poisson(lam) + (entry == look), 0)
        shown += new
        accepted += rng.binomial(new.astype(np.int64), p_u)
        sim = SimulatedUnits(is_treatment=is_t & active, columns={"n_shown": shown, "n_accepted": accepted})
        ctrl = SimulatedUnits(is_treatment=~is_t & active, columns=sim.columns)
        cols, prods = required_moments((ACCEPTANCE,), with_cuped=False)
        a = build_stat(ACCEPTANCE, compute_batch_moments(ctrl, cols, prods, treatment=True), with_cuped=False)
        b = build_stat(ACCEPTANCE, compute_batch_moments(sim, cols, prods, treatment=True), with_cuped=False)
        w = compute_welch_test(a, b, alpha=ALPHA)
        seq = compute_confidence_sequence(w, np.asarray(a.n) + np.asarray(b.n), alpha=ALPHA, tuning=float(n_units))
        p_fixed.append(w.p_value)
        p_seq.append(seq.p_value)
    return np.stack(p_fixed), np.stack(p_seq)


def test_twenty_sequential_looks_keep_false_positive_rate() -> None:
    p_fixed, p_seq = _sequential_looks(np.random.default_rng(3), 1000, 1000, 20)
    fpr_seq = float(np.mean((p_seq < ALPHA).any(axis=0)))
    fpr_peeking = float(np.mean((p_fixed < ALPHA).any(axis=0)))
    assert fpr_seq <= ALPHA
    assert fpr_peeking > 0.10  # peeking at fixed-horizon p-values 20 times is what CS prevents


def test_power_matches_plan_prediction() -> None:
    rng = np.random.default_rng(5)
    history = simulate_units(rng, n_experiments=1, n_units=20000)
    cols, prods = required_moments((ACCEPTANCE,), with_cuped=False)
    hist_moments = compute_single_moments(history, 0, cols, prods, treatment=False)
    hist_moments_t = compute_single_moments(history, 0, cols, prods, treatment=True)
    merged = {k: hist_moments[k] + hist_moments_t[k] for k in hist_moments}
    stat = build_stat(ACCEPTANCE, merged, with_cuped=False)
    assert isinstance(stat, RatioStat)
    units_per_arm = 500
    plan = compute_plan(stat, PlanConfig(mde_relative=0.08, units_per_arm=units_per_arm))
    assert 0.3 < plan.power < 0.8  # a planted effect in the range where power is informative
    assert plan.design_effect > 2  # within-unit correlation: events are not independent
    sim = simulate_units(rng, n_experiments=N_EXPERIMENTS, n_units=2 * units_per_arm, effect_relative=0.08)
    p = compute_welch_test(*_stats(sim, ACCEPTANCE), alpha=ALPHA).p_value
    empirical = _rate(p)
    assert abs(empirical - plan.power) <= 0.05, (empirical, plan.power)


def test_naive_event_level_test_has_inflated_false_positive_rate(aa: SimulatedUnits) -> None:
    """Why the report refuses per-event tests: events of one unit are correlated."""
    acc, shown = aa.columns["n_accepted"], aa.columns["n_shown"]
    t, c = aa.is_treatment, ~aa.is_treatment
    p = np.array(
        [
            proportions_ztest([acc[i][t[i]].sum(), acc[i][c[i]].sum()], [shown[i][t[i]].sum(), shown[i][c[i]].sum()])[1]
            for i in range(N_EXPERIMENTS)
        ]
    )
    assert _rate(p) > 0.15


def test_batch_path_equals_the_report_path(aa: SimulatedUnits) -> None:
    """The vectorised numbers above are the ones `run_analysis` reports for one experiment."""
    specs = (ACCEPTANCE, SHOWN)
    cols, prods = required_moments(specs, with_cuped=True)
    i = 17
    moments = {
        "control": compute_single_moments(aa, i, cols, prods, treatment=False),
        "treatment": compute_single_moments(aa, i, cols, prods, treatment=True),
    }
    cfg = AbReportConfig(experiment="sim", metrics=specs, is_sequential=False)
    report = run_analysis(cfg, moments, with_cuped=True)
    by_name = {m.metric: m for m in report.comparisons[0].metrics}
    for spec, cuped in ((ACCEPTANCE, False), (SHOWN, True)):
        batch = compute_welch_test(*_stats(aa, spec, cuped=cuped), alpha=ALPHA)
        result = by_name[spec.name].absolute
        assert result is not None
        assert result.p_value == pytest.approx(batch.p_value[i], abs=1e-12)
        assert result.estimate == pytest.approx(batch.estimate[i], abs=1e-12)
    assert report.srm.p_value == pytest.approx(
        compute_srm_p_value([(~aa.is_treatment[i]).sum(), aa.is_treatment[i].sum()], [1, 1])
    )
    assert DEFAULT_METRICS[0].name == "acceptance_rate"  # the primary metric validated here


def test_ci_coverage_of_car_wcar_pcw_under_planted_effect() -> None:
    """Issue 20: CAR, wCAR and PCW intervals cover their population values (simulation.true_values).

    4,000 experiments (coverage SE ~0.34 points): across seeds, 2,000 gave 93.1-95.8 % for these
    metrics, so a 93.5 % floor needs the larger sample to be a test of the method, not of the seed.
    """
    effect = 0.10
    sim = simulate_units(np.random.default_rng(11), n_experiments=4000, n_units=N_UNITS, effect_relative=effect)
    base, lifted = true_values(0.0), true_values(effect)
    for spec in (ACCEPTANCE, CAR, WCAR, PCW):
        for relative in (False, True):
            truth = lifted[spec.name] / base[spec.name] - 1 if relative else lifted[spec.name] - base[spec.name]
            w = compute_welch_test(*_stats(sim, spec), alpha=ALPHA, relative=relative)
            coverage = float(np.mean((w.ci_low <= truth) & (truth <= w.ci_high)))
            assert coverage >= 0.935, (spec.name, relative, coverage)


def test_holm_batch_equals_statsmodels(aa: SimulatedUnits) -> None:
    ps = np.stack([compute_welch_test(*_stats(aa, s)).p_value for s in OLD_GOAL_FAMILY])
    adjusted = holm_adjust_batch(ps)
    for i in range(0, N_EXPERIMENTS, 200):
        assert adjusted[:, i] == pytest.approx(adjust_p_values(list(ps[:, i])), abs=1e-12)


def test_decision_metric_alone_has_the_planned_power_and_beats_the_all_metric_holm() -> None:
    """Issue 20: at +6 % with 2,000 users, Holm over eight metrics threw away the decision's power."""
    rng = np.random.default_rng(20)
    history = simulate_units(rng, n_experiments=1, n_units=20000)
    cols, prods = required_moments((ACCEPTANCE,), with_cuped=False)
    merged = {
        k: compute_single_moments(history, 0, cols, prods, treatment=False)[k]
        + compute_single_moments(history, 0, cols, prods, treatment=True)[k]
        for k in compute_single_moments(history, 0, cols, prods, treatment=False)
    }
    plan = compute_plan(
        build_stat(ACCEPTANCE, merged, with_cuped=False), PlanConfig(mde_relative=0.06, units_per_arm=1000)
    )
    sim = simulate_units(rng, n_experiments=N_EXPERIMENTS, n_units=2000, effect_relative=0.06)
    welch = [compute_welch_test(*_stats(sim, s), alpha=ALPHA) for s in OLD_GOAL_FAMILY]
    ps = np.stack([w.p_value for w in welch])
    power_alone = _rate(ps[0])
    power_old_holm = float(np.mean(holm_adjust_batch(ps)[0] < ALPHA))
    assert abs(power_alone - plan.power) <= 0.05, (power_alone, plan.power)
    assert power_alone - power_old_holm > 0.10, (power_alone, power_old_holm)
    # the report's default always-valid verdicts: `ab plan` predicts their (lower) power too
    seq = compute_confidence_sequence(welch[0], np.full(N_EXPERIMENTS, 2000.0), alpha=ALPHA)
    power_seq = _rate(seq.p_value)
    assert abs(power_seq - plan.power_sequential) <= 0.05, (power_seq, plan.power_sequential)
    assert power_seq < power_alone
