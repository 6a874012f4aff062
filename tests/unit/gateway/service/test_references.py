"""gateway.service.references: a completion's provenance, from memory or the database, for its unit only."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from codesieve.core.telemetry.tables import CompletionRecord
from gateway.db import build_async_engine, build_sync_engine, run_migrations
from gateway.service.recent import CompletionRef, RecentCompletions
from gateway.service.references import completion_references

MATCH = {"repo": "octo/lib", "path": "src/a.py", "license": "MIT", "similarity": 0.9}


def _stored(tmp_path: Path) -> str:
    """A migrated SQLite database holding one completion of unit u1 with one provenance match."""
    url = f"sqlite:///{tmp_path / 'telemetry.db'}"
    run_migrations(url)
    engine = build_sync_engine(url)
    row = {"id": "c-db", "created_at": datetime.now(UTC), "unit_id": "u1", "model": "m", "request_shape": "openai"}
    with engine.begin() as conn:
        conn.execute(insert(CompletionRecord).values(**row, latency_ms=1.0, attributions=json.dumps([MATCH])))
    engine.dispose()
    return f"sqlite+aiosqlite:///{tmp_path / 'telemetry.db'}"


def _lookup(recent: RecentCompletions, url: str, cid: str, unit: str) -> Any:
    async def run() -> Any:
        engine = build_async_engine(url)
        try:
            return await completion_references(recent, engine, cid, unit_id=unit)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_memory_first_then_the_database_and_only_for_the_owning_unit(tmp_path: Path) -> None:
    url = _stored(tmp_path)
    recent = RecentCompletions()
    recent.put("c-mem", CompletionRef("u1", None, None, ("x",), ({"repo": "r"},)))
    assert _lookup(recent, url, "c-mem", "u1") == [{"repo": "r"}]
    assert _lookup(recent, url, "c-db", "u1") == [MATCH]
    # another unit's completion, and an unknown id, read the same: no oracle for ids
    assert _lookup(recent, url, "c-mem", "u2") is None
    assert _lookup(recent, url, "c-db", "u2") is None
    assert _lookup(recent, url, "c-none", "u1") is None
