"""Pure report assembly: per-arm moments -> SRM, per-metric tests by role, guardrails, verdict.

Roles (GrowthBook/Statsig/Eppo practice): the decision metric is tested alone at alpha and decides
the verdict; secondary metrics are Holm/BH-adjusted among themselves; guardrails are one-sided
non-inferiority tests. Segments (the decision metric by language and by client) are exploratory,
adjusted among themselves, and never reach the verdict.

Takes plain data (moments per arm, cumulative moments per day) from queries.py or
parquet_export.py and returns a ReportResult; no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

import numpy as np

from experiments.ab.metrics import (
    DEFAULT_METRICS,
    MetricSpec,
    build_stat,
    compute_moments,
    decision_metric,
    prod_key,
    required_moments,
    sum_key,
    sumsq_key,
)
from experiments.ab.results import (
    CUPED_RATIO_NOTICE,
    SEGMENTS_WARNING,
    SRM_FAILED_MESSAGE,
    ArmStatResult,
    ComparisonResult,
    CumulativePoint,
    EffectResult,
    GuardrailStatus,
    MetricResult,
    ReportResult,
    SegmentResult,
    SrmResult,
    Verdict,
)
from experiments.ab.significance import (
    DEFAULT_SEQUENTIAL_TUNING,
    SRM_P_THRESHOLD,
    WelchEstimate,
    adjust_p_values,
    apply_cuped,
    check_testable,
    compute_confidence_sequence,
    compute_noninferiority_test,
    compute_srm_p_value,
    compute_welch_test,
)
from experiments.ab.stats import RegressionAdjustedStat, Stat

Moments = Mapping[str, float]
# dimension ("language" | "client") -> segment value -> arm -> moments of the decision metric
SegmentMoments = Mapping[str, Mapping[str, Mapping[str, Moments]]]


@dataclass(frozen=True)
class AbReportConfig:
    """Everything that decides a report's numbers; embedded in every report."""

    experiment: str
    control: str | None = None  # None: an arm named "control", else the first arm by name
    alpha: float = 0.05
    correction: Literal["holm", "fdr_bh"] = "holm"  # across secondary metrics (and across segments)
    # Verdicts use always-valid p-values / confidence sequences, so daily looks are safe.
    is_sequential: bool = True
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING
    srm_threshold: float = SRM_P_THRESHOLD
    weights: tuple[float, ...] | None = None  # per arm in name order; None: equal split
    enable_cuped: bool = True
    start: datetime | None = None  # experiment start (pre-period ends here)
    pre_period_days: int = 14
    metrics: tuple[MetricSpec, ...] = field(default=DEFAULT_METRICS)  # with roles (metrics.assign_roles)
    segments: bool = True  # exploratory breakdowns of the decision metric by language and client

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["start"] = self.start.isoformat() if self.start else None
        return d


def _f(x: Any) -> float:
    return float(np.asarray(x, dtype=float))


def _effect(welch: WelchEstimate, total_units: float, cfg: AbReportConfig) -> EffectResult:
    seq = compute_confidence_sequence(welch, total_units, alpha=cfg.alpha, tuning=cfg.sequential_tuning)
    return EffectResult(
        estimate=_f(welch.estimate),
        std_error=_f(welch.std_error),
        ci_low=_f(welch.ci_low),
        ci_high=_f(welch.ci_high),
        p_value=_f(welch.p_value),
        cs_low=_f(seq.cs_low),
        cs_high=_f(seq.cs_high),
        p_value_sequential=_f(seq.p_value),
    )


