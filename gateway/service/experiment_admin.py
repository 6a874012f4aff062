"""ExperimentAdmin: experiment definitions from the config file and the admin API, kept in the
database (so every replica sees the same set) and mirrored into the in-memory registry."""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.protocol.base import ErrorResponse
from gateway.protocol.experiments import ExperimentDefinition
from gateway.service.arms import ExperimentRegistry
from gateway.service.experiment_routing import FilterFactory, check_definition

log = logging.getLogger(__name__)


class ExperimentFileError(ValueError):
    pass


def read_experiments_file(path: Path) -> list[ExperimentDefinition]:
    """`[[experiments]]` tables (TOML) or an `experiments:` list (YAML)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ExperimentFileError(f"{path}: {exc}") from exc
    try:
        return parse_experiments_text(text, "toml" if path.suffix == ".toml" else "yaml")
    except ExperimentFileError as exc:
        raise ExperimentFileError(f"{path}: {exc}") from exc


def parse_experiments_text(text: str, fmt: str) -> list[ExperimentDefinition]:
    """The experiments file's format from a string (the console's editor): fmt is "toml" or "yaml"."""
    try:
        data = tomllib.loads(text) if fmt == "toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ExperimentFileError(str(exc)) from exc
    items = (data or {}).get("experiments", []) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ExperimentFileError("expected a list under `experiments`")
    try:
        return [ExperimentDefinition.model_validate(x) for x in items]
    except ValidationError as exc:
        raise ExperimentFileError(str(exc)) from exc


class ExperimentAdmin:
    def __init__(
        self,
        registry: ExperimentRegistry,
        *,
        fetch: Callable[[], Awaitable[list[dict[str, Any]]]],
        upsert: Callable[..., Awaitable[None]],
        build_filters: FilterFactory | None,
    ) -> None:
        self.registry = registry
        self._fetch = fetch
        self._upsert = upsert
        self._build_filters = build_filters

    async def refresh(self) -> None:
        """Reload every definition from the database (other replicas may have added some)."""
        defs = []
        for item in await self._fetch():
            try:
                defs.append(ExperimentDefinition.model_validate(item["definition"]))
            except ValidationError:
                log.error("experiment in the database no longer validates; ignored")
        self.registry.replace(defs)

    async def save(
        self, exp: ExperimentDefinition, *, source: str, max_tokens_limit: int | None = None
    ) -> dict[str, Any] | ErrorResponse:
        """Validate against this gateway (templates, filter policy, limits), store, reload."""
        await self.refresh()
        problem = check_definition(exp, self._build_filters) or _over_limit(exp, max_tokens_limit)
        if problem:
            return ErrorResponse(400, "invalid_experiment", problem)
        if (other := self.registry.conflicting(exp)) is not None:
            return ErrorResponse(
                409,
                "experiment_overlap",
                f"its time window overlaps experiment {other!r}; one experiment runs at a time",
            )
        await self._upsert(
            name=exp.name, definition=exp.model_dump(mode="json"), source=source, start_at=exp.start, stop_at=exp.stop
        )
        await self.refresh()
        return exp.model_dump(mode="json")

    async def load_file(self, path: Path, *, max_tokens_limit: int | None = None) -> None:
        for exp in read_experiments_file(path):
            result = await self.save(exp, source="file", max_tokens_limit=max_tokens_limit)
            if isinstance(result, ErrorResponse):
                raise ExperimentFileError(f"{path}: experiment {exp.name}: {result.message}")

    async def describe(self) -> dict[str, Any]:
        await self.refresh()
        active = self.registry.active(datetime.now(UTC))
        return {
            "object": "list",
            "active": active.name if active else None,
            "data": [d.model_dump(mode="json") for d in self.registry.all()],
        }


def _over_limit(exp: ExperimentDefinition, max_tokens_limit: int | None) -> str | None:
    """An arm may not raise max_tokens past what the gateway allows any request (10^9 was accepted)."""
    for arm in exp.arms:
        asked = arm.overrides.max_tokens
        if max_tokens_limit is not None and asked is not None and asked > max_tokens_limit:
            return f"arm {arm.name}: max_tokens {asked} exceeds this gateway's limit {max_tokens_limit}"
    return None
