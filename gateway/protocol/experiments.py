"""Experiment definitions, as written in the experiments file (TOML/YAML) or posted by an admin."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Largest arm weight: weights are relative, and a bound keeps their sum finite (an `Infinity` weight
# put every unit in the last arm, issue 13).
MAX_ARM_WEIGHT = 1e6


class FilterPolicyOverrides(BaseModel):
    """The FilterPolicy fields an arm may set (gateway.filters.base.FilterPolicy), strictly typed.

    `licence_actions: 5` used to reach FilterPolicy and fail there with a 500 (issue 13).
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    secrets: Literal["redact", "block"] | None = None
    licence_actions: dict[Annotated[str, Field(max_length=64)], Literal["block", "annotate"]] | None = Field(
        None, max_length=64
    )
    provenance_actions: dict[Annotated[str, Field(max_length=64)], Literal["annotate", "block"]] | None = Field(
        None, max_length=64
    )
    min_match_lexemes: Annotated[int, Field(ge=10, le=100_000)] | None = None
    context_chars: Annotated[int, Field(ge=0, le=100_000)] | None = None
    max_provenance_matches: Annotated[int, Field(ge=0, le=1_000)] | None = None
    secret_detectors: list[Annotated[str, Field(max_length=64)]] | None = Field(None, max_length=64)


def _check_upstream(url: str) -> str:
    """An http(s) URL with a host and a port in 1-65535 (port 99999 was accepted, then every request 500ed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("upstream must be an http(s) URL with a host, e.g. http://10.0.0.5:8000")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or (port is None and ":" in parts.netloc.rsplit("@", 1)[-1].rsplit("]", 1)[-1]):
        raise ValueError("upstream port must be 1-65535")
    return url.rstrip("/")


class ArmOverrides(BaseModel):
    """What an arm changes. Priority: arm override -> the request's own value -> gateway default."""

    model_config = ConfigDict(extra="forbid")

    upstream: str | None = Field(None, max_length=2048, description="another vLLM server for this arm")
    model: str | None = Field(
        None, max_length=200, description="model name to ask the (arm's) upstream for (telemetry column: 200)"
    )
    fim_template: str | None = Field(None, max_length=64, description="FIM template name for this arm")
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    max_tokens: Annotated[int, Field(ge=1, description="at most the gateway's max_tokens_limit")] | None = None
    filter_policy: dict[str, Any] | None = Field(
        None,
        description="FilterPolicy fields for this arm",
        json_schema_extra={"properties": FilterPolicyOverrides.model_json_schema()["properties"]},
    )

    @field_validator("upstream")
    @classmethod
    def _upstream(cls, v: str | None) -> str | None:
        return None if v is None else _check_upstream(v)

    @field_validator("filter_policy", mode="before")
    @classmethod
    def _filter_policy(cls, v: Any) -> Any:
        if v is None:
            return v
        try:
            return FilterPolicyOverrides.model_validate(v).model_dump(exclude_unset=True)
        except ValidationError as exc:
            err = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"{where}: {err['msg']}" if where else err["msg"]) from None


class Arm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    weight: Annotated[float, Field(gt=0.0, le=MAX_ARM_WEIGHT, allow_inf_nan=False)] = 1.0
    overrides: ArmOverrides = Field(default_factory=ArmOverrides)


MetricName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]


class ExperimentMetrics(BaseModel):
    """Metric roles for the A/B report (`codesieve ab report`); names are the report's metric names.

    The report checks the names against its metrics; `--decision-metric`, `--secondary` and
    `--guardrails` on its command line take precedence over this block.
    """

    model_config = ConfigDict(extra="forbid")

    decision: MetricName = Field("acceptance_rate", description="the one metric the verdict is decided on")
    secondary: list[MetricName] | None = Field(
        None, max_length=50, description="Holm-adjusted among themselves; default: every other metric"
    )
    guardrails: list[MetricName] | None = Field(
        None, max_length=50, description="one-sided non-inferiority checks; default: the report's guardrails"
    )

    @model_validator(mode="after")
    def _one_role_each(self) -> ExperimentMetrics:
        names = [self.decision, *(self.secondary or []), *(self.guardrails or [])]
        if len(set(names)) != len(names):
            raise ValueError("a metric may have only one role")
        return self


class ExperimentDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    salt: str | None = Field(
        None, max_length=256, description="hash salt; default: the name. Change it to re-randomize"
    )
    unit: Literal["user", "machine"] = "user"
    arms: list[Arm] = Field(min_length=2, max_length=20)
    start: datetime | None = None
    stop: datetime | None = None
    metrics: ExperimentMetrics | None = Field(None, description="metric roles for the A/B report")

    @field_validator("arms")
    @classmethod
    def _unique_arms(cls, arms: list[Arm]) -> list[Arm]:
        if len({a.name for a in arms}) != len(arms):
            raise ValueError("arm names must be unique")
        return arms

    @model_validator(mode="after")
    def _window(self) -> ExperimentDefinition:
        if self.start and self.stop and self.stop <= self.start:
            raise ValueError("stop must be after start")
        for moment in (self.start, self.stop):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("start and stop need a time zone (e.g. 2026-12-01T00:00:00Z)")
        return self

    @property
    def effective_salt(self) -> str:
        return self.salt or self.name
