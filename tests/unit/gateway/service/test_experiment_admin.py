"""gateway.service.experiment_admin: definitions from files and the admin API, stored and mirrored.

Against a real (SQLite) telemetry database through the repository functions the gateway wires in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gateway.db import build_async_engine, run_migrations
from gateway.filters.base import FilterPolicy
from gateway.filters.chain import FilterChain
from gateway.protocol.base import ErrorResponse
from gateway.protocol.experiments import ExperimentDefinition
from gateway.service.arms import ExperimentRegistry
from gateway.service.experiment_admin import (
    ExperimentAdmin,
    ExperimentFileError,
    parse_experiments_text,
    read_experiments_file,
)
from gateway.telemetry.repository import fetch_experiments, upsert_experiment

T = TypeVar("T")
TOML = """
[[experiments]]
name = "temp"
arms = [{name = "a"}, {name = "b", overrides = {temperature = 0.8}}]
"""


def _filters(policy: dict[str, Any] | None) -> FilterChain:
    return FilterChain(replace(FilterPolicy(), **(policy or {})))


def _exp(name: str, **kw: Any) -> ExperimentDefinition:
    return ExperimentDefinition.model_validate({"name": name, "arms": [{"name": "a"}, {"name": "b"}], **kw})


def _with_admins(tmp_path: Path, scenario: Callable[[ExperimentAdmin, ExperimentAdmin], Awaitable[T]]) -> T:
    """Two gateway replicas (two registries) on one database."""
    url = f"sqlite:///{tmp_path / 'telemetry.db'}"
    run_migrations(url)

    async def run() -> T:
        engine = build_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'telemetry.db'}")
        try:
            admins = [
                ExperimentAdmin(
                    ExperimentRegistry(),
                    fetch=partial(fetch_experiments, engine),
                    upsert=partial(upsert_experiment, engine),
                    build_filters=_filters,
                )
                for _ in range(2)
            ]
            return await scenario(admins[0], admins[1])
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_toml_and_yaml_give_the_same_definitions_and_bad_files_one_error(tmp_path: Path) -> None:
    yaml_text = (
        "experiments:\n  - name: temp\n    arms:\n      - {name: a}\n      - {name: b, overrides: {temperature: 0.8}}\n"
    )
    assert parse_experiments_text(TOML, "toml") == parse_experiments_text(yaml_text, "yaml")
    for text, fmt in (("experiments = 3", "toml"), ("[[experiments", "toml"), ("experiments: [{name: x}]", "yaml")):
        with pytest.raises(ExperimentFileError):
            parse_experiments_text(text, fmt)
    with pytest.raises(ExperimentFileError, match="missing.toml"):
        read_experiments_file(tmp_path / "missing.toml")


def test_a_saved_experiment_is_seen_by_every_replica(tmp_path: Path) -> None:
    async def scenario(one: ExperimentAdmin, other: ExperimentAdmin) -> tuple[Any, Any]:
        saved = await one.save(_exp("first"), source="api")
        return saved, await other.describe()

    saved, described = _with_admins(tmp_path, scenario)
    assert isinstance(saved, dict) and saved["name"] == "first"
    assert [d["name"] for d in described["data"]] == ["first"] and described["active"] == "first"


def test_overlapping_invalid_and_over_limit_definitions_are_refused(tmp_path: Path) -> None:
    now = datetime.now(UTC)

    async def scenario(one: ExperimentAdmin, _other: ExperimentAdmin) -> list[Any]:
        await one.save(_exp("running", start=now - timedelta(hours=1)), source="api")
        return [
            await one.save(_exp("second"), source="api"),
            await one.save(_exp("later", start=now + timedelta(days=1)).model_copy(), source="api"),
            await one.save(
                ExperimentDefinition.model_validate(
                    {
                        "name": "big",
                        "arms": [{"name": "a"}, {"name": "b", "overrides": {"max_tokens": 10**6}}],
                        "start": now + timedelta(days=9),
                    }  # fmt: skip
                ),
                source="api",
                max_tokens_limit=4096,
            ),
            await one.save(
                ExperimentDefinition.model_validate(
                    {
                        "name": "fim",
                        "arms": [{"name": "a"}, {"name": "b", "overrides": {"fim_template": "gpt"}}],
                        "start": now + timedelta(days=20),
                    }  # fmt: skip
                ),
                source="api",
            ),
        ]

    overlap, later, big, fim = _with_admins(tmp_path, scenario)
    assert isinstance(overlap, ErrorResponse) and (overlap.status, overlap.code) == (409, "experiment_overlap")
    assert isinstance(later, ErrorResponse) and later.status == 409  # no stop: it would overlap the running one
    assert isinstance(big, ErrorResponse) and big.status == 400 and "exceeds this gateway's limit 4096" in big.message
    assert isinstance(fim, ErrorResponse) and fim.code == "invalid_experiment" and "fim_template" in fim.message


def test_a_file_with_a_definition_this_gateway_refuses_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "experiments.toml"
    bad.write_text(TOML.replace("temperature = 0.8", 'fim_template = "gpt"'))
    good = tmp_path / "good.toml"
    good.write_text(TOML)

    async def scenario(one: ExperimentAdmin, _other: ExperimentAdmin) -> Any:
        with pytest.raises(ExperimentFileError, match="experiment temp: arm b: unknown fim_template"):
            await one.load_file(bad)
        await one.load_file(good)
        return await one.describe()

    described = _with_admins(tmp_path, scenario)
    assert [d["name"] for d in described["data"]] == ["temp"]
