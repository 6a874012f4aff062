"""Parquet export (the A/B report's input format) and retention, on a SQLite file."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import text
from typer.testing import CliRunner

from codesieve.cli import build_app
from codesieve.core.telemetry.export_schema import SCHEMA
from gateway.db import build_async_engine, build_sync_engine, run_migrations
from gateway.telemetry.repository import insert_rows
from gateway.telemetry.retention import apply_retention

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _seed(url: str) -> None:
    run_migrations(url)

    async def go() -> None:
        engine = build_async_engine(url.replace("sqlite://", "sqlite+aiosqlite://"))
        comps = [
            {
                "id": f"c{i}",
                "created_at": NOW - timedelta(days=40 * (i % 2)),
                "unit_id": f"u{i % 3}",
                "experiment": "exp" if i < 4 else None,
                "arm": "a" if i % 2 else "b",
                "model": "m",
                "request_shape": "openai",
                "latency_ms": 10.0 + i,
                "filter_action": "blocked" if i == 1 else "none",
                "is_error": i == 2,
            }
            for i in range(6)
        ]
        await insert_rows(engine, "completions", comps)
        evs = [
            {
                "client_event_id": f"e{i}",
                "completion_id": f"c{i}",
                "created_at": comps[i]["created_at"],
                "unit_id": comps[i]["unit_id"],
                "experiment": comps[i]["experiment"],
                "arm": comps[i]["arm"],
                "kind": "accepted",
                "accepted_chars": 5,
            }
            for i in range(6)
        ]
        evs.append(
            {
                "client_event_id": "p0",
                "completion_id": "c0",
                "created_at": NOW,
                "unit_id": "u0",
                "experiment": "exp",
                "arm": "b",
                "kind": "persisted",
                "after_s": 30,
                "edit_distance_ratio": 0.1,
                "is_persisted": True,
                "retained_chars": 4,
            }
        )
        await insert_rows(engine, "events", evs)
        await engine.dispose()

    asyncio.run(go())


def test_export_cli_writes_the_documented_format(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    _seed(url)
    out = tmp_path / "exp.parquet"
    result = CliRunner().invoke(
        build_app(), ["telemetry", "export", "--db", url, "--experiment", "exp", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.schema.equals(SCHEMA)
    rows = table.to_pylist()
    assert sum(r["record_type"] == "completion" for r in rows) == 4
    assert sum(r["record_type"] == "event" for r in rows) == 5
    persisted = [r for r in rows if r["kind"] == "persisted"][0]
    assert persisted["is_persisted"] is True and persisted["after_s"] == 30
    bad = CliRunner().invoke(build_app(), ["telemetry", "export", "--db", url, "--output", str(tmp_path / "x.csv")])
    assert bad.exit_code == 2 and not (tmp_path / "x.csv").exists()


def test_retention_folds_old_rows_into_daily_aggregates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _seed(url)

    async def go() -> dict[str, int]:
        engine = build_async_engine(url.replace("sqlite://", "sqlite+aiosqlite://"))
        try:
            return await apply_retention(engine, 30, now=NOW)
        finally:
            await engine.dispose()

    summary = asyncio.run(go())
    assert summary["deleted_events"] == 3 and summary["deleted_completions"] == 3
    with build_sync_engine(url).connect() as conn:
        left = conn.execute(text("SELECT id FROM completions ORDER BY id")).scalars().all()
        agg = conn.execute(
            text("SELECT SUM(completions), SUM(accepted), SUM(accepted_chars), SUM(blocked) FROM daily_unit_aggregates")
        ).one()
    assert left == ["c0", "c2", "c4"]
    assert tuple(agg) == (3, 3, 15, 1)
