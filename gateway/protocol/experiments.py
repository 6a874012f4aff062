"""Experiment definitions, as written in the experiments file (TOML/YAML) or posted by an admin."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class ArmOverrides(BaseModel):
    """What an arm changes. Priority: arm override -> the request's own value -> gateway default."""

    model_config = ConfigDict(extra="forbid")

    upstream: str | None = Field(None, description="another vLLM server for this arm")
    model: str | None = Field(None, description="model name to ask the (arm's) upstream for")
    fim_template: str | None = Field(None, description="FIM template name for this arm")
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    filter_policy: dict[str, Any] | None = Field(None, description="FilterPolicy fields for this arm")


class Arm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    weight: Annotated[float, Field(gt=0.0)] = 1.0
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
    salt: str | None = Field(None, description="hash salt; default: the name. Change it to re-randomize")
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
