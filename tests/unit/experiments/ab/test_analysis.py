"""run_analysis: SRM first, verdict rules, errors as values, cumulative series."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.ab.analysis import (
    AbReportConfig,
    compute_cumulative_moments,
    decide_verdict,
    run_analysis,
)
from experiments.ab.metrics import (
    DEFAULT_METRICS,
    UnknownMetricError,
    assign_roles,
    compute_moments,
    required_moments,
)
from experiments.ab.results import BASELINE_ZERO_MESSAGE, SRM_FAILED_MESSAGE
from experiments.ab.significance import adjust_p_values
from experiments.ab.simulation import compute_single_moments, simulate_units
from factories import ab_metric

ACCEPTANCE = ab_metric("acceptance_rate")
SHOWN = ab_metric("shown_per_unit")
LATENCY = ab_metric("latency_mean_ms")
ERRORS = ab_metric("error_rate", margin=0.02)
SPECS = (ACCEPTANCE, SHOWN, LATENCY, ERRORS)


def _moments(seed: int, **effects: float) -> dict[str, dict[str, float]]:
    sim = simulate_units(np.random.default_rng(seed), n_experiments=1, n_units=6000, **effects)
    cols, prods = required_moments(SPECS, with_cuped=True)
    return {
        "control": compute_single_moments(sim, 0, cols, prods, treatment=False),
        "treatment": compute_single_moments(sim, 0, cols, prods, treatment=True),
    }


@pytest.mark.parametrize("is_sequential", [True, False])
def test_planted_win_ships(is_sequential: bool) -> None:
    cfg = AbReportConfig(experiment="e", metrics=SPECS, is_sequential=is_sequential)
    report = run_analysis(cfg, _moments(1, effect_relative=0.25), with_cuped=True)
    comp = report.comparisons[0]
    assert not report.srm.is_mismatch
    assert comp.verdict == "ship", comp.reason
    by = {m.metric: m for m in comp.metrics}
    assert by["latency_mean_ms"].guardrail_status == "pass"
    assert by["shown_per_unit"].is_cuped and (by["shown_per_unit"].variance_reduction or 0) > 0.1
    assert by["acceptance_rate"].p_value_adjusted is not None
    assert by["latency_mean_ms"].p_value_adjusted is None  # guardrails are not in the family


def test_guardrail_harm_blocks_shipping() -> None:
    cfg = AbReportConfig(experiment="e", metrics=SPECS)
    report = run_analysis(cfg, _moments(2, effect_relative=0.25, latency_effect_relative=0.4), with_cuped=True)
    comp = report.comparisons[0]
    assert comp.verdict == "do not ship"
    assert "latency_mean_ms" in comp.reason


def test_no_effect_keeps_running_and_significant_loss_does_not_ship() -> None:
    cfg = AbReportConfig(experiment="e", metrics=SPECS)
    assert run_analysis(cfg, _moments(3), with_cuped=True).comparisons[0].verdict == "keep running"
    loss = run_analysis(cfg, _moments(4, effect_relative=-0.25), with_cuped=True)
    assert loss.comparisons[0].verdict == "do not ship"


def test_srm_mismatch_gives_no_verdict_and_is_first_notice() -> None:
    cfg = AbReportConfig(experiment="e", metrics=SPECS, weights=(0.3, 0.7))
    report = run_analysis(cfg, _moments(1, effect_relative=0.25), with_cuped=True)
    assert report.srm.is_mismatch and report.srm.p_value < 0.001
    assert report.comparisons[0].verdict == "no verdict"
    assert report.notices[0] == SRM_FAILED_MESSAGE.format(threshold=0.001)


def test_a_broken_metric_is_an_error_value_not_a_crash() -> None:
    moments = _moments(5)
    for arm in moments.values():  # the control never saw an error: baseline 0 for error_rate
        arm["sum__n_errors"] = arm["sumsq__n_errors"] = 0.0
        arm["prod__n_errors__n_completions"] = 0.0
    report = run_analysis(AbReportConfig(experiment="e", metrics=SPECS), moments, with_cuped=True)
    by = {m.metric: m for m in report.comparisons[0].metrics}
    assert by["error_rate"].error_message == BASELINE_ZERO_MESSAGE
    assert by["error_rate"].guardrail_status == "error"
    assert by["acceptance_rate"].absolute is not None


def test_decide_verdict_without_metrics() -> None:
    assert decide_verdict([], is_srm_mismatch=False)[0] == "keep running"


def test_cumulative_moments_carry_units_over_empty_days() -> None:
    # unit 0: day 0 (2 shown, 1 accepted), day 2 (1 shown); unit 1 first seen on day 1
    unit = np.array([0, 0, 1])
    day = np.array([0, 2, 1])
    values = {"n_shown": np.array([2.0, 1.0, 4.0]), "n_accepted": np.array([1.0, 0.0, 2.0])}
    out = compute_cumulative_moments(
        unit_index=unit, day_index=day, values=values, n_units=2, n_days=3, spec=ACCEPTANCE
    )
    cols, prods = required_moments((ACCEPTANCE,), with_cuped=False)
    assert out[0] == compute_moments({"n_shown": [2.0], "n_accepted": [1.0]}, cols, prods)
    assert out[1] == compute_moments({"n_shown": [2.0, 4.0], "n_accepted": [1.0, 2.0]}, cols, prods)
    assert out[2] == compute_moments({"n_shown": [3.0, 4.0], "n_accepted": [1.0, 2.0]}, cols, prods)


def test_decision_metric_is_tested_alone_and_secondaries_among_themselves() -> None:
    """Issue 20: the decision metric at alpha on its own p; Holm among the secondary metrics only."""
    specs = assign_roles(
        DEFAULT_METRICS,
        secondary=("persistence_rate_30s", "shown_per_unit", "car"),
        guardrails=("latency_mean_ms", "error_rate"),  # the simulation has no filter actions
    )
    cols, prods = required_moments(specs, with_cuped=False)
    sim = simulate_units(np.random.default_rng(6), n_experiments=1, n_units=4000, effect_relative=0.08)
    moments = {
        "control": compute_single_moments(sim, 0, cols, prods, treatment=False),
        "treatment": compute_single_moments(sim, 0, cols, prods, treatment=True),
    }
    for is_sequential in (False, True):
        cfg = AbReportConfig(experiment="e", metrics=specs, is_sequential=is_sequential)
        by = {m.metric: m for m in run_analysis(cfg, moments).comparisons[0].metrics}
        p = {
            name: (m.absolute.p_value_sequential if is_sequential else m.absolute.p_value)
            for name, m in by.items()
            if m.absolute is not None
        }.__getitem__

        assert by["acceptance_rate"].role == "decision"
        assert by["acceptance_rate"].p_value_adjusted == p("acceptance_rate")
        family = ["persistence_rate_30s", "shown_per_unit", "car"]
        expected = adjust_p_values([p(n) for n in family])
        assert [by[n].p_value_adjusted for n in family] == pytest.approx(expected, abs=1e-15)
        assert all(by[g].p_value_adjusted is None for g in ("latency_mean_ms", "error_rate"))


def test_the_verdict_follows_the_decision_metric_and_never_a_segment() -> None:
    specs = assign_roles(
        DEFAULT_METRICS, decision="shown_per_unit", secondary=("acceptance_rate",), guardrails=("error_rate",)
    )
    cols, prods = required_moments(specs, with_cuped=False)
    sim = simulate_units(np.random.default_rng(9), n_experiments=1, n_units=6000, effect_relative=0.3)
    moments = {
        "control": compute_single_moments(sim, 0, cols, prods, treatment=False),
        "treatment": compute_single_moments(sim, 0, cols, prods, treatment=True),
    }
    # a segment where the acceptance lift is huge must not make the verdict "ship"
    cfg = AbReportConfig(experiment="e", metrics=specs, is_sequential=False)
    seg = {"language": {"python": moments, "go": moments}}
    report = run_analysis(cfg, moments, segments=seg)
    comp = report.comparisons[0]
    by = {m.metric: m for m in comp.metrics}
    assert by["acceptance_rate"].is_significant  # the planted lift shows on the secondary metric
    assert comp.verdict == "keep running"  # ... but usage (the decision metric) did not move
    assert comp.reason.startswith("shown_per_unit")
    assert [s.value for s in comp.segments] == ["go", "python"]
    assert all(s.result.metric == "shown_per_unit" for s in comp.segments)
    assert any("exploratory" in n for n in report.notices)


def test_assign_roles_checks_names_and_margins() -> None:
    specs = assign_roles(DEFAULT_METRICS, decision="car", secondary=("wcar",), guardrails=("error_rate",))
    assert [(s.name, s.role) for s in specs] == [
        ("car", "decision"),
        ("wcar", "secondary"),
        ("error_rate", "guardrail"),
    ]
    default = assign_roles(DEFAULT_METRICS)
    assert default[0].name == "acceptance_rate" and default[0].role == "decision"
    assert {s.name for s in default if s.role == "secondary"} >= {"car", "wcar", "pcw"}
    with pytest.raises(UnknownMetricError, match="unknown metric 'nope'"):
        assign_roles(DEFAULT_METRICS, decision="nope")
    with pytest.raises(UnknownMetricError, match="only one role"):
        assign_roles(DEFAULT_METRICS, decision="car", secondary=("car",))
    with pytest.raises(UnknownMetricError, match="no non-inferiority margin"):
        assign_roles(DEFAULT_METRICS, guardrails=("car",))
