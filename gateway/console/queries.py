"""The console's telemetry SQL: the overview's aggregates, recent filter actions, schema facts.

Aggregates run in SQL over the gateway's tables (Python sees a few rows per page, never an event
row). The metric definitions (persistence checkpoints, which checkpoint counts retained characters)
are the telemetry contract's (codesieve/core/telemetry/persistence.py), which experiments/ab/metrics.py
uses too, so the overview counts what `codesieve ab report` counts.
Works on PostgreSQL (production) and SQLite (the embedded default).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    String,
    and_,
    case,
    cast,
    column,
    func,
    select,
    table,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import ColumnElement

from codesieve.core.telemetry.persistence import RETAINED_AFTER_S
from codesieve.core.telemetry.tables import (
    ApiKeyRecord,
    CompletionRecord,
    ConsoleSessionRecord,
    EventRecord,
)
from gateway.console.overview import (
    PERSISTENCE_SHOWN_S,
    OverviewFilters,
    fold_raw,
    histogram_percentile,
    merge_sums,
)
from gateway.console.rollup import rolled_until

_C = CompletionRecord.__table__.c
_E = EventRecord.__table__.c
_K = ApiKeyRecord.__table__.c
_S = ConsoleSessionRecord.__table__.c

_ACTIONS = ("annotated", "redacted", "blocked")
_DIMS: tuple[Any, ...] = (column("day", Date), column("experiment", String), column("arm", String))
_DIMS += (column("model", String), column("language", String))
# The rollup tables (migration 0005), for reading; gateway/console/rollup.py writes them.
_ROLLUP = {
    "daily": table(
        "console_daily",
        *[column(c.name, c.type) for c in _DIMS],
        *[column(n, BigInteger) for n in ("completions", "errors", *_ACTIONS, "events", "shown", "accepted")],
        column("accepted_chars", BigInteger),
        *[column(n, BigInteger) for n in ("persisted_30s", "persisted_120s", "persisted_600s", "retained_chars")],
    ),
    "latency": table(
        "console_daily_latency", *[column(c.name, c.type) for c in _DIMS], column("latency_ms"), column("n")
    ),
    "reasons": table("console_daily_reasons", *[column(c.name, c.type) for c in _DIMS], column("reason"), column("n")),
}

# Rows on the filter-actions page: the most recent ones (the page is a log, not a report).
RECENT_FILTER_ACTIONS = 100


def _count_if(cond: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _day(col: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return cast(func.date_trunc("day", func.timezone("UTC", col)), Date)
    return func.date(col)


def _completion_where(f: OverviewFilters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.since is not None:
        conds.append(_C.created_at >= f.since)
    if f.until is not None:
        conds.append(_C.created_at < f.until)
    for col, value in ((_C.language, f.language), (_C.model, f.model), (_C.experiment, f.experiment)):
        if value is not None:
            conds.append(col == value)
    if f.arm is not None:
        conds.append(_C.arm == f.arm)
    if f.unit_id is not None:
        conds.append(_C.unit_id == f.unit_id)
    return conds


def _event_where(f: OverviewFilters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [_E.created_at >= f.since, _E.created_at < f.until]
    if f.experiment is not None:
        conds.append(_E.experiment == f.experiment)
    if f.arm is not None:
        conds.append(_E.arm == f.arm)
    if f.unit_id is not None:
        conds.append(_E.unit_id == f.unit_id)
    if f.language is not None:
        conds.append(_C.language == f.language)  # model and language: on the joined completion
    if f.model is not None:
        conds.append(_C.model == f.model)
    return conds


def _events_from(f: OverviewFilters) -> Any:
    """events, joined to their completions when a filter needs the completion's model or language."""
    events = EventRecord.__table__
    if f.language is None and f.model is None:
        return events
    return events.join(CompletionRecord.__table__, _C.id == _E.completion_id)


def _event_sums() -> list[ColumnElement[Any]]:
    persisted_ok = and_(_E.kind == "persisted", _E.is_persisted.is_(True))
    return [
        _count_if(_E.kind == "shown").label("shown"),
        _count_if(_E.kind == "accepted").label("accepted"),
        func.coalesce(func.sum(case((_E.kind == "accepted", _E.accepted_chars), else_=0)), 0).label("accepted_chars"),
        *(_count_if(and_(persisted_ok, _E.after_s == s)).label(f"persisted_{s}s") for s in PERSISTENCE_SHOWN_S),
        func.coalesce(
            func.sum(case((and_(persisted_ok, _E.after_s == RETAINED_AFTER_S), _E.retained_chars), else_=0)), 0
        ).label("retained_chars"),
    ]


