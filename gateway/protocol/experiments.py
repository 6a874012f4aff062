"""Experiment definitions, as written in the experiments file (TOML/YAML) or posted by an admin."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class ArmOverrides(BaseModel):
    """What an arm changes. Priority: arm override -> the request's own value -> gateway default."""

    model_config = ConfigDict(extra="forbid")

    upstream: str | None = Field(None, description="another vLLM server for this arm")
    model: str | None = Field(
        None, max_length=200, description="model name to ask the (arm's) upstream for (telemetry column: 200)"
    )
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


class ExperimentDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    salt: str | None = Field(None, description="hash salt; default: the name. Change it to re-randomize")
    unit: Literal["user", "machine"] = "user"
    arms: list[Arm] = Field(min_length=2, max_length=20)
    start: datetime | None = None
    stop: datetime | None = None

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
