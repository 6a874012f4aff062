"""gateway.service.readiness: the database state /ready reports, on a real SQLite database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

from gateway.service.readiness import database_state


def _state(engine: Any, **kw: Any) -> str:
    async def run() -> str:
        try:
            return await database_state(engine, **kw)
        finally:
            await engine.dispose()
            await asyncio.sleep(0.1)  # aiosqlite's worker thread reports a failed open a moment later

    return asyncio.run(run())


def test_reachable_database_is_ok_once_attached(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'telemetry.db'}"
    assert _state(create_async_engine(url), attached=True) == "ok"
    assert _state(create_async_engine(url), attached=False) == "not_migrated"


def test_a_database_that_cannot_be_opened_is_unreachable(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'telemetry.db'}"
    assert _state(create_async_engine(url), attached=True) == "unreachable"


class _HangingEngineFault:
    """Fault injection: a database whose connection never opens (a hung server)."""

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[None]:
        await asyncio.sleep(3600)
        yield


def test_a_hanging_database_is_unreachable_within_the_timeout() -> None:
    async def run() -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        state = await database_state(_HangingEngineFault(), attached=True, timeout_s=0.2)  # type: ignore[arg-type]
        return state, loop.time() - started

    state, took = asyncio.run(run())
    assert state == "unreachable" and took < 5.0
