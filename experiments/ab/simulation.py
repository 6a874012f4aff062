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
# CAR / wCAR / PCW (drawn after the columns above, so those keep their random streams):
VISIBLE_A, VISIBLE_B = 3.0, 2.0  # q_u ~ Beta: P(a completion not accepted stays visible >= 750 ms), mean 0.6
MEAN_CHARS = 60.0  # a unit's mean completion length L_u ~ Gamma(2, MEAN_CHARS / 2)
CHARS_SHAPE = 4.0  # one completion's length ~ Gamma(CHARS_SHAPE, L_u / CHARS_SHAPE)
PERSIST_LATER_Q = 0.9  # P(still there at the next checkpoint) after 30 s: 120 s, 300 s, 600 s
PERSIST_15S_EXTRA = 0.5  # of the accepts gone at 30 s, the share still there at 15 s
TYPED_PER_USE = 40.0  # characters typed per unit of usage lambda_u, ~ Gamma(TYPED_SHAPE, ...)
TYPED_SHAPE = 2.0
P_NO_ACTIVITY = 0.25  # units whose plugin sends no `activity` events (PCW leaves them out)


@dataclass(frozen=True)
class SimulatedUnits:
    """Per-unit columns, shape (experiments, units); is_treatment marks the arm."""

    is_treatment: np.ndarray
    columns: dict[str, np.ndarray]


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
        SimulatedUnits with n_shown, n_accepted, n_persisted_{15,30,120,300,600}s, retained_chars,
        pre_n_shown, n_completions, latency_ms_sum, n_errors, and the CAR / wCAR / PCW columns
        (n_suggested, n_suggested_accepted, suggested_chars, suggested_accepted_chars, pcw_ai_chars,
        new_chars).
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
    columns = {
        "n_shown": shown.astype(float),
        "n_accepted": accepted.astype(float),
        "n_persisted_30s": persisted.astype(float),
        "pre_n_shown": pre_shown.astype(float),
        "n_completions": shown.astype(float),
        "latency_ms_sum": latency_sum,
        "n_errors": errors.astype(float),
    }
    columns.update(_code_written_columns(rng, shape, lam, shown, accepted, persisted))
    return SimulatedUnits(is_treatment=is_t, columns=columns)