def _guardrail_status(
    welch: WelchEstimate, total_units: float, spec: MetricSpec, cfg: AbReportConfig
) -> tuple[GuardrailStatus, float]:
    """pass: non-inferiority shown; fail: harm beyond the margin shown; else inconclusive."""
    assert spec.margin is not None
    p_ni = _f(compute_noninferiority_test(welch, margin=spec.margin, higher_is_better=spec.higher_is_better))
    sign = 1.0 if spec.higher_is_better else -1.0
    if cfg.is_sequential:
        # A two-sided 1 - 2 alpha sequence is a one-sided 1 - alpha bound on each side.
        seq = compute_confidence_sequence(welch, total_units, alpha=2 * cfg.alpha, tuning=cfg.sequential_tuning)
        worst, best = (_f(seq.cs_low), _f(seq.cs_high))[:: int(sign)]
    else:
        p_harm = 1 - p_ni  # the opposite one-sided test: H0 "no worse than the margin"
        status: GuardrailStatus = "pass" if p_ni < cfg.alpha else ("fail" if p_harm < cfg.alpha else "inconclusive")
        return status, p_ni
    # worst = the bound on the harmful side, best = the other one (in effect units)
    if sign * worst > -spec.margin:
        return "pass", p_ni
    if sign * best < -spec.margin:
        return "fail", p_ni
    return "inconclusive", p_ni


def _analyse_metric(
    spec: MetricSpec,
    control: tuple[str, Moments],
    treatment: tuple[str, Moments],
    cfg: AbReportConfig,
    *,
    with_cuped: bool,
) -> MetricResult:
    a = build_stat(spec, control[1], with_cuped=with_cuped)
    b = build_stat(spec, treatment[1], with_cuped=with_cuped)
    raw_variance: float | None = None
    if isinstance(a, RegressionAdjustedStat) and isinstance(b, RegressionAdjustedStat):
        raw_variance = _f(compute_welch_test(a.post, b.post, alpha=cfg.alpha).variance)
        a, b = apply_cuped(a, b)
    arm_a = _arm(control[0], a)
    arm_b = _arm(treatment[0], b)
    base: dict[str, Any] = {
        "metric": spec.name,
        "label": spec.label,
        "role": spec.role,
        "kind": spec.kind,
        "control": arm_a,
        "treatment": arm_b,
        "is_cuped": raw_variance is not None,
        "margin": spec.margin,
        "margin_type": spec.margin_type if spec.margin else None,
    }
    error = check_testable(a, b)
    if error is not None:
        return MetricResult(
            absolute=None,
            relative=None,
            error_message=error,
            guardrail_status="error" if spec.role == "guardrail" else None,
            **base,
        )  # type: ignore[arg-type]
    n_total = _f(a.n) + _f(b.n)
    w_abs = compute_welch_test(a, b, alpha=cfg.alpha)
    w_rel = compute_welch_test(a, b, alpha=cfg.alpha, relative=True)
    reduction = None
    if raw_variance:
        reduction = 1 - _f(w_abs.variance) / raw_variance
    status: GuardrailStatus | None = None
    p_guard = None
    if spec.role == "guardrail" and spec.margin is not None:
        w = w_rel if spec.margin_type == "relative" else w_abs
        status, p_guard = _guardrail_status(w, n_total, spec, cfg)
    return MetricResult(
        absolute=_effect(w_abs, n_total, cfg),
        relative=_effect(w_rel, n_total, cfg),
        variance_reduction=reduction,
        guardrail_status=status,
        guardrail_p_value=p_guard,
        **base,  # type: ignore[arg-type]
    )


def _arm(name: str, stat: Stat) -> ArmStatResult:
    return ArmStatResult(arm=name, units=int(_f(stat.n)), mean=_f(stat.mean), variance_per_unit=_f(stat.variance))


def _verdict_p(m: MetricResult, cfg: AbReportConfig) -> float:
    assert m.absolute is not None
    return m.absolute.p_value_sequential if cfg.is_sequential else m.absolute.p_value


