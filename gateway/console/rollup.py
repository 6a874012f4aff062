"""Daily pre-aggregates for the overview on PostgreSQL: every UTC day up to the last whole hour, kept exact.

Each day is rolled up to the start of the current hour (ended days whole); late rows (persistence
checks 600 s after a completion, spool replays) change a day's raw counts over the span it covers,
so the day is rolled up again. Each day is summed
per (experiment, arm, model, language) into console_daily (counts), console_daily_latency
(completions per whole millisecond of latency) and console_daily_reasons (completions per filter
reason). console_rollup_days keeps the raw row counts each day was rolled up from; a refresh re-rolls
any day whose counts changed (late spool replays, retention), so the overview stays equal to the raw
tables. One replica refreshes at a time (an advisory lock). The overview reads rolled spans from
here and the rest (at most the current hour) from the raw tables.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

_LOCK_ID = 0x636F6E73  # pg advisory lock key ("cons"): one refreshing replica at a time
# Each statement: one closed day of the raw tables (index range scans on created_at).
_DIMS = "coalesce(c.experiment, ''), coalesce(c.arm, ''), c.model, coalesce(c.language, '')"
_DAY_RANGE = "{t}.created_at >= :lo AND {t}.created_at < :hi"

_INSERT_COMPLETIONS = f"""
INSERT INTO console_daily (day, experiment, arm, model, language, completions, errors, annotated, redacted, blocked,
    events, shown, accepted, accepted_chars, persisted_30s, persisted_120s, persisted_600s, retained_chars)
SELECT :day, {_DIMS}, count(*), count(*) FILTER (WHERE c.is_error),
    count(*) FILTER (WHERE c.filter_action = 'annotated'), count(*) FILTER (WHERE c.filter_action = 'redacted'),
    count(*) FILTER (WHERE c.filter_action = 'blocked'), 0, 0, 0, 0, 0, 0, 0, 0
FROM completions c WHERE {_DAY_RANGE.format(t="c")} GROUP BY 2, 3, 4, 5
"""
# Events take experiment and arm from their own row (as the A/B report does), model and language
# from their completion.
_INSERT_EVENTS = """
INSERT INTO console_daily AS d (day, experiment, arm, model, language, completions, errors, annotated, redacted,
    blocked, events, shown, accepted, accepted_chars, persisted_30s, persisted_120s, persisted_600s, retained_chars)
SELECT :day, coalesce(e.experiment, ''), coalesce(e.arm, ''), c.model, coalesce(c.language, ''), 0, 0, 0, 0, 0,
    count(*), count(*) FILTER (WHERE e.kind = 'shown'), count(*) FILTER (WHERE e.kind = 'accepted'),
    coalesce(sum(e.accepted_chars) FILTER (WHERE e.kind = 'accepted'), 0),
    count(*) FILTER (WHERE e.kind = 'persisted' AND e.is_persisted AND e.after_s = 30),
    count(*) FILTER (WHERE e.kind = 'persisted' AND e.is_persisted AND e.after_s = 120),
    count(*) FILTER (WHERE e.kind = 'persisted' AND e.is_persisted AND e.after_s = 600),
    coalesce(sum(e.retained_chars) FILTER (WHERE e.kind = 'persisted' AND e.is_persisted AND e.after_s = 600), 0)
FROM events e JOIN completions c ON c.id = e.completion_id
WHERE e.created_at >= :lo AND e.created_at < :hi GROUP BY 2, 3, 4, 5
ON CONFLICT (day, experiment, arm, model, language) DO UPDATE SET events = EXCLUDED.events, shown = EXCLUDED.shown,
    accepted = EXCLUDED.accepted, accepted_chars = EXCLUDED.accepted_chars, persisted_30s = EXCLUDED.persisted_30s,
    persisted_120s = EXCLUDED.persisted_120s, persisted_600s = EXCLUDED.persisted_600s,
    retained_chars = EXCLUDED.retained_chars