async def _percentiles(conn: AsyncConnection, f: OverviewFilters, qs: tuple[float, ...]) -> list[float | None]:
    """Latency percentiles with PostgreSQL's percentile_cont definition (linear interpolation)."""
    where = _completion_where(f)
    if conn.dialect.name == "postgresql":
        cols = [func.percentile_cont(q).within_group(_C.latency_ms) for q in qs]
        row = (await conn.execute(select(*cols).where(*where))).one()
        return [None if v is None else float(v) for v in row]
    n = (await conn.execute(select(func.count()).where(*where))).scalar_one()
    out: list[float | None] = []
    for q in qs:
        if n == 0:
            out.append(None)
            continue
        pos = q * (n - 1)
        lo = int(pos)
        stmt = select(_C.latency_ms).where(*where).order_by(_C.latency_ms).offset(lo).limit(2)
        vals = [float(v) for v in (await conn.execute(stmt)).scalars()]
        hi = vals[1] if len(vals) > 1 else vals[0]
        out.append(vals[0] + (hi - vals[0]) * (pos - lo))
    return out


def _raw_statements(f: OverviewFilters, dialect: str) -> tuple[Any, Any]:
    """One statement per raw table, each a single scan of the range, grouped finely enough that
    overview.fold_raw derives every total, per-day and per-arm figure from their few rows."""
    c_day = _day(_C.created_at, dialect).label("day")
    e_day = _day(_E.created_at, dialect).label("day")
    completions = (
        select(
            c_day,
            _C.filter_action,
            _C.filter_reasons,
            func.count().label("completions"),
            _count_if(_C.is_error.is_(True)).label("errors"),
        )
        .where(*_completion_where(f))
        .group_by(c_day, _C.filter_action, _C.filter_reasons)
    )
    events = (
        select(e_day, _E.experiment, _E.arm, *_event_sums())
        .select_from(_events_from(f))
        .where(*_event_where(f))
        .group_by(e_day, _E.experiment, _E.arm)
    )
    return completions, events


async def _rows(engine: AsyncEngine, stmt: Any) -> list[dict[str, Any]]:
    """One statement on its own connection (the overview's statements run concurrently)."""
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SET LOCAL jit = off"))  # one-pass aggregates: compiling costs more
        return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]


async def _raw_sums(engine: AsyncEngine, f: OverviewFilters) -> dict[str, Any]:
    completions, events = _raw_statements(f, engine.dialect.name)
    c_rows, e_rows = await asyncio.gather(_rows(engine, completions), _rows(engine, events))
    return fold_raw(c_rows, e_rows)


_EVENT_COLS = (
    "shown",
    "accepted",
    "accepted_chars",
    *(f"persisted_{s}s" for s in PERSISTENCE_SHOWN_S),
    "retained_chars",
)


def _rollup_where(f: OverviewFilters, t: Any) -> list[ColumnElement[bool]]:
    assert f.since is not None and f.until is not None
    last = (f.until - timedelta(microseconds=1)).date()  # until may end inside today's rolled span
    conds = [t.c.day >= f.since.date(), t.c.day <= last]
    for name in ("experiment", "arm", "model", "language"):
        if getattr(f, name) is not None:
            conds.append(t.c[name] == getattr(f, name))
    return conds


async def _rollup_sums(conn: AsyncConnection, f: OverviewFilters) -> tuple[dict[str, Any], dict[int, int]]:
    """The same sums as _raw_sums (and a latency histogram) from the daily rollups."""
    d = _ROLLUP["daily"]
    w = _rollup_where(f, d)
    sums = [func.sum(d.c[n]).label(n) for n in ("completions", "errors", "events", *_EVENT_COLS)]
    days = (await conn.execute(select(d.c.day, *sums).where(*w).group_by(d.c.day).order_by(d.c.day))).all()
    actions = (await conn.execute(select(*[func.sum(d.c[a]).label(a) for a in _ACTIONS]).where(*w))).one()
    arm_q = select(d.c.experiment, d.c.arm, *sums).where(*w, d.c.arm != "").group_by(d.c.experiment, d.c.arm)
    arms = (await conn.execute(arm_q)).all()
    r = _ROLLUP["reasons"]
    reason_q = select(r.c.reason, func.sum(r.c.n)).where(*_rollup_where(f, r)).group_by(r.c.reason)
    lat = _ROLLUP["latency"]
    lat_q = select(lat.c.latency_ms, func.sum(lat.c.n)).where(*_rollup_where(f, lat)).group_by(lat.c.latency_ms)
    return {
        "completions_by_day": [
            {"day": x.day, "completions": x.completions, "errors": x.errors} for x in days if x.completions
        ],
        "filter_actions": {a: int(actions._mapping[a] or 0) for a in _ACTIONS},
        "reason_rows": [(json.dumps([x[0]]), int(x[1])) for x in (await conn.execute(reason_q)).all()],
        "events_by_day": [{"day": x.day, **{k: x._mapping[k] for k in _EVENT_COLS}} for x in days if x.events],
        "by_arm": [
            {"experiment": x.experiment or None, "arm": x.arm, **{k: x._mapping[k] for k in _EVENT_COLS}}
            for x in arms
            if x.events
        ],
    }, {int(x[0]): int(x[1]) for x in (await conn.execute(lat_q)).all()}