def _with_adjusted(metrics: list[MetricResult], cfg: AbReportConfig) -> list[MetricResult]:
    """The decision metric at alpha on its own p-value; Holm/BH among the secondary metrics.

    Both on the p-value the verdict uses (always-valid when sequential). Guardrails have their own
    one-sided tests and are in no family.
    """
    adjusted = {m.metric: _verdict_p(m, cfg) for m in metrics if m.role == "decision" and m.absolute is not None}
    secondary = [m for m in metrics if m.role == "secondary" and m.absolute is not None]
    raw = [_verdict_p(m, cfg) for m in secondary]
    adjusted.update(zip([m.metric for m in secondary], adjust_p_values(raw, method=cfg.correction), strict=True))
    out = []
    for m in metrics:
        if m.metric in adjusted:
            p = adjusted[m.metric]
            m = _replace(m, p_value_adjusted=p, is_significant=p < cfg.alpha)
        out.append(m)
    return out


def _replace(m: MetricResult, **changes: Any) -> MetricResult:
    return replace(m, **changes)


def decide_verdict(metrics: Sequence[MetricResult], *, is_srm_mismatch: bool) -> tuple[Verdict, str]:
    """Ship / do not ship / keep running / no verdict, with the reason.

    Rules, in order: SRM -> no verdict; a guardrail shown worse than its margin -> do not ship;
    the decision metric significantly worse -> do not ship; significantly better with every
    guardrail non-inferior -> ship; anything else -> keep running. Secondary metrics and segments
    never decide.
    """
    if is_srm_mismatch:
        return "no verdict", "sample ratio mismatch: the arms' unit counts do not match the split"
    decision = [m for m in metrics if m.role == "decision"]
    guards = [m for m in metrics if m.role == "guardrail"]
    failed = [g.metric for g in guards if g.guardrail_status == "fail"]
    if failed:
        return "do not ship", f"guardrail worse than its margin: {', '.join(failed)}"
    if not decision or decision[0].absolute is None:
        err = decision[0].error_message if decision else "no decision metric"
        return "keep running", f"decision metric not analysable ({err})"
    primary = decision[0]
    assert primary.absolute is not None
    if not primary.is_significant:
        return "keep running", f"{primary.metric}: no significant effect yet"
    if primary.absolute.estimate < 0:
        return "do not ship", f"{primary.metric} significantly worse"
    pending = [g.metric for g in guards if g.guardrail_status != "pass"]
    if pending:
        return "keep running", (
            f"{primary.metric} significantly better, but non-inferiority not yet shown for: {', '.join(pending)}"
        )
    return "ship", f"{primary.metric} significantly better and every guardrail within its margin"


def run_analysis(
    cfg: AbReportConfig,
    moments_by_arm: Mapping[str, Moments],
    *,
    cumulative: Mapping[str, Sequence[tuple[str, Moments]]] | None = None,
    descriptive: Mapping[str, Mapping[str, float]] | None = None,
    notices: Sequence[str] = (),
    with_cuped: bool = False,
    segments: SegmentMoments | None = None,
) -> ReportResult:
    """The whole report from per-arm moments (arm name -> moments of required_moments)."""
    arms = sorted(moments_by_arm)
    control = cfg.control or ("control" if "control" in arms else arms[0])
    weights = list(cfg.weights) if cfg.weights else [1.0] * len(arms)
    units = {arm: int(moments_by_arm[arm]["n"]) for arm in arms}
    srm_p = _f(compute_srm_p_value([units[a] for a in arms], weights))
    srm = SrmResult(
        units=units,
        expected_weights=dict(zip(arms, weights, strict=True)),
        p_value=srm_p,
        threshold=cfg.srm_threshold,
        is_mismatch=srm_p < cfg.srm_threshold,
    )
    all_notices = list(notices)
    if with_cuped and any(s.kind == "ratio" for s in cfg.metrics):
        all_notices.append(CUPED_RATIO_NOTICE)
    if srm.is_mismatch:
        all_notices.insert(0, SRM_FAILED_MESSAGE.format(threshold=cfg.srm_threshold))
    if segments:
        all_notices.append(SEGMENTS_WARNING.format(dimensions=" and ".join(segments), correction=cfg.correction))
    comparisons = []
    for arm in (a for a in arms if a != control):
        metrics = [
            _analyse_metric(
                spec, (control, moments_by_arm[control]), (arm, moments_by_arm[arm]), cfg, with_cuped=with_cuped
            )
            for spec in cfg.metrics
        ]
        metrics = _with_adjusted(metrics, cfg)
        verdict, reason = decide_verdict(metrics, is_srm_mismatch=srm.is_mismatch)
        series = _cumulative_points(cfg, control, arm, cumulative) if cumulative else []
        comparisons.append(
            ComparisonResult(
                treatment=arm,
                metrics=metrics,
                verdict=verdict,
                reason=reason,
                cumulative=series,
                segments=analyse_segments(cfg, control, arm, segments) if segments else [],
            )
        )
    return ReportResult(
        experiment=cfg.experiment,
        control=control,
        srm=srm,
        comparisons=comparisons,
        descriptive={k: dict(v) for k, v in (descriptive or {}).items()},
        notices=all_notices,
        config=cfg.to_dict(),
    )


