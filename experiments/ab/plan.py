"""Pure experiment planning: sample size, minimum detectable effect and power from per-unit variance.

The variance is the delta-method variance per unit of the ratio metric measured on history, so
within-unit correlation is priced in; the design effect says how much more that costs than the
naive event-level binomial formula would claim.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from scipy import stats as sps

from experiments.ab.stats import RatioStat, Stat


@dataclass(frozen=True)
class PlanConfig:
    alpha: float = 0.05  # two-sided
    power: float = 0.80
    mde_relative: float | None = 0.05  # relative lift to detect; None: solve for the MDE
    units_per_arm: int | None = None  # given units per arm: solve for the MDE / power
    n_arms: int = 2
    sequential_tuning: float = 5000.0  # the report's confidence-sequence tuning (always-valid power)


@dataclass(frozen=True)
class PlanResult:
    baseline_mean: float
    variance_per_unit: float  # delta-method variance of the ratio per unit
    events_per_unit: float  # mean denominator (e.g. shown) per unit
    design_effect: float  # variance_per_unit * events_per_unit / (p (1 - p))
    units_per_arm: int
    mde_relative: float
    mde_absolute: float
    power: float  # fixed horizon: one look at the planned size
    power_sequential: float  # with the report's default always-valid p-values, at the planned size
    config: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate_power(
    *, effect_absolute: float, variance_per_unit: float, units_per_arm: float, alpha: float = 0.05
) -> float:
    """Power of the two-sided fixed-horizon test with equal arms.

    power = Phi(|delta| / se - z_{1-alpha/2}) + Phi(-|delta| / se - z_{1-alpha/2}),
    se = sqrt(2 sigma^2 / n).
    """
    se = math.sqrt(2 * variance_per_unit / units_per_arm)
    z = sps.norm.ppf(1 - alpha / 2)
    shift = abs(effect_absolute) / se
    return float(sps.norm.cdf(shift - z) + sps.norm.cdf(-shift - z))


def estimate_sequential_power(
    *,
    effect_absolute: float,
    variance_per_unit: float,
    units_per_arm: float,
    alpha: float = 0.05,
    tuning: float = 5000.0,
) -> float:
    """Power of the always-valid test (significance.compute_confidence_sequence) at one look.

    Its p-value is below alpha when z^2 > 2 (N rho^2 + 1) (log(1/alpha) + log(N rho^2 + 1) / 2) / (N rho^2),
    N = 2 n, rho^2 as in the report (Waudby-Smith et al. 2023, eq. 155 and 161); the power is then
    Phi(|delta| / se - z_seq) + Phi(-|delta| / se - z_seq).
    """
    n_total = 2 * units_per_arm
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning
    tr = n_total * rho2 + 1
    z_seq = math.sqrt(2 * tr * (math.log(1 / alpha) + 0.5 * math.log(tr)) / (n_total * rho2))
    shift = abs(effect_absolute) / math.sqrt(2 * variance_per_unit / units_per_arm)
    return float(sps.norm.cdf(shift - z_seq) + sps.norm.cdf(-shift - z_seq))


def estimate_units_per_arm(
    *, effect_absolute: float, variance_per_unit: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """n per arm = 2 sigma^2 (z_{1-alpha/2} + z_{power})^2 / delta^2, rounded up."""
    z = sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)
    return int(math.ceil(2 * variance_per_unit * z**2 / effect_absolute**2))


def estimate_mde(*, variance_per_unit: float, units_per_arm: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The absolute effect detected with the given power: (z_{1-a/2} + z_pow) sqrt(2 sigma^2 / n)."""
    z = sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)
    return float(z * math.sqrt(2 * variance_per_unit / units_per_arm))


def compute_plan(history: Stat, cfg: PlanConfig) -> PlanResult:
    """Plan from a historical statistic of the decision metric (one arm's or all units' moments).

    Args:
        history: RatioStat (or a per-unit mean statistic) of the metric over historical units.
        cfg: the target (MDE, or units per arm), alpha and power.
    Returns:
        PlanResult with the units per arm, MDE and power that go together.
    """
    p = float(history.mean)
    var = float(history.variance)
    # the design effect compares with an event-level binomial model: ratios of counts only
    events = float(history.d.mean) if isinstance(history, RatioStat) else 1.0
    binomial = p * (1 - p) if isinstance(history, RatioStat) else 0.0
    deff = var * events / binomial if binomial > 0 else float("nan")
    if cfg.units_per_arm is not None:
        n = cfg.units_per_arm
        if cfg.mde_relative is not None:
            mde_abs = cfg.mde_relative * p
        else:
            mde_abs = estimate_mde(variance_per_unit=var, units_per_arm=n, alpha=cfg.alpha, power=cfg.power)
    else:
        assert cfg.mde_relative is not None, "give mde_relative or units_per_arm"
        mde_abs = cfg.mde_relative * p
        n = estimate_units_per_arm(effect_absolute=mde_abs, variance_per_unit=var, alpha=cfg.alpha, power=cfg.power)
    power = estimate_power(effect_absolute=mde_abs, variance_per_unit=var, units_per_arm=n, alpha=cfg.alpha)
    power_seq = estimate_sequential_power(
        effect_absolute=mde_abs, variance_per_unit=var, units_per_arm=n, alpha=cfg.alpha, tuning=cfg.sequential_tuning
    )
    return PlanResult(
        baseline_mean=p,
        variance_per_unit=var,
        events_per_unit=events,
        design_effect=deff,
        units_per_arm=int(n),
        mde_relative=mde_abs / p,
        mde_absolute=mde_abs,
        power=power,
        power_sequential=power_seq,
        config=asdict(cfg),
    )
