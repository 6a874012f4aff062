"""Pure significance tests over unit-level summary statistics (gbstats `frequentist/tests.py`).

Sample ratio mismatch (chi-square), Welch t on per-unit means and delta-method ratios (absolute and
relative effects), CUPED, always-valid confidence sequences, Holm/BH across metrics
(statsmodels), and one-sided non-inferiority tests for guardrails. Every function accepts floats or
numpy arrays (one entry per simulated experiment) and never sees an event-level row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from experiments.ab.results import (
    BASELINE_ZERO_MESSAGE,
    NO_UNITS_MESSAGE,
    TOO_FEW_UNITS_MESSAGE,
    ZERO_VARIANCE_MESSAGE,
)
from experiments.ab.stats import (
    Num,
    RegressionAdjustedStat,
    Stat,
    compute_pooled_theta,
    with_theta,
)

# SRM threshold: p < 0.001 is the industry convention (Fabijan et al. 2019, "Diagnosing Sample
# Ratio Mismatch"); strict because the check runs on every experiment and every look.
SRM_P_THRESHOLD = 0.001
# gbstats' default tuning of the asymptotic confidence sequence: the total sample size at which the
# sequence is tightest (Waudby-Smith et al. 2023, eq. 161).
DEFAULT_SEQUENTIAL_TUNING = 5000.0


@dataclass(frozen=True)
class WelchEstimate:
    """A Welch t test of treatment - control (or relative lift); fields are floats or arrays."""

    estimate: Num
    variance: Num  # of the estimate
    dof: Num
    ci_low: Num
    ci_high: Num
    p_value: Num

    @property
    def std_error(self) -> Num:
        return np.sqrt(np.maximum(self.variance, 0.0))


@dataclass(frozen=True)
class SequentialEstimate:
    cs_low: Num
    cs_high: Num
    p_value: Num


def _unadjusted_mean(stat: Stat) -> Num:
    return stat.unadjusted_mean if isinstance(stat, RegressionAdjustedStat) else stat.mean


def compute_srm_p_value(units: Sequence[float] | np.ndarray, weights: Sequence[float]) -> Num:
    """Chi-square goodness-of-fit p-value of the observed units per arm against the weights.

    Args:
        units: units per arm, shape (k,) or (..., k) for many experiments.
        weights: expected traffic weights per arm (need not sum to 1).
    Returns:
        p-value; 1.0 when no units. Arms with weight <= 0 are skipped (gbstats `check_srm`).
    """
    obs = np.asarray(units, dtype=float)
    w = np.asarray(weights, dtype=float)
    total = obs.sum(axis=-1, keepdims=True)
    keep = w > 0
    expected = w[keep] / w.sum() * np.where(total > 0, total, 1.0)
    x2 = (((obs[..., keep] - expected) ** 2) / expected).sum(axis=-1)
    p = np.where(total[..., 0] > 0, sps.chi2.sf(x2, obs.shape[-1] - 1), 1.0)
    return p if p.ndim else float(p)


def apply_cuped(
    a: RegressionAdjustedStat, b: RegressionAdjustedStat
) -> tuple[RegressionAdjustedStat, RegressionAdjustedStat]:
    """Both arms with the pooled CUPED theta set (theta = 0 reverts to the raw metric)."""
    theta = compute_pooled_theta(a, b)
    return with_theta(a, theta), with_theta(b, theta)


def check_testable(a: Stat, b: Stat) -> str | None:
    """The reason a comparison cannot be computed (gbstats' default-output cases), or None."""
    if float(np.min(a.n)) < 1 or float(np.min(b.n)) < 1:
        return NO_UNITS_MESSAGE
    if float(np.min(a.n)) < 2 or float(np.min(b.n)) < 2:
        return TOO_FEW_UNITS_MESSAGE
    if np.any(np.asarray(a.mean) == 0) or np.any(np.asarray(_unadjusted_mean(a)) == 0):
        return BASELINE_ZERO_MESSAGE
    if np.any(np.asarray(a.variance) <= 0) or np.any(np.asarray(b.variance) <= 0):
        return ZERO_VARIANCE_MESSAGE
    return None


def compute_welch_test(
    a: Stat,
    b: Stat,
    *,
    alpha: float = 0.05,
    relative: bool = False,
    test_value: float = 0.0,
) -> WelchEstimate:
    """Two-sided Welch t test of b against a on per-unit statistics.

    Args:
        a, b: control and treatment statistics (per-unit variance; CUPED stats with theta set).
        alpha: two-sided level of the confidence interval.
        relative: effect as (mu_b - mu_a) / mu_a, variance by the delta method; else mu_b - mu_a.
        test_value: the null effect.
    Returns:
        WelchEstimate. Formulas as gbstats `TwoSidedTTest` (Welch-Satterthwaite dof):
        Var(abs) = s_b^2/n_b + s_a^2/n_a; Var(rel) = s_b^2/(mu_a^2 n_b) + s_a^2 mu_b^2/(mu_a^4 n_a).
    """
    n_a, n_b = np.asarray(a.n, dtype=float), np.asarray(b.n, dtype=float)
    var_a, var_b = np.asarray(a.variance), np.asarray(b.variance)
    mu_a_raw, mu_b_raw = np.asarray(_unadjusted_mean(a)), np.asarray(_unadjusted_mean(b))
    with np.errstate(divide="ignore", invalid="ignore"):
        if relative:
            estimate = (np.asarray(b.mean) - np.asarray(a.mean)) / mu_a_raw
            variance = var_b / (mu_a_raw**2 * n_b) + var_a * mu_b_raw**2 / (mu_a_raw**4 * n_a)
        else:
            estimate = np.asarray(b.mean) - np.asarray(a.mean)
            variance = var_b / n_b + var_a / n_a
        dof = (var_b / n_b + var_a / n_a) ** 2 / (var_b**2 / (n_b**2 * (n_b - 1)) + var_a**2 / (n_a**2 * (n_a - 1)))
        se = np.sqrt(variance)
        t_stat = (estimate - test_value) / se
        p_value = 2 * sps.t.sf(np.abs(t_stat), dof)
        half = sps.t.ppf(1 - alpha / 2, dof) * se
    return WelchEstimate(
        estimate=_out(estimate),
        variance=_out(variance),
        dof=_out(dof),
        ci_low=_out(estimate - half),
        ci_high=_out(estimate + half),
        p_value=_out(p_value),
    )


def compute_confidence_sequence(
    welch: WelchEstimate,
    total_units: Num,
    *,
    alpha: float = 0.05,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
    test_value: float = 0.0,
) -> SequentialEstimate:
    """Asymptotic always-valid confidence sequence and p-value around a Welch estimate.

    Valid at every look, so analysts may look daily without inflating the false-positive rate.

    Args:
        welch: the fixed-horizon estimate at this look (its variance is of the estimate).
        total_units: N = n_a + n_b at this look.
        alpha: level; tuning: the N at which the sequence is tightest.
    Returns:
        SequentialEstimate. Waudby-Smith et al. 2023 (arXiv 2103.06476v7) eq. 9 for the width with
        rho from eq. 161, and the mixture e-value of eq. 155 for p = min(1, 1/e) (as gbstats).
    """
    n = np.asarray(total_units, dtype=float)
    rho2 = (-2 * np.log(alpha) + np.log(-2 * np.log(alpha) + 1)) / tuning
    s2 = np.asarray(welch.variance) * n
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        width = np.sqrt(s2) * np.sqrt(2 * (n * rho2 + 1) * np.log(np.sqrt(n * rho2 + 1) / alpha) / (n**2 * rho2))
        st2 = (np.asarray(welch.estimate) - test_value) ** 2 * n / np.asarray(welch.variance)
        tr2p1 = n * rho2 + 1
        log_e = rho2 * st2 / (2 * tr2p1) - 0.5 * np.log(tr2p1)
        p_value = np.minimum(np.exp(-log_e), 1.0)
    return SequentialEstimate(
        cs_low=_out(np.asarray(welch.estimate) - width),
        cs_high=_out(np.asarray(welch.estimate) + width),
        p_value=_out(p_value),
    )


def compute_noninferiority_test(
    welch: WelchEstimate,
    *,
    margin: float,
    higher_is_better: bool,
) -> Num:
    """One-sided p-value that the treatment is no worse than control by more than `margin`.

    Args:
        welch: the Welch estimate on the scale the margin is stated in (absolute or relative).
        margin: the largest tolerated harm, > 0, on that scale.
        higher_is_better: the metric's direction (latency and error rate: False).
    Returns:
        p-value of H0: effect is worse than the margin. For lower-is-better metrics
        H0: delta >= margin, p = P(T <= (delta_hat - margin)/se); mirrored otherwise.
    """
    est = np.asarray(welch.estimate)
    with np.errstate(divide="ignore", invalid="ignore"):
        if higher_is_better:
            t_stat = (est + margin) / welch.std_error
            p = sps.t.sf(t_stat, welch.dof)
        else:
            t_stat = (est - margin) / welch.std_error
            p = sps.t.cdf(t_stat, welch.dof)
    return _out(p)


def adjust_p_values(p_values: Sequence[float], *, method: Literal["holm", "fdr_bh"] = "holm") -> list[float]:
    """Holm (family-wise) or Benjamini-Hochberg (FDR) adjusted p-values (statsmodels)."""
    if not p_values:
        return []
    _, adjusted, _, _ = multipletests(list(p_values), method=method)
    return [float(p) for p in adjusted]


def _out(x: Num) -> Num:
    arr = np.asarray(x, dtype=float)
    return arr if arr.ndim else float(arr)
