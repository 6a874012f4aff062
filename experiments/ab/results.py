"""Result dataclasses of an A/B report and the error-message constants (gbstats `messages.py`).

Errors are values: a metric that cannot be analysed carries `error_message` and uninformative
numbers (gbstats `_default_output`), so one bad metric never kills the report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# Error / notice strings: tests import these, never copy them.
BASELINE_ZERO_MESSAGE = "ZERO_NEGATIVE_BASELINE_VARIATION"
ZERO_VARIANCE_MESSAGE = "ZERO_NEGATIVE_VARIANCE"
NO_UNITS_MESSAGE = "NO_UNITS_IN_VARIATION"
TOO_FEW_UNITS_MESSAGE = "FEWER_THAN_TWO_UNITS_IN_VARIATION"
SRM_FAILED_MESSAGE = "Sample ratio mismatch (p < {threshold}): assignment is broken; no verdict."
NO_CUPED_NO_START_MESSAGE = (
    "CUPED not applied: the experiment start is unknown (give --start, or an experiments table)."
)
NO_PRE_PERIOD_MESSAGE = (
    "CUPED found no pre-period events for this experiment's units (an export made with "
    "--experiment holds none: export without it to include them); the adjustment is a no-op."
)
CUPED_RATIO_NOTICE = "CUPED applies to per-unit mean metrics; ratio metrics are unadjusted."
UNKNOWN_EXPERIMENT_MESSAGE = "No telemetry found for experiment {name!r}."
ONE_ARM_MESSAGE = "Experiment {name!r} has fewer than two arms with data: {arms}."
UNKNOWN_CONTROL_MESSAGE = "Control arm {control!r} not found; arms are {arms}."
SEGMENTS_WARNING = (
    "Segments are exploratory: effects by {dimensions} are {correction}-adjusted among themselves, "
    "units in several segments count in each, and the verdict never comes from a segment."
)
UNAVAILABLE_METRICS_MESSAGE = "Not computable from this source, left out: {metrics}."

Verdict = Literal["ship", "do not ship", "keep running", "no verdict"]
GuardrailStatus = Literal["pass", "fail", "inconclusive", "error"]


@dataclass(frozen=True)
class EffectResult:
    """One effect (absolute or relative) of treatment vs control with its intervals."""

    estimate: float
    std_error: float
    ci_low: float  # fixed-horizon (1 - alpha) Welch interval
    ci_high: float
    p_value: float
    cs_low: float  # always-valid confidence sequence at the same alpha
    cs_high: float
    p_value_sequential: float  # always-valid p-value


@dataclass(frozen=True)
class ArmStatResult:
    """What one arm shows for one metric."""

    arm: str
    units: int
    mean: float
    variance_per_unit: float


@dataclass(frozen=True)
class MetricResult:
    """One metric, one treatment arm against control."""

    metric: str
    label: str
    role: Literal["decision", "secondary", "guardrail"]
    kind: Literal["mean", "ratio"]
    control: ArmStatResult
    treatment: ArmStatResult
    absolute: EffectResult | None
    relative: EffectResult | None
    is_cuped: bool = False
    variance_reduction: float | None = None  # 1 - Var(adjusted)/Var(raw) of the effect, CUPED only
    # decision: its own p (tested alone at alpha); secondary: Holm/BH among the secondary metrics;
    # segments: Holm/BH among the segments (always on the p-value the verdict uses)
    p_value_adjusted: float | None = None
    is_significant: bool = False
    margin: float | None = None  # guardrails: non-inferiority margin
    margin_type: Literal["relative", "absolute"] | None = None
    guardrail_status: GuardrailStatus | None = None
    guardrail_p_value: float | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class SrmResult:
    units: dict[str, int]
    expected_weights: dict[str, float]
    p_value: float
    threshold: float
    is_mismatch: bool


@dataclass(frozen=True)
class CumulativePoint:
    """The primary metric's absolute effect and confidence sequence at the end of one day."""

    day: str
    units: int
    estimate: float
    ci_low: float
    ci_high: float
    cs_low: float
    cs_high: float


@dataclass(frozen=True)
class SegmentResult:
    """The decision metric within one segment (exploratory: never part of the verdict)."""

    dimension: str  # "language" | "client"
    value: str
    result: MetricResult


@dataclass(frozen=True)
class ComparisonResult:
    treatment: str
    metrics: list[MetricResult]
    verdict: Verdict
    reason: str
    cumulative: list[CumulativePoint] = field(default_factory=list)
    segments: list[SegmentResult] = field(default_factory=list)


@dataclass(frozen=True)
class ReportResult:
    experiment: str
    control: str
    srm: SrmResult
    comparisons: list[ComparisonResult]
    descriptive: dict[str, dict[str, float]]  # arm -> {latency_p50_ms, latency_p95_ms, ...}
    notices: list[str]
    config: dict[str, Any]
    error_message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