def analyse_segments(cfg: AbReportConfig, control: str, arm: str, segments: SegmentMoments) -> list[SegmentResult]:
    """The decision metric in every segment where both arms have units, adjusted among the segments.

    Exploratory: the family is every (dimension, value) of this comparison, adjusted with
    cfg.correction on the p-value the verdict would use; no CUPED (the pre-period is not segmented).
    """
    spec = decision_metric(cfg.metrics)
    if spec is None:
        return []
    raw: list[SegmentResult] = []
    for dimension, by_value in segments.items():
        for value, by_arm in sorted(by_value.items()):
            if control not in by_arm or arm not in by_arm:
                continue
            m = _analyse_metric(spec, (control, by_arm[control]), (arm, by_arm[arm]), cfg, with_cuped=False)
            raw.append(SegmentResult(dimension, value, m))
    tested = [s for s in raw if s.result.absolute is not None]
    adjusted = adjust_p_values([_verdict_p(s.result, cfg) for s in tested], method=cfg.correction)
    by_key = {(s.dimension, s.value): p for s, p in zip(tested, adjusted, strict=True)}
    out = []
    for s in raw:
        p = by_key.get((s.dimension, s.value))
        if p is not None:
            s = replace(s, result=_replace(s.result, p_value_adjusted=p, is_significant=p < cfg.alpha))
        out.append(s)
    return out


def _cumulative_points(
    cfg: AbReportConfig,
    control: str,
    arm: str,
    cumulative: Mapping[str, Sequence[tuple[str, Moments]]],
) -> list[CumulativePoint]:
    """The decision metric's absolute effect with CI and confidence sequence at each day's end."""
    spec = decision_metric(cfg.metrics)
    assert spec is not None
    by_day_a = dict(cumulative.get(control, ()))
    points = []
    for day, mom_b in cumulative.get(arm, ()):
        mom_a = by_day_a.get(day)
        if mom_a is None:
            continue
        a = build_stat(spec, mom_a, with_cuped=False)
        b = build_stat(spec, mom_b, with_cuped=False)
        if check_testable(a, b) is not None:
            continue
        w = compute_welch_test(a, b, alpha=cfg.alpha)
        n = _f(a.n) + _f(b.n)
        seq = compute_confidence_sequence(w, n, alpha=cfg.alpha, tuning=cfg.sequential_tuning)
        vals = [_f(x) for x in (w.estimate, w.ci_low, w.ci_high, seq.cs_low, seq.cs_high)]
        if all(math.isfinite(v) for v in vals):
            points.append(CumulativePoint(day, int(n), *vals))
    return points


