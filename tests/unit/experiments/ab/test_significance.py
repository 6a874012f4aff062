"""Golden values for stats.py and significance.py (literal inputs; expected values computed once
with gbstats 0.8.0, rounded to DECIMALS as gbstats' own test_tests.py does)."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.ab.results import (
    BASELINE_ZERO_MESSAGE,
    NO_UNITS_MESSAGE,
    TOO_FEW_UNITS_MESSAGE,
    ZERO_VARIANCE_MESSAGE,
)
from experiments.ab.significance import (
    adjust_p_values,
    apply_cuped,
    check_testable,
    compute_confidence_sequence,
    compute_noninferiority_test,
    compute_srm_p_value,
    compute_welch_test,
)
from experiments.ab.stats import (
    ProportionStat,
    RatioStat,
    RegressionAdjustedStat,
    SampleMeanStat,
)

DECIMALS = 9


def _ratio_pair() -> tuple[RatioStat, RatioStat]:
    a = RatioStat(n=120, m=SampleMeanStat(120, 300, 1400), d=SampleMeanStat(120, 1200, 15000), m_d_sum_of_products=3900)
    b = RatioStat(n=130, m=SampleMeanStat(130, 380, 1800), d=SampleMeanStat(130, 1300, 16500), m_d_sum_of_products=4700)
    return a, b


def _r(x: float) -> float:
    return round(float(x), DECIMALS)


def test_sample_mean_and_proportion_stats() -> None:
    m = SampleMeanStat(n=10, sum=50, sum_squares=300)
    assert (m.mean, _r(m.variance)) == (5.0, _r(5.555555555555555))
    assert SampleMeanStat(n=1, sum=3, sum_squares=9).variance == 0.0
    assert SampleMeanStat(n=0, sum=0, sum_squares=0).mean == 0.0
    p = ProportionStat(n=200, sum=50)
    assert (p.mean, p.variance) == (0.25, 0.1875)


def test_ratio_delta_method_variance_golden() -> None:
    a, b = _ratio_pair()
    assert a.mean == 0.25
    assert _r(a.variance) == _r(0.032563025210084036)
    assert _r(b.variance) == _r(0.035824044768588595)


@pytest.mark.parametrize(
    ("relative", "estimate", "ci", "p"),
    [
        (False, 0.042307692307692324, (-0.003754018385491248, 0.0883694030008759), 0.07165305922453058),
        (True, 0.1692307692307693, (-0.031093686610561083, 0.3695552250720997), 0.09740209127884758),
    ],
)
def test_welch_ratio_golden(relative: bool, estimate: float, ci: tuple[float, float], p: float) -> None:
    w = compute_welch_test(*_ratio_pair(), alpha=0.05, relative=relative)
    assert (_r(w.estimate), _r(w.ci_low), _r(w.ci_high), _r(w.p_value)) == (_r(estimate), _r(ci[0]), _r(ci[1]), _r(p))


@pytest.mark.parametrize(
    ("relative", "cs", "p"),
    [
        (False, (-0.06804834441460225, 0.1526637290299869), 0.7424757973843226),
        (True, (-0.3107126083058152, 0.6491741467673537), 0.7976048180802892),
    ],
)
def test_confidence_sequence_golden(relative: bool, cs: tuple[float, float], p: float) -> None:
    a, b = _ratio_pair()
    w = compute_welch_test(a, b, relative=relative)
    seq = compute_confidence_sequence(w, 250, alpha=0.05, tuning=5000)
    assert (_r(seq.cs_low), _r(seq.cs_high), _r(seq.p_value)) == (_r(cs[0]), _r(cs[1]), _r(p))
    assert seq.cs_low < w.ci_low and seq.cs_high > w.ci_high


def test_cuped_theta_and_effect_golden() -> None:
    a = RegressionAdjustedStat(
        n=100, post=SampleMeanStat(100, 500, 3100), pre=SampleMeanStat(100, 400, 2000), post_pre_sum_of_products=2300
    )
    b = RegressionAdjustedStat(
        n=110, post=SampleMeanStat(110, 600, 3800), pre=SampleMeanStat(110, 450, 2300), post_pre_sum_of_products=2800
    )
    a2, b2 = apply_cuped(a, b)
    assert _r(a2.theta) == _r(b2.theta) == _r(0.7534626038781164)
    w = compute_welch_test(a2, b2)
    assert (_r(w.estimate), _r(w.ci_low), _r(w.ci_high), _r(w.p_value)) == (
        _r(0.38604885419289836),
        _r(-0.09782379476826386),
        _r(0.8699215031540606),
        _r(0.11721020076805178),
    )
    raw = compute_welch_test(a.post, b.post)
    assert w.variance < raw.variance


def test_cuped_without_pre_variance_reverts_to_raw() -> None:
    a = RegressionAdjustedStat(
        n=50, post=SampleMeanStat(50, 100, 400), pre=SampleMeanStat(50, 0, 0), post_pre_sum_of_products=0
    )
    b = RegressionAdjustedStat(
        n=50, post=SampleMeanStat(50, 120, 500), pre=SampleMeanStat(50, 0, 0), post_pre_sum_of_products=0
    )
    a2, b2 = apply_cuped(a, b)
    assert a2.theta == 0.0
    assert compute_welch_test(a2, b2).p_value == compute_welch_test(a.post, b.post).p_value


def test_srm_golden_and_vectorised() -> None:
    assert _r(compute_srm_p_value([5000, 5400], [0.5, 0.5])) == _r(8.769942375590228e-05)
    assert compute_srm_p_value([3000, 3100, 2000], [0.4, 0.4, 0.2]) == pytest.approx(2.9539576377591944e-25, rel=1e-9)
    assert compute_srm_p_value([0, 0], [1, 1]) == 1.0
    batch = compute_srm_p_value(np.array([[5000, 5400], [5000, 5000]]), [1, 1])
    assert batch[1] == 1.0 and batch[0] == pytest.approx(8.769942375590228e-05)


def test_check_testable_messages() -> None:
    good = SampleMeanStat(10, 50, 300)
    assert check_testable(good, good) is None
    assert check_testable(SampleMeanStat(0, 0, 0), good) == NO_UNITS_MESSAGE
    assert check_testable(SampleMeanStat(1, 5, 25), good) == TOO_FEW_UNITS_MESSAGE
    assert check_testable(SampleMeanStat(10, 0, 0), good) == BASELINE_ZERO_MESSAGE
    assert check_testable(SampleMeanStat(10, 50, 250), good) == ZERO_VARIANCE_MESSAGE


def test_noninferiority_direction() -> None:
    a, b = _ratio_pair()  # treatment higher by +0.042 absolute
    w = compute_welch_test(a, b)
    # lower-is-better metric (e.g. an error rate): +0.042 is harm; a 0.2 margin tolerates it
    assert compute_noninferiority_test(w, margin=0.2, higher_is_better=False) < 0.001
    assert compute_noninferiority_test(w, margin=0.01, higher_is_better=False) > 0.5
    # higher-is-better: treatment already better, non-inferior even with a tiny margin
    assert compute_noninferiority_test(w, margin=0.01, higher_is_better=True) < 0.05


def test_holm_and_bh_from_statsmodels() -> None:
    p = [0.01, 0.04, 0.03, 0.5]
    assert adjust_p_values(p, method="holm") == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert adjust_p_values(p, method="fdr_bh") == pytest.approx([0.04, 0.05333333, 0.05333333, 0.5])
    assert adjust_p_values([]) == []