"""
_INSERT_LATENCY = f"""
INSERT INTO console_daily_latency (day, experiment, arm, model, language, latency_ms, n)
SELECT :day, {_DIMS}, round(c.latency_ms)::int, count(*)
FROM completions c WHERE {_DAY_RANGE.format(t="c")} GROUP BY 2, 3, 4, 5, 6
"""
_INSERT_REASONS = f"""
INSERT INTO console_daily_reasons (day, experiment, arm, model, language, reason, n)
SELECT :day, {_DIMS}, r.reason, count(*)
FROM completions c CROSS JOIN LATERAL json_array_elements_text(c.filter_reasons::json) AS r(reason)
WHERE {_DAY_RANGE.format(t="c")} AND c.filter_reasons IS NOT NULL GROUP BY 2, 3, 4, 5, 6
"""
_ROLLUP_TABLES = ("console_daily", "console_daily_latency", "console_daily_reasons")


def _bounds(day: date, hi: datetime) -> dict[str, Any]:
    return {"day": day, "lo": datetime(day.year, day.month, day.day, tzinfo=UTC), "hi": hi}


async def _raw_counts(conn: AsyncConnection, b: dict[str, Any]) -> tuple[int, int]:
    q = "SELECT count(*) FROM {t} WHERE created_at >= :lo AND created_at < :hi"
    completions = (await conn.execute(text(q.format(t="completions")), b)).scalar_one()
    events = (await conn.execute(text(q.format(t="events")), b)).scalar_one()
    return int(completions), int(events)


async def _roll_day(conn: AsyncConnection, b: dict[str, Any], counts: tuple[int, int]) -> None:
    for table in (*_ROLLUP_TABLES, "console_rollup_days"):
        await conn.execute(text(f"DELETE FROM {table} WHERE day = :day"), b)
    for stmt in (_INSERT_COMPLETIONS, _INSERT_EVENTS, _INSERT_LATENCY, _INSERT_REASONS):
        await conn.execute(text(stmt), b)
    await conn.execute(
        text(
            "INSERT INTO console_rollup_days (day, covered_until, completions, events, refreshed_at) "
            "VALUES (:day, :hi, :c, :e, :now)"
        ),
        {**b, "c": counts[0], "e": counts[1], "now": datetime.now(UTC)},
    )


async def refresh_rollups(engine: AsyncEngine, now: datetime) -> int:
    """Roll up every day up to the last whole hour where new, extended or changed; returns days rolled.

    Ended days are rolled whole; today up to the start of the current hour (so the overview reads at
    most one hour of raw rows). A day is rolled again when its raw row counts over the covered span
    change. PostgreSQL only. Each day is its own transaction: an interrupted refresh keeps its work.
    """
    async with engine.connect() as conn:
        first = (await conn.execute(text("SELECT min(created_at) FROM completions"))).scalar_one()
        rows = await conn.execute(text("SELECT day, covered_until, completions, events FROM console_rollup_days"))
        known = {r.day: (r.covered_until, r.completions, r.events) for r in rows.all()}
    if first is None:
        return 0
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    rolled = 0
    day = first.astimezone(UTC).date()
    while (lo := datetime(day.year, day.month, day.day, tzinfo=UTC)) < hour:
        b = _bounds(day, min(lo + timedelta(days=1), hour))
        async with engine.begin() as conn:
            if not (await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK_ID})).scalar_one():
                return rolled  # another replica is refreshing
            await conn.execute(text("SET LOCAL jit = off"))
            counts = await _raw_counts(conn, b)
            if known.get(day) != (b["hi"], *counts):
                await _roll_day(conn, b, counts)
                rolled += 1
        day += timedelta(days=1)
    if rolled:
        await _analyze(engine)
    return rolled


async def _analyze(engine: AsyncEngine) -> None:
    """Fresh planner statistics for the rollups, which a refresh may have grown from nothing.

    Without them (autovacuum analyses later) the overview's latency histogram (~190k rows at 10M
    events) was planned for ~40 rows: a sort spilled to disk, 108 ms instead of 46 ms (EXPLAIN
    ANALYZE, benchmarks/console_pages.py --events 10000000). Small tables: a few ms each.
    """
    async with engine.begin() as conn:
        await conn.execute(text(f"ANALYZE {', '.join((*_ROLLUP_TABLES, 'console_rollup_days'))}"))


async def rolled_until(conn: AsyncConnection) -> datetime | None:
    """Where the rollups end (rows before it are rolled up), if they cover a contiguous span from
    their first day, every day but the last whole; else None (the overview then reads raw rows)."""
    rows = (await conn.execute(text("SELECT day, covered_until FROM console_rollup_days ORDER BY day"))).all()
    if not rows:
        return None
    for prev, cur in zip(rows, rows[1:], strict=False):
        full = datetime(prev.day.year, prev.day.month, prev.day.day, tzinfo=UTC) + timedelta(days=1)
        if cur.day != prev.day + timedelta(days=1) or prev.covered_until != full:
            return None
    return rows[-1].covered_until.astimezone(UTC)  # type: ignore[no-any-return]


async def run_rollup_loop(engine: AsyncEngine, every_s: float) -> None:
    """Refresh now and then every `every_s` seconds (the console's background task)."""
    while True:
        try:
            started = asyncio.get_running_loop().time()
            n = await refresh_rollups(engine, datetime.now(UTC))
            if n:
                log.info("console rollups: %d day(s) in %.1f s", n, asyncio.get_running_loop().time() - started)
        except Exception as exc:  # noqa: BLE001 - the overview falls back to the raw tables
            log.warning("console rollup refresh failed: %s", type(exc).__name__)
        await asyncio.sleep(every_s)
