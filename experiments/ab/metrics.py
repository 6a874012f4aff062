"""The report's metrics: per-unit columns, the moments SQL must return, and stats built from them.

A metric is defined once here; queries.py (SQL) and parquet_export.py (pandas) both compute the
per-unit columns named in UNIT_COLUMNS and the moments named by `required_moments`, and
`build_stat` turns one arm's moments into a stats.py statistic. Each metric has a role: one
decision metric (tested alone at alpha; the verdict), secondary metrics (Holm among themselves)
and guardrails (one-sided non-inferiority); `assign_roles` sets them per experiment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from codesieve.core.telemetry.persistence import PERSISTENCE_CHECKPOINTS_S
from codesieve.core.telemetry.persistence import RETAINED_AFTER_S as RETAINED_AFTER_S
from experiments.ab.stats import RatioStat, RegressionAdjustedStat, SampleMeanStat, Stat

# Persistence checkpoints recorded by the gateway (issue 4), the telemetry contract's.
PERSISTENCE_AFTER_S: tuple[int, ...] = PERSISTENCE_CHECKPOINTS_S

# Per-unit columns, each a sum over the unit's rows in the experiment (or its pre-period).
UNIT_COLUMNS: tuple[str, ...] = (
    "n_completions",
    "latency_ms_sum",
    "n_blocked",
    "n_redacted",
    "n_errors",
    "n_shown",
    "n_accepted",
    *(f"n_persisted_{s}s" for s in PERSISTENCE_AFTER_S),
    "retained_chars",
    # CAR / wCAR (per completion choice): "suggested" = visible >= CAR_MIN_VISIBLE_MS or accepted
    "n_suggested",
    "n_suggested_accepted",
    "suggested_chars",
    "suggested_accepted_chars",
    # PCW over unit-days with `activity` events: retained assistant characters / (typed + inserted)
    "pcw_ai_chars",
    "new_chars",
)
# Pre-experiment covariates for CUPED (same definitions, events before the start).
PRE_COLUMNS: tuple[str, ...] = ("pre_n_shown", "pre_retained_chars")
# retained_chars counts the characters still present at RETAINED_AFTER_S (the longest checkpoint).

# Sourcegraph counts a completion as suggested when it was visible for at least 750 ms (or accepted).
CAR_MIN_VISIBLE_MS = 750.0

MetricKind = Literal["mean", "ratio"]
MetricRole = Literal["decision", "secondary", "guardrail"]
DEFAULT_DECISION_METRIC = "acceptance_rate"


@dataclass(frozen=True)
class MetricSpec:
    """One metric: a per-unit mean (numerator only) or a ratio of per-unit sums."""

    name: str
    label: str
    kind: MetricKind
    numerator: str
    denominator: str | None = None
    covariate: str | None = None  # pre-period column for CUPED (mean metrics)
    role: MetricRole = "secondary"
    higher_is_better: bool = True
    margin: float | None = None  # guardrails: tolerated harm
    margin_type: Literal["relative", "absolute"] = "relative"
    definition: str | None = None  # how it is computed and where the definition comes from (report)


def _persistence(after_s: int) -> MetricSpec:
    return MetricSpec(
        name=f"persistence_rate_{after_s}s",
        label=f"persistence rate after {after_s} s (persisted / accepted)",
        kind="ratio",
        numerator=f"n_persisted_{after_s}s",
        denominator="n_accepted",
    )


SOURCEGRAPH_CAR = "https://handbook.sourcegraph.com/departments/data-analytics/cody_analytics/"
SOURCEGRAPH_ANALYTICS = "https://sourcegraph.com/docs/analytics"
SOURCEGRAPH_PCW = "https://sourcegraph.com/docs/analytics/pcw"
COPILOT_METRICS = "https://docs.github.com/en/copilot/reference/copilot-usage-metrics"

# The decision metric first, then secondary metrics, then guardrails (assign_roles may change them).
DEFAULT_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "acceptance_rate",
        "acceptance rate (accepted / shown)",
        "ratio",
        "n_accepted",
        "n_shown",
        role="decision",
        definition="accepted events / shown events per unit (Copilot's acceptance rate: " + COPILOT_METRICS + ")",
    ),
    MetricSpec(
        "car",
        "CAR: completion acceptance rate (accepted / suggested >= 750 ms)",
        "ratio",
        "n_suggested_accepted",
        "n_suggested",
        definition=(
            "distinct accepted completion choices / distinct suggested choices, a choice being suggested "
            "when an event reports it visible for >= 750 ms (`elapsed_ms`) or it was accepted "
            "(Sourcegraph: " + SOURCEGRAPH_CAR + ")"
        ),
    ),
    MetricSpec(
        "wcar",
        "wCAR: CAR weighted by the characters presented",
        "ratio",
        "suggested_accepted_chars",
        "suggested_chars",
        definition=(
            "characters presented in accepted suggested choices / characters presented in suggested choices "
            "(a choice's characters: completion_chars / n_choices of its completion) (Sourcegraph: "
            + SOURCEGRAPH_ANALYTICS
            + ")"
        ),
    ),
    MetricSpec(
        "pcw",
        "PCW: percent of code written by the assistant",
        "ratio",
        "pcw_ai_chars",
        "new_chars",
        definition=(
            "accepted characters still present at the 600 s persistence check / (characters typed, from "
            "`activity` events, pastes excluded, + characters inserted by accepting completions), over the "
            "unit-days that have `activity` events (Sourcegraph: " + SOURCEGRAPH_PCW + ")"
        ),
    ),
    *(_persistence(s) for s in PERSISTENCE_AFTER_S),
    MetricSpec(
        "retained_chars_per_unit",
        "accepted-and-retained characters per active unit",
        "mean",
        "retained_chars",
        covariate="pre_retained_chars",
    ),
    MetricSpec("shown_per_unit", "completions shown per unit", "mean", "n_shown", covariate="pre_n_shown"),
    # Guardrails: one-sided non-inferiority against stated margins.
    MetricSpec(
        "latency_mean_ms",
        "mean completion latency (ms)",
        "ratio",
        "latency_ms_sum",
        "n_completions",
        role="guardrail",
        higher_is_better=False,
        margin=0.10,
        margin_type="relative",
    ),
    MetricSpec(
        "block_rate",
        "blocked completions / completions",
        "ratio",
        "n_blocked",
        "n_completions",
        role="guardrail",
        higher_is_better=False,
        margin=0.005,
        margin_type="absolute",
    ),
    MetricSpec(
        "redaction_rate",
        "redacted completions / completions",
        "ratio",
        "n_redacted",
        "n_completions",
        role="guardrail",
        higher_is_better=False,
        margin=0.01,
        margin_type="absolute",
    ),
    MetricSpec(
        "error_rate",
        "failed completions / completions",
        "ratio",
        "n_errors",
        "n_completions",
        role="guardrail",
        higher_is_better=False,
        margin=0.005,
        margin_type="absolute",
    ),
)


def decision_metric(specs: tuple[MetricSpec, ...]) -> MetricSpec | None:
    """The metric the verdict comes from: the one with role "decision", else the first non-guardrail."""
    for spec in specs:
        if spec.role == "decision":
            return spec
    return next((s for s in specs if s.role != "guardrail"), None)


class UnknownMetricError(ValueError):
    """A metric name in a role list that the report does not define."""


def assign_roles(
    specs: tuple[MetricSpec, ...],
    *,
    decision: str | None = None,
    secondary: tuple[str, ...] | None = None,
    guardrails: tuple[str, ...] | None = None,
) -> tuple[MetricSpec, ...]:
    """The metrics with roles set for one experiment: decision first, then secondary, then guardrails.

    Args:
        specs: the available metrics (DEFAULT_METRICS) with their default roles.
        decision: the decision metric's name (None: keep the default, acceptance_rate).
        secondary: names of the secondary metrics (None: every other non-guardrail metric).
        guardrails: names of the guardrails (None: the default guardrails). A guardrail needs a margin.
    Returns:
        the selected metrics, each with its role; metrics in no role are dropped.
    Raises:
        UnknownMetricError: a name is unknown, used twice, or a guardrail has no margin.
    """
    by_name = {s.name: s for s in specs}
    for name in (decision, *(secondary or ()), *(guardrails or ())):
        if name is not None and name not in by_name:
            raise UnknownMetricError(f"unknown metric {name!r}; metrics are {', '.join(by_name)}")
    current = decision_metric(specs)
    decision_name = decision or (current.name if current else DEFAULT_DECISION_METRIC)
    guard_names = guardrails if guardrails is not None else tuple(s.name for s in specs if s.role == "guardrail")
    if secondary is None:
        secondary = tuple(
            s.name for s in specs if s.role != "guardrail" and s.name not in (decision_name, *guard_names)
        )
    names = [decision_name, *secondary, *guard_names]
    if len(set(names)) != len(names):
        raise UnknownMetricError("a metric may have only one role: " + ", ".join(names))
    for name in guard_names:
        if by_name[name].margin is None:
            raise UnknownMetricError(f"metric {name!r} has no non-inferiority margin and cannot be a guardrail")
    return (
        replace(by_name[decision_name], role="decision"),
        *(replace(by_name[n], role="secondary") for n in secondary),
        *(replace(by_name[n], role="guardrail") for n in guard_names),
    )


def sum_key(col: str) -> str:
    return f"sum__{col}"


def sumsq_key(col: str) -> str:
    return f"sumsq__{col}"


def prod_key(a: str, b: str) -> str:
    return f"prod__{a}__{b}"


def required_moments(specs: tuple[MetricSpec, ...], *, with_cuped: bool) -> tuple[list[str], list[tuple[str, str]]]:
    """The per-unit columns whose sum and sum of squares are needed, and the column products.

    Returns:
        (columns, products): `columns` get sum__c and sumsq__c, products (a, b) get prod__a__b.
    """
    columns: list[str] = []
    products: list[tuple[str, str]] = []
    for spec in specs:
        for col in (spec.numerator, spec.denominator):
            if col is not None and col not in columns:
                columns.append(col)
        if spec.denominator is not None:
            products.append((spec.numerator, spec.denominator))
        if with_cuped and spec.covariate is not None and spec.kind == "mean":
            if spec.covariate not in columns:
                columns.append(spec.covariate)
            products.append((spec.numerator, spec.covariate))
    return columns, list(dict.fromkeys(products))


def compute_moments(
    values: Mapping[str, np.ndarray],
    columns: list[str],
    products: list[tuple[str, str]],
) -> dict[str, float]:
    """One arm's moments from its per-unit columns (the pure twin of the SQL aggregate).

    Args:
        values: column -> per-unit values (one entry per unit of this arm).
    Returns:
        {"n": units, "sum__c", "sumsq__c", "prod__a__b"} as floats.
    """
    n = len(next(iter(values.values()))) if values else 0
    out: dict[str, float] = {"n": float(n)}
    for col in columns:
        v = np.asarray(values[col], dtype=float)
        out[sum_key(col)] = float(v.sum())
        out[sumsq_key(col)] = float(np.dot(v, v))
    for a, b in products:
        out[prod_key(a, b)] = float(np.dot(np.asarray(values[a], dtype=float), np.asarray(values[b], dtype=float)))
    return out


def _mean_stat(m: Mapping[str, float], col: str) -> SampleMeanStat:
    return SampleMeanStat(n=m["n"], sum=m[sum_key(col)], sum_squares=m[sumsq_key(col)])


def build_stat(spec: MetricSpec, moments: Mapping[str, float], *, with_cuped: bool) -> Stat:
    """The stats.py statistic of one metric for one arm (theta left 0 for CUPED stats)."""
    if spec.kind == "ratio":
        assert spec.denominator is not None
        return RatioStat(
            n=moments["n"],
            m=_mean_stat(moments, spec.numerator),
            d=_mean_stat(moments, spec.denominator),
            m_d_sum_of_products=moments[prod_key(spec.numerator, spec.denominator)],
        )
    post = _mean_stat(moments, spec.numerator)
    if with_cuped and spec.covariate is not None:
        return RegressionAdjustedStat(
            n=moments["n"],
            post=post,
            pre=_mean_stat(moments, spec.covariate),
            post_pre_sum_of_products=moments[prod_key(spec.numerator, spec.covariate)],
        )
    return post
