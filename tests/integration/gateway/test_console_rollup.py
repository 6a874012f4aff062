"""The console's daily rollups on PostgreSQL give the overview the raw tables' numbers, and follow late rows."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from gateway.console.overview import OverviewFilters, parse_filters, summarize
from gateway.console.queries import fetch_overview
from gateway.console.rollup import refresh_rollups
from gateway.db import build_async_engine, run_migrations
from gateway.telemetry.repository import insert_rows

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def _filters(**params: str) -> OverviewFilters:
    f = parse_filters(params, today=datetime.now(UTC).date(), pseudonymize=lambda u: u)
    assert isinstance(f, OverviewFilters)
    return f


def _comparable(s: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in s.items() if not k.startswith("latency")}


def _completion(i: int, created: datetime, **kw: Any) -> dict[str, Any]:
    return {"id": f"cmpl-late-{i}", "created_at": created, "unit_id": f"u{i}", "model": "tiny-code",
            "language": "python", "request_shape": "openai", "latency_ms": 12.3 + i, **kw}  # fmt: skip


def test_rolled_up_overview_equals_the_raw_one(pg_database: str) -> None:
    from experiments.ab.queries import copy_export_frame
    from experiments.ab.simulation import simulate_export_frame

    run_migrations(pg_database)
    now = datetime.now(UTC)
    today = now.date()
    start = today - timedelta(days=8)
    frame = simulate_export_frame(np.random.default_rng(3), n_units=200, experiment="exp", start=np.datetime64(start),
                                  days=8, effect_relative=0.1)  # fmt: skip
    sync = create_engine(pg_database)
    copy_export_frame(sync, frame)
    sync.dispose()
    closed_day = datetime.combine(start + timedelta(days=2), datetime.min.time(), UTC) + timedelta(hours=5)
    rows = [
        _completion(0, closed_day, filter_action="blocked", filter_reasons=json.dumps(["licence.gpl"])),
        _completion(1, closed_day, filter_action="redacted", filter_reasons=json.dumps(["secret.github_token"])),
    ]
    views = [
        _filters(),
        _filters(experiment="exp", arm="treatment"),
        _filters(model="sim"),
        _filters(language="python"),
    ]

    async def run() -> None:
        engine = build_async_engine(pg_database)
        try:
            await insert_rows(engine, "completions", rows)
            raw = [summarize(await fetch_overview(engine, f)) for f in views]
            assert raw[0]["latency_resolution"] == "exact"
            assert await refresh_rollups(engine, now) >= 8  # the pre-period's days and the closed ones
            rolled = [summarize(await fetch_overview(engine, f)) for f in views]
            assert rolled[0]["latency_resolution"] == "1 ms"
            for r, x in zip(raw, rolled, strict=True):
                assert _comparable(x) == _comparable(r)
                for q in ("latency_p50_ms", "latency_p95_ms"):
                    assert abs(x[q] - r[q]) <= 0.5 if r[q] is not None else x[q] is None
            assert rolled[3]["reasons"] == {"licence.gpl": 1, "secret.github_token": 1}
            # the refresh analysed its tables: the planner knows their size (reltuples is -1 before)
            async with engine.connect() as conn:
                stats = await conn.execute(
                    text("SELECT reltuples FROM pg_class WHERE relname = 'console_daily_latency'")
                )
                counted = await conn.execute(text("SELECT count(*) FROM console_daily_latency"))
                assert stats.scalar_one() == counted.scalar_one() > 0
            assert await refresh_rollups(engine, now) == 0  # nothing changed

            # a late row for a closed day (a spool replayed after an outage) is rolled up again
            await insert_rows(engine, "completions", [_completion(2, closed_day, filter_action="annotated")])
            assert await refresh_rollups(engine, now) == 1
            after = summarize(await fetch_overview(engine, views[3]))
            assert after["completions"] == raw[3]["completions"] + 1
            assert after["filter_actions"]["annotated"] == raw[3]["filter_actions"]["annotated"] + 1
        finally:
            await engine.dispose()

    asyncio.run(run())