def _gamma_sum(rng: np.random.Generator, count: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Sum of `count` lengths ~ Gamma(CHARS_SHAPE, scale) each: Gamma(count * CHARS_SHAPE, scale); 0 if none."""
    return rng.gamma(count * CHARS_SHAPE, scale)


def _code_written_columns(
    rng: np.random.Generator,
    shape: tuple[int, int],
    lam: np.ndarray,
    shown: np.ndarray,
    accepted: np.ndarray,
    persisted_30s: np.ndarray,
) -> dict[str, np.ndarray]:
    """Persistence at every checkpoint, CAR / wCAR (suggested = accepted or visible >= 750 ms) and PCW."""
    q_u = rng.beta(VISIBLE_A, VISIBLE_B, size=shape)
    visible_rejected = rng.binomial(shown - accepted, q_u)
    scale = rng.gamma(2.0, MEAN_CHARS / 2.0, size=shape) / CHARS_SHAPE
    accepted_chars = _gamma_sum(rng, accepted, scale)
    rejected_chars = _gamma_sum(rng, visible_rejected, scale)
    p15 = persisted_30s + rng.binomial(accepted - persisted_30s, PERSIST_15S_EXTRA)
    p120 = rng.binomial(persisted_30s, PERSIST_LATER_Q)
    p300 = rng.binomial(p120, PERSIST_LATER_Q)
    p600 = rng.binomial(p300, PERSIST_LATER_Q)
    # characters still there at 600 s: the persisted share of the accepted characters
    retained = np.where(accepted > 0, accepted_chars * p600 / np.maximum(accepted, 1), 0.0)
    typed = rng.gamma(TYPED_SHAPE, lam * TYPED_PER_USE / TYPED_SHAPE + 1e-9)
    has_activity = rng.random(shape) >= P_NO_ACTIVITY
    return {
        "n_persisted_15s": p15.astype(float),
        "n_persisted_120s": p120.astype(float),
        "n_persisted_300s": p300.astype(float),
        "n_persisted_600s": p600.astype(float),
        "retained_chars": retained,
        "n_suggested": (accepted + visible_rejected).astype(float),
        "n_suggested_accepted": accepted.astype(float),
        "suggested_chars": accepted_chars + rejected_chars,
        "suggested_accepted_chars": accepted_chars,
        "pcw_ai_chars": np.where(has_activity, retained, 0.0),
        "new_chars": np.where(has_activity, typed + accepted_chars, 0.0),
    }


def true_values(effect_relative: float = 0.0) -> dict[str, float]:
    """The population value of each simulated ratio metric at a planted relative acceptance lift.

    Lambda, p_u, q_u and L_u are independent per unit, so each ratio of expected sums factorises:
    CAR = wCAR = p / (p + (1 - p) q); PCW = r p E[shown] L / (E[lambda] T + p E[shown] L), where
    p = E[p_u] (1 + effect), r = P(persisted at 600 s), T = TYPED_PER_USE.
    """
    p = P_MAX * BETA_A / (BETA_A + BETA_B) * (1 + effect_relative)
    q = VISIBLE_A / (VISIBLE_A + VISIBLE_B)
    r = PERSIST_Q * PERSIST_LATER_Q**3
    shown = 1 + MEAN_EXTRA_SHOWN
    ai = p * shown * MEAN_CHARS
    car = p / (p + (1 - p) * q)
    return {"acceptance_rate": p, "car": car, "wcar": car, "pcw": r * ai / (MEAN_EXTRA_SHOWN * TYPED_PER_USE + ai)}


def holm_adjust_batch(p_values: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values for many experiments at once (rows: hypotheses, columns: experiments).

    The vectorised twin of significance.adjust_p_values(method="holm") (statsmodels): sort each
    column, multiply the j-th smallest by (m - j), take the running maximum, cap at 1, unsort.
    """
    m = p_values.shape[0]
    order = np.argsort(p_values, axis=0, kind="stable")
    sorted_p = np.take_along_axis(p_values, order, axis=0)
    factors = (m - np.arange(m))[:, None]
    adjusted_sorted = np.minimum(np.maximum.accumulate(sorted_p * factors, axis=0), 1.0)
    out = np.empty_like(adjusted_sorted)
    np.put_along_axis(out, order, adjusted_sorted, axis=0)
    return out


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
    client_signals: bool = False,
) -> pd.DataFrame:
    """Event-level telemetry in the Parquet export format (parquet_export.EXPORT_COLUMNS).

    With `client_signals`, also the columns the database has and the export lacks (drawn last, so
    the export columns are the same either way): `language` and `client` (per unit) and
    `completion_chars` on completions, `elapsed_ms` (time visible) on shown events.

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

    if not client_signals:
        return frame[list(EXPORT_COLUMNS)]
    return pd.concat([frame[list(EXPORT_COLUMNS)], _client_signal_columns(rng, frame)], axis=1)


LANGUAGES = ("python", "typescript", "go", "java", "rust")
CLIENTS = ("openai", "tabby")


def _client_signal_columns(rng: np.random.Generator, frame: pd.DataFrame) -> pd.DataFrame:
    """language / client per unit, completion_chars per completion, elapsed_ms per shown event."""
    unit_index, uniques = pd.factorize(frame["unit_id"])
    lang = rng.choice(np.array(LANGUAGES), size=len(uniques), p=[0.4, 0.25, 0.15, 0.1, 0.1])
    client = rng.choice(np.array(CLIENTS), size=len(uniques), p=[0.7, 0.3])
    is_comp = (frame["record_type"] == "completion").to_numpy()
    is_shown = (frame["kind"] == "shown").to_numpy()
    return pd.DataFrame(
        {
            "language": pd.Series(lang[unit_index], index=frame.index).where(is_comp),
            "client": pd.Series(client[unit_index], index=frame.index).where(is_comp),
            "completion_chars": np.where(is_comp, rng.integers(5, 300, size=len(frame)), 0),
            # median ~0.9 s visible: about 40 % of the non-accepted views are under 750 ms
            "elapsed_ms": np.where(is_shown, rng.lognormal(np.log(900.0), 0.8, size=len(frame)), np.nan),
        },
        index=frame.index,
    )