def compute_cumulative_moments(
    *,
    unit_index: np.ndarray,
    day_index: np.ndarray,
    values: Mapping[str, np.ndarray],
    n_units: int,
    n_days: int,
    spec: MetricSpec,
) -> list[dict[str, float]]:
    """Moments of one metric at the end of each day, from per-(unit, day) sums of one arm.

    A unit counts from its first day with a row; its cumulative sums carry over empty days.

    Args:
        unit_index, day_index: per row, the unit's 0-based index and the day's 0-based index.
        values: column -> per-row daily sums (the metric's numerator and denominator).
    Returns:
        one moments dict per day (n, sum__c, sumsq__c, prod__num__den).
    """
    cols, products = required_moments((spec,), with_cuped=False)
    dense = {}
    for col in cols:
        mat = np.zeros((n_units, n_days))
        np.add.at(mat, (unit_index, day_index), np.asarray(values[col], dtype=float))
        dense[col] = np.cumsum(mat, axis=1)
    first_day = np.full(n_units, n_days)
    np.minimum.at(first_day, unit_index, day_index)
    active = first_day[:, None] <= np.arange(n_days)[None, :]  # (units, days)
    out = []
    for d in range(n_days):
        mask = active[:, d]
        day_values = {c: dense[c][mask, d] for c in cols}
        out.append(
            compute_moments(day_values, cols, products)
            if mask.any()
            else {"n": 0.0, **dict.fromkeys(_zero_keys(cols, products), 0.0)}
        )
    return out


def _zero_keys(cols: list[str], products: list[tuple[str, str]]) -> list[str]:
    return [sum_key(c) for c in cols] + [sumsq_key(c) for c in cols] + [prod_key(a, b) for a, b in products]


@dataclass(frozen=True)
class DailyRows:
    """Per-(unit, arm, day) sums of the primary metric's columns, as the adapters return them."""

    arm: np.ndarray  # str per row
    unit: np.ndarray  # unit id per row
    day: np.ndarray  # ISO date string per row
    values: dict[str, np.ndarray]


@dataclass(frozen=True)
class TelemetrySummary:
    """What an adapter (queries.py, parquet_export.py) hands to run_analysis: plain data only."""

    moments_by_arm: dict[str, dict[str, float]]
    cumulative: dict[str, list[tuple[str, Moments]]] | None  # decision metric, per arm per day
    descriptive: dict[str, dict[str, float]]
    notices: list[str]
    with_cuped: bool
    segments: dict[str, dict[str, dict[str, dict[str, float]]]] | None = None  # decision metric
    unavailable_metrics: tuple[str, ...] = ()  # metrics the source cannot compute (left out)


def build_cumulative(daily: DailyRows, spec: MetricSpec) -> dict[str, list[tuple[str, Moments]]]:
    """Cumulative per-day moments of `spec` for every arm, from per-(unit, arm, day) rows."""
    days = sorted(set(daily.day.tolist()))
    day_pos = {d: i for i, d in enumerate(days)}
    out: dict[str, list[tuple[str, Moments]]] = {}
    for arm in sorted(set(daily.arm.tolist())):
        mask = daily.arm == arm
        units, unit_index = np.unique(daily.unit[mask], return_inverse=True)
        day_index = np.array([day_pos[d] for d in daily.day[mask]], dtype=np.int64)
        moments = compute_cumulative_moments(
            unit_index=unit_index,
            day_index=day_index,
            values={k: v[mask] for k, v in daily.values.items()},
            n_units=len(units),
            n_days=len(days),
            spec=spec,
        )
        out[arm] = list(zip(days, moments, strict=True))
    return out


def run_report_analysis(cfg: AbReportConfig, summary: TelemetrySummary) -> ReportResult:
    """run_analysis on an adapter's summary (cumulative series of the decision metric included)."""
    if summary.unavailable_metrics:
        cfg = replace(cfg, metrics=tuple(m for m in cfg.metrics if m.name not in summary.unavailable_metrics))
    return run_analysis(
        cfg,
        summary.moments_by_arm,
        cumulative=summary.cumulative,
        descriptive=summary.descriptive,
        notices=summary.notices,
        with_cuped=summary.with_cuped,
        segments=summary.segments,
    )
