"""Benchmark: time to an A/B report over N events / U units in PostgreSQL (target: 10M / 100k < 60 s).

    .venv/bin/python benchmarks/ab_report.py                        # 100k units, ~10M events
    .venv/bin/python benchmarks/ab_report.py --units 20000 --completions-per-unit 40
    .venv/bin/python benchmarks/ab_report.py --keep-db          # prints the database's name
    .venv/bin/python benchmarks/ab_report.py --reuse-db NAME    # time the report again, no seeding

--reuse-db also takes a database seeded by `benchmarks/console_pages.py --keep-db` (experiment
"bench", the same simulation ending today): the experiment start is then read from its data. A
database seeded before migration 0007 gets its `choice_facts` table and triggers, backfilled from
the events (timed and printed: what the migration costs on that database).

Seeds a throwaway database (created and dropped here) with simulated telemetry through COPY, in
chunks of units: completions (with language, client and length), events (shown with the time
visible), one assignment per unit (its first exposure) and ~`--activity-per-unit` activity rows;
`choice_facts` (the per-choice pre-aggregate the report reads) is backfilled after COPY with its trigger off;
runs ANALYZE, then times `fetch_summary` (the SQL aggregation: every metric incl. CAR / wCAR / PCW,
first-exposure filter, segments) + analysis + Markdown and HTML rendering, and prints the figures
and the ratio against the 60 s budget.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import Engine, create_engine, inspect, text

from codesieve.core.telemetry import choice_facts
from codesieve.core.telemetry.tables import Base, ChoiceFactRecord
from experiments.ab.analysis import AbReportConfig, run_report_analysis
from experiments.ab.metrics import DEFAULT_METRICS, assign_roles
from experiments.ab.queries import copy_export_frame, copy_frame, fetch_summary
from experiments.ab.report import render_html, render_markdown
from experiments.ab.simulation import simulate_export_frame

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
BUDGET_S = 60.0  # issue 5: 10M events / 100k units in under a minute on 2 cores
START = np.datetime64("2026-11-02T00:00:00")
START_UTC = datetime(2026, 11, 2, tzinfo=UTC)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--units", type=int, default=100_000)
    # ~40 completions per unit -> ~2.4 events per completion -> ~100 events per unit
    ap.add_argument("--completions-per-unit", type=float, default=40.0)
    ap.add_argument("--chunk-units", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--activity-per-unit", type=float, default=10.0, help="mean activity events per unit")
    ap.add_argument("--decision-metric", default="acceptance_rate")
    ap.add_argument("--keep-db", action="store_true", help="do not drop the database")
    ap.add_argument("--reuse-db", metavar="NAME", help="a database seeded by an earlier --keep-db run (kept)")
    ap.add_argument("--repeat", type=int, default=2, help="report timings (the first may read a cold cache)")
    args = ap.parse_args()

    if args.reuse_db:
        name, keep = args.reuse_db, True
    else:
        name, keep = f"codesieve_bench_ab_{uuid.uuid4().hex[:8]}", args.keep_db
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    engine = create_engine(url)
    try:
        if args.reuse_db:
            with engine.connect() as conn:
                n_events = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
            print(f"reusing {name}: {n_events:,} events")
            ensure_choice_facts(engine)
            start = experiment_start(engine)
        else:
            n_events, start = seed(engine, args), START_UTC
            print(f"database kept: {name}" if keep else f"database {name} is dropped at the end")
        for _ in range(args.repeat):
            time_report(engine, n_events, args.decision_metric, start)
    finally:
        engine.dispose()
        if not keep:
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(engine: Engine, args: argparse.Namespace) -> int:
    """Simulated telemetry through COPY, in chunks of units; returns the number of events."""
    Base.metadata.create_all(engine)
    # Bulk-load practice: secondary indexes are dropped during COPY and rebuilt after, and the
    # choice_facts trigger is off during COPY and its table backfilled after (the report's timing
    # runs with every index and trigger of the gateway's schema in place).
    indexes = [idx for table in Base.metadata.sorted_tables for idx in table.indexes]
    for idx in indexes:
        idx.drop(engine)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE events DISABLE TRIGGER choice_facts_insert"))
    rng = np.random.default_rng(2026)
    t0 = time.perf_counter()
    rows = n_events = 0
    for i, lo in enumerate(range(0, args.units, args.chunk_units)):
        n = min(args.chunk_units, args.units - lo)
        frame = simulate_export_frame(
            rng,
            n_units=n,
            experiment="bench",
            start=START,
            days=args.days,
            id_prefix=f"k{i}-",
            mean_completions=args.completions_per_unit,
            effect_relative=0.02,
            client_signals=True,
        )
        n_events += int((frame["record_type"] == "event").sum())
        rows += copy_export_frame(engine, frame)
        assignments, activity = exposure_and_activity(rng, frame, args.activity_per_unit)
        rows += copy_frame(engine, "assignments", assignments)
        rows += copy_frame(engine, "activity", activity)
        elapsed = time.perf_counter() - t0
        print(f"  seeded {lo + n}/{args.units} units, {n_events:,} events ({elapsed:.0f} s)", flush=True)
    for idx in indexes:
        idx.create(engine)
    with engine.begin() as conn:
        conn.execute(text("SET work_mem = '256MB'"))
        choice_facts.backfill(conn)
        conn.execute(text("ALTER TABLE events ENABLE TRIGGER choice_facts_insert"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    seed_s = time.perf_counter() - t0
    print(f"seeding: {rows:,} rows ({n_events:,} events) in {seed_s:.1f} s ({rows / seed_s:,.0f} rows/s, COPY)")
    return n_events


def ensure_choice_facts(engine: Engine) -> None:
    """A database from before migration 0007: create choice_facts + triggers and backfill (timed)."""
    if inspect(engine).has_table(ChoiceFactRecord.__tablename__):
        return
    t0 = time.perf_counter()
    Base.metadata.create_all(engine)  # the missing table, and the triggers (tables.py)
    with engine.begin() as conn:
        conn.execute(text("SET work_mem = '256MB'"))
        choice_facts.backfill(conn)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE choice_facts"))
    print(f"choice_facts backfilled from the events in {time.perf_counter() - t0:.1f} s (migration 0007)")


def exposure_and_activity(rng: np.random.Generator, frame: pd.DataFrame, per_unit: float) -> tuple[pd.DataFrame, ...]:
    """One assignment per experiment unit (1 s before its first completion) and its activity rows."""
    comp = frame[(frame["record_type"] == "completion") & frame["arm"].notna()]
    first = comp.groupby("unit_id", sort=False).agg(arm=("arm", "first"), first_seen_at=("created_at", "min"))
    assignments = pd.DataFrame(
        {
            "experiment": "bench",
            "unit_id": first.index,
            "arm": first["arm"].to_numpy(),
            "first_seen_at": first["first_seen_at"] - pd.Timedelta(seconds=1),
        }
    )
    counts = rng.poisson(per_unit, size=len(first))
    unit = np.repeat(first.index.to_numpy(), counts)
    offset_s = rng.integers(0, 7 * 86400, size=len(unit))
    activity = pd.DataFrame(
        {
            "client_event_id": np.char.add("act", np.arange(len(unit)).astype(str)),
            "created_at": pd.DatetimeIndex(first["first_seen_at"]).repeat(counts) + pd.to_timedelta(offset_s, unit="s"),
            "unit_id": unit,
            "chars_typed": rng.integers(0, 2000, size=len(unit)),
            "chars_pasted": rng.integers(0, 500, size=len(unit)),
            "period_s": 300,
        }
    )
    activity["client_event_id"] = activity["unit_id"] + "-" + activity["client_event_id"]
    return assignments, activity


def experiment_start(engine: Engine) -> datetime:
    """The simulated experiment's start in a reused database: the UTC day of its first completion."""
    with engine.connect() as conn:
        first = conn.execute(text("SELECT min(created_at) FROM completions WHERE experiment = 'bench'")).scalar_one()
    if first is None:
        return START_UTC
    day = first.astimezone(UTC)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def time_report(engine: Engine, n_events: int, decision: str, start: datetime) -> None:
    """SQL aggregation + analysis + Markdown/HTML rendering, timed per phase (the analyst's wait)."""
    cfg = AbReportConfig(experiment="bench", start=start, metrics=assign_roles(DEFAULT_METRICS, decision=decision))
    t1 = time.perf_counter()
    summary = fetch_summary(engine, cfg)
    t2 = time.perf_counter()
    result = run_report_analysis(cfg, summary)
    t3 = time.perf_counter()
    md = render_markdown(result)
    html = render_html(result)
    t4 = time.perf_counter()
    total = t4 - t1
    units = sum(int(m["n"]) for m in summary.moments_by_arm.values())
    print(f"report over {n_events:,} events / {units:,} units (load average {os.getloadavg()[0]:.1f}):")
    segments = sum(len(v) for v in (summary.segments or {}).values())
    print(f"  SQL aggregation (moments, cumulative, {segments} segments, quantiles): {t2 - t1:.2f} s")
    print(f"  analysis (tests, CUPED, CS, cumulative series):        {t3 - t2:.2f} s")
    print(f"  rendering (markdown + html with 3 plots):               {t4 - t3:.2f} s")
    print(f"  total: {total:.2f} s; budget {BUDGET_S:.0f} s; ratio total/budget = {total / BUDGET_S:.3f}")
    print(
        f"  verdict: {result.comparisons[0].verdict} ({result.comparisons[0].reason}); "
        f"md {len(md):,} chars, html {len(html):,} chars"
    )


if __name__ == "__main__":
    main()
