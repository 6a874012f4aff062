"""Simulated telemetry with within-unit correlation, vectorised over many experiments at once.

Used by the validation suite and the benchmark (gbstats `devtools/simulation.py`). Units differ in
how much they use completions (lambda_u ~ Gamma) and in their own acceptance rate
(p_u = P_MAX * Beta(a, b)), so events of one unit are correlated: this is what makes an
event-level test wrong. All randomness comes from the `rng` argument.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from experiments.ab.metrics import PERSISTENCE_AFTER_S, compute_moments

# p_u = P_MAX * Beta(A, B): mean acceptance 0.6 * 2/(2+3) = 0.24; the cap keeps p_u (1 + effect)
# below 1 for effects up to +60 %, so the planted relative effect is exact (no clipping).
P_MAX = 0.6
BETA_A, BETA_B = 2.0, 3.0
MEAN_EXTRA_SHOWN = 20.0  # shown per unit = 1 + Poisson(lambda_u), E[lambda_u] = 20
LAMBDA_SHAPE = 1.5  # Gamma shape: heavy and light users
PERSIST_Q = 0.7  # P(an accepted completion persists at the 30 s checkpoint)
PRE_FRACTION = 0.5  # the pre-period is half as long as the experiment
BASE_ERROR_RATE = 0.01
P_NO_HISTORY = 0.2  # units new to the product: no pre-period events (kept, covariate 0)


@dataclass(frozen=True)
class SimulatedUnits:
    """Per-unit columns, shape (experiments, units); is_treatment marks the arm."""

    is_treatment: np.ndarray
    columns: dict[str, np.ndarray]

    @property
    def true_acceptance(self) -> float:
        return P_MAX * BETA_A / (BETA_A + BETA_B)


def simulate_units(
    rng: np.random.Generator,
    *,
    n_experiments: int,
    n_units: int,
    effect_relative: float = 0.0,
    shown_effect_relative: float = 0.0,
    treatment_share: float = 0.5,
    latency_effect_relative: float = 0.0,
    error_rate_effect_absolute: float = 0.0,
) -> SimulatedUnits:
    """Per-unit sums for many independent experiments.

    Args:
        rng: the only randomness source.
        effect_relative: planted relative lift of each treated unit's acceptance probability.
        shown_effect_relative: planted relative lift of the treated units' usage lambda_u.
        treatment_share: P(unit is in the treatment arm) (Bernoulli assignment, as the gateway).
        latency_effect_relative: planted relative change of every treated completion's latency.
        error_rate_effect_absolute: planted absolute change of the error probability (base 1 %).
    Returns:
        SimulatedUnits with n_shown, n_accepted, n_persisted_30s, pre_n_shown, n_completions,
        latency_ms_sum, n_errors.
    """
    shape = (n_experiments, n_units)
    is_t = rng.random(shape) < treatment_share
    lam = rng.gamma(LAMBDA_SHAPE, MEAN_EXTRA_SHOWN / LAMBDA_SHAPE, size=shape)
    p_u = P_MAX * rng.beta(BETA_A, BETA_B, size=shape)
    p_u = np.where(is_t, p_u * (1 + effect_relative), p_u)
    lam_post = np.where(is_t, lam * (1 + shown_effect_relative), lam)
    shown = 1 + rng.poisson(lam_post)
    accepted = rng.binomial(shown, p_u)
    persisted = rng.binomial(accepted, PERSIST_Q)
    has_history = rng.random(shape) >= P_NO_HISTORY
    pre_shown = np.where(has_history, rng.poisson(lam * PRE_FRACTION), 0)
    latency_unit_ms = rng.lognormal(np.log(300.0), 0.4, size=shape)
    latency_unit_ms = np.where(is_t, latency_unit_ms * (1 + latency_effect_relative), latency_unit_ms)
    latency_sum = shown * latency_unit_ms * rng.gamma(50.0, 1 / 50.0, size=shape)
    errors = rng.binomial(shown, np.where(is_t, BASE_ERROR_RATE + error_rate_effect_absolute, BASE_ERROR_RATE))
    return SimulatedUnits(
        is_treatment=is_t,
        columns={
            "n_shown": shown.astype(float),
            "n_accepted": accepted.astype(float),
            "n_persisted_30s": persisted.astype(float),
            "pre_n_shown": pre_shown.astype(float),
            "n_completions": shown.astype(float),
            "latency_ms_sum": latency_sum,
            "n_errors": errors.astype(float),
        },
    )


def compute_batch_moments(
    sim: SimulatedUnits,
    columns: list[str],
    products: list[tuple[str, str]],
    *,
    treatment: bool,
) -> dict[str, np.ndarray]:
    """Moments per experiment (arrays of shape (experiments,)) for one arm.

    The vectorised twin of metrics.compute_moments; each entry equals compute_moments on that
    experiment's units of that arm.
    """
    mask = (sim.is_treatment if treatment else ~sim.is_treatment).astype(float)
    out: dict[str, np.ndarray] = {"n": mask.sum(axis=1)}
    for col in columns:
        v = sim.columns[col]
        out[f"sum__{col}"] = (v * mask).sum(axis=1)
        out[f"sumsq__{col}"] = (v * v * mask).sum(axis=1)
    for a, b in products:
        out[f"prod__{a}__{b}"] = (sim.columns[a] * sim.columns[b] * mask).sum(axis=1)
    return out


def compute_single_moments(
    sim: SimulatedUnits,
    experiment: int,
    columns: list[str],
    products: list[tuple[str, str]],
    *,
    treatment: bool,
) -> dict[str, float]:
    """compute_moments for one experiment's arm (used to cross-check the batch path)."""
    mask = sim.is_treatment[experiment] if treatment else ~sim.is_treatment[experiment]
    values = {c: sim.columns[c][experiment][mask] for c in sim.columns}
    return compute_moments(values, columns, products)


