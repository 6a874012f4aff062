"""Frozen summary-statistic types over per-unit sums (gbstats `models/statistics.py`).

Every field may be a float or a numpy array of the same shape, so the validation suite runs a
thousand simulated experiments through exactly the code a report uses, in one vectorised call.
Variances are per unit (sample variance with n - 1), not of the mean.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

# A float, or an array of floats (one per simulated experiment)
Num = Any


def _safe_div(num: Num, den: Num) -> Num:
    """num / den, with 0 where den == 0 (gbstats returns 0 for an empty arm's mean)."""
    num_arr = np.asarray(num, dtype=float)
    den_arr = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den_arr != 0, num_arr / np.where(den_arr != 0, den_arr, 1.0), 0.0)
    return out if out.ndim else float(out)


@dataclass(frozen=True)
class SampleMeanStat:
    """A per-unit metric: n units, the sum and the sum of squares of its per-unit values."""

    n: Num
    sum: Num
    sum_squares: Num

    @property
    def mean(self) -> Num:
        return _safe_div(self.sum, self.n)

    @property
    def variance(self) -> Num:
        """Sample variance of the per-unit values: (sum_sq - sum^2/n) / (n - 1); 0 when n <= 1."""
        n = np.asarray(self.n, dtype=float)
        raw = _safe_div(np.asarray(self.sum_squares) - _safe_div(np.square(self.sum), n), n - 1)
        out = np.where(n > 1, raw, 0.0)
        return out if out.ndim else float(out)


@dataclass(frozen=True)
class ProportionStat:
    """A per-unit 0/1 metric: n units, of which `sum` had the event (variance p(1 - p))."""

    n: Num
    sum: Num

    @property
    def sum_squares(self) -> Num:
        return self.sum

    @property
    def mean(self) -> Num:
        return _safe_div(self.sum, self.n)

    @property
    def variance(self) -> Num:
        p = self.mean
        return p * (1 - p)


@dataclass(frozen=True)
class RatioStat:
    """A ratio of two per-unit sums (accepted / shown): delta-method variance per unit.

    Var(M/D) per unit ~= Var(M)/mu_D^2 - 2 Cov(M, D) mu_M/mu_D^3 + mu_M^2 Var(D)/mu_D^4
    (Deng, Knoblich & Lu 2018, "Applying the Delta Method in Metric Analytics"; gbstats RatioStatistic).
    """

    n: Num
    m: SampleMeanStat
    d: SampleMeanStat
    m_d_sum_of_products: Num

    @property
    def mean(self) -> Num:
        return _safe_div(self.m.sum, self.d.sum)

    @property
    def covariance(self) -> Num:
        n = np.asarray(self.n, dtype=float)
        raw = _safe_div(
            np.asarray(self.m_d_sum_of_products) - _safe_div(np.multiply(self.m.sum, self.d.sum), n),
            n - 1,
        )
        out = np.where(n > 1, raw, 0.0)
        return out if out.ndim else float(out)

    @property
    def variance(self) -> Num:
        mu_m, mu_d = np.asarray(self.m.mean), np.asarray(self.d.mean)
        safe_d = np.where(mu_d != 0, mu_d, 1.0)
        raw = (
            self.m.variance / safe_d**2 - 2 * self.covariance * mu_m / safe_d**3 + mu_m**2 * self.d.variance / safe_d**4
        )
        out = np.where((mu_d != 0) & (np.asarray(self.n) > 1), raw, 0.0)
        return out if out.ndim else float(out)


@dataclass(frozen=True)
class RegressionAdjustedStat:
    """CUPED: a per-unit metric adjusted by its pre-experiment value, Y - theta * X.

    theta is shared by both arms (pooled Cov(Y, X) / Var(X)), so the adjustment leaves the effect
    unbiased (Deng, Xu, Kohavi & Walker 2013; gbstats RegressionAdjustedStatistic).
    """

    n: Num
    post: SampleMeanStat
    pre: SampleMeanStat
    post_pre_sum_of_products: Num
    theta: Num = 0.0

    @property
    def mean(self) -> Num:
        return self.post.mean - self.theta * np.asarray(self.pre.mean)

    @property
    def unadjusted_mean(self) -> Num:
        return self.post.mean

    @property
    def covariance(self) -> Num:
        n = np.asarray(self.n, dtype=float)
        raw = _safe_div(
            np.asarray(self.post_pre_sum_of_products) - _safe_div(np.multiply(self.post.sum, self.pre.sum), n),
            n - 1,
        )
        out = np.where(n > 1, raw, 0.0)
        return out if out.ndim else float(out)

    @property
    def variance(self) -> Num:
        theta = np.asarray(self.theta)
        raw = self.post.variance + theta**2 * self.pre.variance - 2 * theta * self.covariance
        out = np.where(np.asarray(self.n) > 1, raw, 0.0)
        return out if out.ndim else float(out)


def compute_pooled_theta(a: RegressionAdjustedStat, b: RegressionAdjustedStat) -> Num:
    """CUPED theta from both arms pooled: Cov(Y, X) / Var(X); 0 when either variance is 0.

    Args:
        a, b: the control and treatment statistics (their own theta is ignored).
    Returns:
        theta (float or array), as gbstats `compute_theta`.
    """
    n = np.asarray(a.n) + np.asarray(b.n)
    joint = RegressionAdjustedStat(
        n=n,
        post=SampleMeanStat(n, np.add(a.post.sum, b.post.sum), np.add(a.post.sum_squares, b.post.sum_squares)),
        pre=SampleMeanStat(n, np.add(a.pre.sum, b.pre.sum), np.add(a.pre.sum_squares, b.pre.sum_squares)),
        post_pre_sum_of_products=np.add(a.post_pre_sum_of_products, b.post_pre_sum_of_products),
    )
    var_pre, var_post = np.asarray(joint.pre.variance), np.asarray(joint.post.variance)
    ok = (var_pre > 0) & (var_post > 0)
    out = np.where(ok, _safe_div(joint.covariance, np.where(ok, var_pre, 1.0)), 0.0)
    return out if out.ndim else float(out)


def with_theta(stat: RegressionAdjustedStat, theta: Num) -> RegressionAdjustedStat:
    """The same statistic with a (pooled) theta set."""
    return replace(stat, theta=theta)


Stat = SampleMeanStat | ProportionStat | RatioStat | RegressionAdjustedStat
