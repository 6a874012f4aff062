"""Benchmark: each console page's data (its SQL and Python, not the browser) p50/p95 over N events.

    .venv/bin/python benchmarks/console_pages.py                      # ~200k events: a quick run
    .venv/bin/python benchmarks/console_pages.py --events 10000000    # the issue's target size
    .venv/bin/python benchmarks/console_pages.py --keep-db            # prints the database's name
    .venv/bin/python benchmarks/console_pages.py --reuse-db NAME      # time again, no seeding

Target (issue 17): every page's data in <= 500 ms p95 with 10M events in PostgreSQL on 2 cores.
Seeds a throwaway database (migrated by Alembic, so the console's tables exist) with simulated
telemetry through COPY (the A/B benchmark's seeding: client signals, exposures, activity, so a
database kept with --keep-db also serves `ab_report.py --reuse-db`), ending today so the overview's default range
(the last 30 days) covers all of it; refreshes the daily rollups once (as the gateway does in the
background; timed); then calls each page's data functions --repeat times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from ab_report import exposure_and_activity  # benchmarks/ is the script's directory
from sqlalchemy import create_engine, text

from codesieve.core.telemetry.tables import Base
from experiments.ab.live_report import build_report
from experiments.ab.queries import copy_export_frame, copy_frame
from experiments.ab.simulation import simulate_export_frame
from gateway.console import accounts, queries
from gateway.console.overview import OverviewFilters, parse_filters, summarize
from gateway.console.reports import ReportCache
from gateway.console.rollup import refresh_rollups
from gateway.db import build_async_engine, run_migrations
from gateway.telemetry.repository import fetch_experiments, ping

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
TARGET_P95_S = 0.5  # issue 17: each page's data within 500 ms p95 at 10M events
EXPERIMENT = "bench"
EVENTS_PER_UNIT = 100.0  # ~40 completions per unit x ~2.4 events per completion (simulation.py)


def seed(url: str, n_events: int, days: int) -> int:
    """Simulated telemetry through COPY, in chunks of 10k units; returns the number of events."""
    run_migrations(url)
    engine = create_engine(url)
    indexes = [idx for table in Base.metadata.sorted_tables for idx in table.indexes]
    for idx in indexes:  # bulk-load practice: rebuild secondary indexes after COPY
        idx.drop(engine, checkfirst=True)
    units = max(200, int(n_events / EVENTS_PER_UNIT))
    start = np.datetime64((date.today() - timedelta(days=days - 1)).isoformat())
    rng = np.random.default_rng(2026)
    t0, events = time.perf_counter(), 0
    for i, lo in enumerate(range(0, units, 10_000)):
        n = min(10_000, units - lo)
        frame = simulate_export_frame(
            rng,
            n_units=n,
            experiment=EXPERIMENT,
            start=start,
            days=days,
            id_prefix=f"k{i}-",
            mean_completions=40.0,
            client_signals=True,
        )
        events += int((frame["record_type"] == "event").sum())
        copy_export_frame(engine, frame)
        # exposures and activity too, so `ab_report.py --reuse-db` can time the A/B report here
        assignments, activity = exposure_and_activity(rng, frame, 10.0)
        copy_frame(engine, "assignments", assignments)
        copy_frame(engine, "activity", activity)
        print(f"  seeded {lo + n}/{units} units, {events:,} events ({time.perf_counter() - t0:.0f} s)", flush=True)
    for idx in indexes:
        idx.create(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # The gateway writes rows as they happen, so a table is in time order on disk; the simulation
        # writes each unit's whole history at once. CLUSTER restores the production layout (the open
        # days the overview reads raw are then the table's tail, not rows spread over every page).
        # The simulation spreads today's rows over all 24 hours; a gateway has none from the future.
        # Statistics first: unanalysed, each deleted completion's foreign-key check on events was
        # planned for ~58k matching rows and JIT-compiled (minutes at 10M events instead of seconds).
        conn.execute(text("ANALYZE"))
        conn.execute(text("SET jit = off"))
        conn.execute(text("DELETE FROM events WHERE created_at > now()"))
        conn.execute(text("DELETE FROM completions WHERE created_at > now()"))
        conn.execute(text("DELETE FROM activity WHERE created_at > now()"))
        conn.execute(text("DELETE FROM assignments WHERE first_seen_at > now()"))
        conn.execute(text("CLUSTER completions USING ix_completions_created_at"))
        conn.execute(text("CLUSTER events USING ix_events_created_at"))
        conn.execute(text("ANALYZE"))
    engine.dispose()
    print(f"seeding: {events:,} events in {time.perf_counter() - t0:.1f} s")
    return events


def _filters(**params: str) -> OverviewFilters:
    f = parse_filters(params, today=datetime.now(UTC).date(), pseudonymize=lambda u: u)
    assert isinstance(f, OverviewFilters), f
    return f


async def _time(fn: Callable[[], Awaitable[Any]], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t0)
    return out


async def time_pages(url: str, repeat: int, report_repeat: int) -> list[tuple[str, list[float]]]:
    engine = build_async_engine(url)
    t0 = time.perf_counter()
    days = await refresh_rollups(engine, datetime.now(UTC))
    print(f"rollups (the gateway's background refresh): {days} day(s) in {time.perf_counter() - t0:.1f} s")
    async with engine.connect() as conn:
        some_unit = (await conn.execute(text("SELECT unit_id FROM completions LIMIT 1"))).scalar_one()
    pages: dict[str, Callable[[], Awaitable[Any]]] = {
        "overview (last 30 days)": lambda: _overview(engine, _filters()),
        "overview (experiment + arm)": lambda: _overview(engine, _filters(experiment=EXPERIMENT, arm="treatment")),
        "overview (model, via completions)": lambda: _overview(engine, _filters(model="sim")),
        "overview (one user)": lambda: _overview(engine, _unit(some_unit)),
        "filters & references": lambda: queries.fetch_filter_actions(engine, include_text=False),
        "keys": lambda: accounts.list_keys(engine),
        "experiments (list)": lambda: fetch_experiments(engine),
        "health": lambda: _health(engine),
    }
    results = [(name, await _time(fn, repeat)) for name, fn in pages.items()]
    if report_repeat > 0:  # 0: pages only (the A/B report alone: benchmarks/ab_report.py --reuse-db)
        cold = await _time(lambda: asyncio.to_thread(build_report, url, EXPERIMENT), report_repeat)
        results.append(("A/B report computation (background)", cold))
        cache = ReportCache(build_report, url, max_age_s=3600.0)
        await cache.get(EXPERIMENT, wait_s=3600.0)  # the page's first view starts it; later views read it
        results.append(("experiment live report page", await _time(lambda: cache.get(EXPERIMENT, wait_s=0.3), repeat)))
    await engine.dispose()
    return results


def _unit(unit_id: str) -> OverviewFilters:
    f = _filters()
    return OverviewFilters(f.since, f.until, user="(bench)", unit_id=unit_id)


async def _overview(engine: Any, f: OverviewFilters) -> Any:
    return summarize(await queries.fetch_overview(engine, f))


async def _health(engine: Any) -> Any:
    return await ping(engine), await queries.fetch_schema_revision(engine), await accounts.fetch_audit(engine)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000, help="events to seed (10000000: the issue's size)")
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--repeat", type=int, default=20, help="timed calls per page")
    ap.add_argument("--report-repeat", type=int, default=3, help="timed calls of the A/B live report (0: skip it)")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--reuse-db", metavar="NAME")
    args = ap.parse_args()
    name = args.reuse_db or f"codesieve_bench_console_{uuid.uuid4().hex[:8]}"
    keep = bool(args.reuse_db) or args.keep_db
    if not args.reuse_db:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        n_events = seed(url, args.events, args.days) if not args.reuse_db else None
        print(f"database kept: {name}" if keep else f"database {name} is dropped at the end")
        results = asyncio.run(time_pages(url, args.repeat, args.report_repeat))
    finally:
        if not keep:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    size = f"{n_events:,} events" if n_events is not None else name
    print(f"console page data over {size} (load average {os.getloadavg()[0]:.1f}); target p95 <= {TARGET_P95_S} s")
    for page, times in results:
        p95 = float(np.percentile(times, 95))
        flag = "ok" if p95 <= TARGET_P95_S else "OVER"
        print(f"  {page:36s} p50 {statistics.median(times) * 1000:8.1f} ms  p95 {p95 * 1000:8.1f} ms  "
              f"(n={len(times)}, p95/target {p95 / TARGET_P95_S:.2f}, {flag})")  # fmt: skip


if __name__ == "__main__":
    main()
