"""Retention: raw telemetry rows older than N days are folded into per-unit daily aggregates, then deleted."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from codesieve.core.telemetry.tables import CompletionRecord, DailyUnitAggregateRecord, EventRecord

log = logging.getLogger(__name__)
_COUNTERS = (
    "completions",
    "errors",
    "blocked",
    "latency_ms_sum",
    "shown",
    "accepted",
    "dismissed",
    "accepted_chars",
    "persisted_checks",
    "persisted",
    "retained_chars",
)


def _day(ts: datetime) -> datetime:
    ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def apply_retention(engine: AsyncEngine, days: int, *, now: datetime | None = None) -> dict[str, int]:
    """Fold rows older than `days` into daily_unit_aggregates and delete them, in one transaction."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    agg: dict[tuple[Any, ...], dict[str, float]] = defaultdict(lambda: dict.fromkeys(_COUNTERS, 0))
    async with engine.begin() as conn:
        comp = await conn.execute(
            select(
                CompletionRecord.created_at,
                CompletionRecord.unit_id,
                CompletionRecord.experiment,
                CompletionRecord.arm,
                CompletionRecord.is_error,
                CompletionRecord.filter_action,
                CompletionRecord.latency_ms,
            ).where(CompletionRecord.created_at < cutoff)
        )
        for r in comp:
            a = agg[(_day(r.created_at), r.unit_id, r.experiment or "", r.arm or "")]
            a["completions"] += 1
            a["errors"] += int(r.is_error)
            a["blocked"] += int(r.filter_action == "blocked")
            a["latency_ms_sum"] += r.latency_ms
        ev = await conn.execute(
            select(
                EventRecord.created_at,
                EventRecord.unit_id,
                EventRecord.experiment,
                EventRecord.arm,
                EventRecord.kind,
                EventRecord.accepted_chars,
                EventRecord.is_persisted,
                EventRecord.retained_chars,
            ).where(EventRecord.created_at < cutoff)
        )
        n_events = 0
        for e in ev:
            n_events += 1
            a = agg[(_day(e.created_at), e.unit_id, e.experiment or "", e.arm or "")]
            if e.kind in ("shown", "accepted", "dismissed"):
                a[e.kind] += 1
            if e.kind == "accepted":
                a["accepted_chars"] += e.accepted_chars or 0
            if e.kind == "persisted":
                a["persisted_checks"] += 1
                a["persisted"] += int(bool(e.is_persisted))
                a["retained_chars"] += e.retained_chars or 0
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        for (day, unit, exp, arm), counts in agg.items():
            stmt = insert(DailyUnitAggregateRecord).values(day=day, unit_id=unit, experiment=exp, arm=arm, **counts)
            stmt = stmt.on_conflict_do_update(
                index_elements=["day", "unit_id", "experiment", "arm"],
                set_={c: getattr(DailyUnitAggregateRecord, c) + stmt.excluded[c] for c in _COUNTERS},
            )
            await conn.execute(stmt)
        await conn.execute(delete(EventRecord).where(EventRecord.created_at < cutoff))
        # A completion stays while a newer event still refers to it (a persistence check after the cutoff).
        referenced = select(EventRecord.completion_id)
        res = await conn.execute(
            delete(CompletionRecord).where(CompletionRecord.created_at < cutoff, CompletionRecord.id.not_in(referenced))
        )
    summary = {"aggregated_units_days": len(agg), "deleted_events": n_events, "deleted_completions": res.rowcount}
    log.info("retention: %s", summary)
    return summary


async def run_retention_loop(engine: AsyncEngine, days: int, every_s: float = 3600.0) -> None:
    while True:
        try:
            await apply_retention(engine, days)
        except Exception as exc:  # noqa: BLE001 - try again next round; raw rows are kept meanwhile
            log.warning("retention run failed: %s", type(exc).__name__)
        await asyncio.sleep(every_s)
