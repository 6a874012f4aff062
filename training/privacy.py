"""DP-SGD budget maths (pure): delta, sample rate, steps, noise for a target epsilon, epsilon recomputation.

Everything here is a function of plain numbers (N, batch size, q, sigma, steps), in the spirit of
opacus' `accountants/analysis/*` vs the stateful `accountants/*`: the training loop keeps the ledger,
this module answers "what does (q, sigma, steps) cost" independently of that ledger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Rényi orders of opacus' RDPAccountant.DEFAULT_ALPHAS (Mironov 2017; Abadi et al. 2016).
RDP_ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)))


@dataclass(frozen=True)
class PrivacyPlan:
    """What a DP run will spend: n units sampled with rate q for `steps` steps at noise sigma."""

    n_units: int
    sample_rate: float
    steps: int
    noise_multiplier: float
    delta: float
    target_epsilon: float


def compute_default_delta(n_units: int) -> float:
    """delta = N^-1.1: below 1/N, so "release one unit in the clear" is not within the guarantee.

    Args:
        n_units: number of privacy units N (records or repositories), >= 1.
    """
    if n_units < 1:
        raise ValueError("need at least one privacy unit")
    return float(n_units) ** -1.1


def compute_sample_rate(batch_size: int, n_units: int) -> float:
    """Poisson sampling rate q = 1 / ceil(N / B), the rate opacus' DPDataLoader uses for batch B.

    With N >= B this is ~ B/N; the expected logical batch is q * N.
    """
    if n_units < 1 or batch_size < 1:
        raise ValueError("batch_size and n_units must be >= 1")
    return 1.0 / math.ceil(n_units / batch_size)


def compute_steps(sample_rate: float, epochs: int) -> int:
    """Logical steps of `epochs` passes: int(epochs / q), exactly as opacus' get_noise_multiplier."""
    return int(epochs / sample_rate)


def compute_noise_multiplier(
    *,
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    accountant: str = "prv",
    epsilon_tolerance: float = 0.01,
) -> float:
    """Smallest sigma (within tolerance) with epsilon(q, sigma, steps, delta) <= target_epsilon."""
    from opacus.accountants.utils import get_noise_multiplier

    return float(
        get_noise_multiplier(
            target_epsilon=target_epsilon,
            target_delta=delta,
            sample_rate=sample_rate,
            steps=steps,
            accountant=accountant,
            epsilon_tolerance=epsilon_tolerance,
        )
    )


def compute_epsilon_prv(*, sample_rate: float, noise_multiplier: float, steps: int, delta: float) -> float:
    """epsilon of `steps` subsampled-Gaussian steps by the PRV accountant (Gopi et al. 2021)."""
    from opacus.accountants import PRVAccountant

    if steps == 0:
        return 0.0
    acc = PRVAccountant()
    acc.history = [(noise_multiplier, sample_rate, steps)]
    return float(acc.get_epsilon(delta=delta))


def compute_epsilon_rdp(*, sample_rate: float, noise_multiplier: float, steps: int, delta: float) -> float:
    """epsilon by RDP composition (Mironov 2017, Mironov et al. 2019): an upper bound on the PRV value."""
    from opacus.accountants.analysis import rdp as rdp_analysis

    if steps == 0:
        return 0.0
    rdp = rdp_analysis.compute_rdp(
        q=sample_rate, noise_multiplier=noise_multiplier, steps=steps, orders=list(RDP_ORDERS)
    )
    eps, _ = rdp_analysis.get_privacy_spent(orders=list(RDP_ORDERS), rdp=rdp, delta=delta)
    return float(eps)


def build_plan(
    *,
    n_units: int,
    batch_size: int,
    epochs: int,
    target_epsilon: float,
    delta: float | None,
    accountant: str = "prv",
    epsilon_tolerance: float = 0.01,
) -> PrivacyPlan:
    """Sample rate, steps and noise for a run over n_units with the given target."""
    resolved_delta = compute_default_delta(n_units) if delta is None else delta
    if resolved_delta >= 1.0 / n_units:
        raise ValueError(f"delta={resolved_delta:.3g} is not below 1/N = {1.0 / n_units:.3g}")
    q = compute_sample_rate(batch_size, n_units)
    steps = compute_steps(q, epochs)
    sigma = compute_noise_multiplier(
        target_epsilon=target_epsilon,
        delta=resolved_delta,
        sample_rate=q,
        steps=steps,
        accountant=accountant,
        epsilon_tolerance=epsilon_tolerance,
    )
    return PrivacyPlan(
        n_units=n_units,
        sample_rate=q,
        steps=steps,
        noise_multiplier=sigma,
        delta=resolved_delta,
        target_epsilon=target_epsilon,
    )