async def _raw_histogram(engine: AsyncEngine, f: OverviewFilters) -> dict[int, int]:
    ms = cast(func.round(_C.latency_ms), Integer).label("ms")
    stmt = select(ms, func.count().label("n")).where(*_completion_where(f)).group_by(ms)
    return {int(x["ms"]): int(x["n"]) for x in await _rows(engine, stmt)}


async def _split_day(conn: AsyncConnection, f: OverviewFilters) -> datetime | None:
    """Where rolled-up days end inside the filter's range (PostgreSQL, no user filter), else None."""
    if conn.dialect.name != "postgresql" or f.unit_id is not None or f.since is None or f.until is None:
        return None
    covered = await rolled_until(conn)
    if covered is None:
        return None
    split = min(max(covered, f.since), f.until)
    return None if split == f.since else split


async def fetch_overview(engine: AsyncEngine, f: OverviewFilters) -> dict[str, Any]:
    """Every number of the overview page for the filters: raw sums, for overview.summarize().

    Closed days come from the daily rollups (gateway/console/rollup.py) where they exist, the rest
    from the raw tables; latency percentiles are then over whole milliseconds (the rollups keep a
    histogram), else PostgreSQL's exact percentile_cont. Independent statements run concurrently,
    each on its own pooled connection (PostgreSQL runs them on separate cores).
    """
    async with engine.connect() as conn:
        split = await _split_day(conn, f)
    if split is None:
        out, pcts = await asyncio.gather(_raw_sums(engine, f), _exact_percentiles(engine, f))
        out["latency_p50_ms"], out["latency_p95_ms"] = pcts
        out["latency_resolution"] = "exact"
        return out
    raw = replace(f, since=split) if f.until is not None and split < f.until else None
    rolled, raw_sums, raw_hist = await asyncio.gather(
        _rolled(engine, replace(f, until=split)),
        _raw_sums(engine, raw) if raw else _nothing(),
        _raw_histogram(engine, raw) if raw else _nothing(),
    )
    out, hist = rolled
    if raw is not None:
        out = merge_sums(out, raw_sums)
        for ms, n in raw_hist.items():
            hist[ms] = hist.get(ms, 0) + n
    out["latency_p50_ms"], out["latency_p95_ms"] = (histogram_percentile(hist, q) for q in (0.5, 0.95))
    out["latency_resolution"] = "1 ms"
    return out


async def _nothing() -> dict[str, Any]:
    return {}


async def _rolled(engine: AsyncEngine, f: OverviewFilters) -> tuple[dict[str, Any], dict[int, int]]:
    async with engine.connect() as conn:
        return await _rollup_sums(conn, f)


async def _exact_percentiles(engine: AsyncEngine, f: OverviewFilters) -> list[float | None]:
    async with engine.connect() as conn:
        return await _percentiles(conn, f, (0.5, 0.95))


# --- filter actions and health -----------------------------------------------------------------


async def fetch_filter_actions(engine: AsyncEngine, *, include_text: bool) -> list[dict[str, Any]]:
    """The most recent completions a filter acted on: reasons and provenance metadata.

    The completion text is read only when the deployment stores raw text (and then it was stored
    redacted); the prompt is never read.
    """
    cols = [_C.id, _C.created_at, _C.model, _C.language, _C.experiment, _C.arm, _C.filter_action]
    cols += [_C.filter_reasons, _C.attributions]
    if include_text:
        cols.append(_C.completion_text)
    stmt = select(*cols).where(_C.filter_action != "none").order_by(_C.created_at.desc()).limit(RECENT_FILTER_ACTIONS)
    async with engine.connect() as conn:
        rows = [dict(r._mapping) for r in (await conn.execute(stmt)).all()]
    for r in rows:
        r["filter_reasons"] = json.loads(r["filter_reasons"]) if r["filter_reasons"] else []
        r["attributions"] = json.loads(r["attributions"]) if r["attributions"] else []
    return rows


async def fetch_rolled_until(engine: AsyncEngine) -> str | None:
    """Where the overview starts reading raw rows (earlier ones come from the rollups), if anywhere."""
    if engine.dialect.name != "postgresql":
        return None
    async with engine.connect() as conn:
        covered = await rolled_until(conn)
    return covered.strftime("%Y-%m-%d %H:%M UTC") if covered else None


async def fetch_schema_revision(engine: AsyncEngine) -> str | None:
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()
    except Exception:  # noqa: BLE001 - shown as "unknown" on the health page
        return None


__all__ = ["fetch_filter_actions", "fetch_overview", "fetch_rolled_until", "fetch_schema_revision"]