def simulate_export_frame(
    rng: np.random.Generator,
    *,
    n_units: int,
    experiment: str,
    start: np.datetime64,
    days: int = 7,
    mean_completions: float = 8.0,
    effect_relative: float = 0.0,
    arms: tuple[str, str] = ("control", "treatment"),
    id_prefix: str = "",
) -> pd.DataFrame:
    """Event-level telemetry in the Parquet export format (parquet_export.EXPORT_COLUMNS).

    Each unit gets completions (each one `shown`), accepted with the unit's own p_u, and for
    accepted ones `persisted` events at every checkpoint; ~80 % of units also have `shown` events
    in the 7 days before `start` (no experiment) for CUPED. Rows are not sorted. `id_prefix` makes
    unit, completion and event ids unique across chunks generated separately.
    """

    is_t = rng.random(n_units) < 0.5
    lam = rng.gamma(LAMBDA_SHAPE, mean_completions / LAMBDA_SHAPE, size=n_units)
    p_u = P_MAX * rng.beta(BETA_A, BETA_B, size=n_units) * np.where(is_t, 1 + effect_relative, 1)
    n_comp = 1 + rng.poisson(lam)
    unit_ids = np.array([f"{id_prefix}u{i:07d}" for i in range(n_units)])
    arm = np.where(is_t, arms[1], arms[0])
    # completions
    cu = np.repeat(np.arange(n_units), n_comp)
    nc = len(cu)
    comp_ids = np.char.add(id_prefix + "c", np.arange(nc).astype(str))
    span_s = days * 86400
    c_time = start + rng.integers(0, span_s - 700, size=nc).astype("timedelta64[s]")
    action = rng.choice(np.array(["none", "annotated", "redacted", "blocked"]), size=nc, p=[0.9, 0.05, 0.03, 0.02])
    latency = rng.lognormal(np.log(300.0), 0.5, size=nc)
    is_error = rng.random(nc) < BASE_ERROR_RATE
    comp = pd.DataFrame(
        {
            "record_type": "completion",
            "id": comp_ids,
            "completion_id": comp_ids,
            "unit_id": unit_ids[cu],
            "arm": arm[cu],
            "created_at": c_time,
            "latency_ms": latency,
            "filter_action": action,
            "is_error": is_error,
        }
    )
    # events: shown per completion, accepted with p_u, persisted at each checkpoint
    accepted = rng.random(nc) < p_u[cu]
    parts = [pd.DataFrame({"completion_id": comp_ids, "kind": "shown", "ci": np.arange(nc), "delay_s": 1})]
    acc_idx = np.flatnonzero(accepted)
    chars = rng.integers(5, 200, size=len(acc_idx))
    parts.append(
        pd.DataFrame(
            {
                "completion_id": comp_ids[acc_idx],
                "kind": "accepted",
                "ci": acc_idx,
                "delay_s": 3,
                "accepted_chars": chars,
            }
        )
    )
    still = np.ones(len(acc_idx), dtype=bool)
    for after_s in PERSISTENCE_AFTER_S:
        still &= rng.random(len(acc_idx)) < 0.93
        parts.append(
            pd.DataFrame(
                {
                    "completion_id": comp_ids[acc_idx],
                    "kind": "persisted",
                    "ci": acc_idx,
                    "delay_s": after_s,
                    "after_s": after_s,
                    "is_persisted": still,
                    "retained_chars": np.where(still, chars, 0),
                }
            )
        )
    ev = pd.concat(parts, ignore_index=True)
    ci = ev["ci"].to_numpy()
    ev["unit_id"] = unit_ids[cu][ci]
    ev["arm"] = arm[cu][ci]
    ev["created_at"] = c_time[ci] + ev["delay_s"].to_numpy().astype("timedelta64[s]")
    ev["record_type"] = "event"
    # pre-period: shown events before the start for units with history
    has_hist = rng.random(n_units) >= P_NO_HISTORY
    n_pre = np.where(has_hist, rng.poisson(lam * PRE_FRACTION), 0)
    pu = np.repeat(np.arange(n_units), n_pre)
    pre_ids = np.char.add(id_prefix + "p", np.arange(len(pu)).astype(str))
    pre_time = start - rng.integers(1, 7 * 86400, size=len(pu)).astype("timedelta64[s]")
    pre_comp = pd.DataFrame(
        {
            "record_type": "completion",
            "id": pre_ids,
            "completion_id": pre_ids,
            "unit_id": unit_ids[pu],
            "created_at": pre_time,
            "latency_ms": rng.lognormal(np.log(300.0), 0.5, size=len(pu)),
            "filter_action": "none",
            "is_error": False,
        }
    )
    pre = pd.DataFrame(
        {
            "record_type": "event",
            "kind": "shown",
            "unit_id": unit_ids[pu],
            "completion_id": pre_ids,
            "created_at": pre_time + np.timedelta64(1, "s"),
        }
    )
    frame = pd.concat([comp, ev.drop(columns=["ci", "delay_s"]), pre_comp, pre], ignore_index=True)
    frame["experiment"] = frame["arm"].where(frame["arm"].isna(), experiment)
    is_event = frame["record_type"] == "event"
    frame.loc[is_event, "id"] = np.char.add(id_prefix + "e", np.arange(int(is_event.sum())).astype(str))
    frame["created_at"] = pd.to_datetime(frame["created_at"]).dt.tz_localize("UTC")
    frame["edit_distance_ratio"] = np.nan
    frame["accepted_lines"] = pd.array(
        pd.Series(1.0, index=frame.index).where(frame["kind"] == "accepted"), dtype="Int64"
    )
    # simulated plugins report what they inserted
    frame["accepted_chars_source"] = pd.Series("client", index=frame.index).where(frame["kind"] == "accepted")
    from experiments.ab.parquet_export import EXPORT_COLUMNS

    return frame[list(EXPORT_COLUMNS)]
