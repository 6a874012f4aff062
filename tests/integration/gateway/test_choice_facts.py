"""choice_facts (kept by triggers on events) equals a from-scratch grouping of the events, on
PostgreSQL and SQLite, and the A/B report reads the same numbers from it as from the raw events.

Events go in through the gateway's own insert path (repository.insert_rows: ON CONFLICT DO NOTHING)
in shuffled batches: late persistence checks, a choice's first event arriving after its later
ones, replayed duplicates, events before the unit's first exposure, events without an arm or of
another experiment than their completion, two choices per completion, concurrent writers; then a
retention-style delete. The expected facts are computed here in plain Python from the rows.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from codesieve.core.telemetry import choice_facts
from codesieve.core.telemetry.tables import AssignmentRecord, ChoiceFactRecord
from gateway.db import build_async_engine, build_sync_engine, run_migrations
from gateway.telemetry.repository import insert_rows

pytestmark = [pytest.mark.integration]

T0 = datetime(2026, 11, 2, tzinfo=UTC)
EXPERIMENTS = ("exp-a", "exp-b")


def _rows(seed: int, n_units: int = 60) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for u in range(n_units):
        unit, exp = f"u{u:03d}", EXPERIMENTS[u % 2]
        arm = rng.choice(["control", "treatment"])
        exposed = T0 + timedelta(hours=rng.randint(0, 48))
        out["assignments"].append({"experiment": exp, "unit_id": unit, "arm": arm, "first_seen_at": exposed})
        for j in range(rng.randint(1, 8)):
            cid, n_choices = f"{unit}-c{j}", rng.choice([1, 1, 2])
            t = exposed + timedelta(minutes=rng.randint(-600, 3000))  # some before the exposure
            in_exp = rng.random() > 0.1  # a few completions outside any experiment
            out["completions"].append(
                {
                    "id": cid,
                    "created_at": t,
                    "unit_id": unit,
                    "experiment": exp if in_exp else None,
                    "arm": arm if in_exp else None,
                    "model": "m",
                    "language": rng.choice(["python", "go", None]),
                    "client": rng.choice(["vscode/1.2", None]),
                    "request_shape": rng.choice(["openai", "tabby"]),
                    "n_choices": n_choices,
                    "completion_chars": rng.randint(1, 301),
                    "latency_ms": 100.0,
                }
            )
            for k in range(n_choices):
                out["events"] += _choice_events(rng, cid, k, unit, exp if in_exp else None, arm, t)
    return out


def _choice_events(
    rng: random.Random, cid: str, k: int, unit: str, exp: str | None, arm: str, t: datetime
) -> list[dict[str, Any]]:
    base = {"completion_id": cid, "choice_index": k, "unit_id": unit, "experiment": exp, "arm": arm}
    if exp is not None and rng.random() < 0.05:
        base = base | {"arm": None}  # an event without an arm counts for no arm
    if exp is not None and rng.random() < 0.03:
        base = base | {"experiment": "other"}  # not its completion's experiment: never reported
    shown = {"kind": "shown", "elapsed_ms": rng.choice([None, 120.0, 749.0, 750.0, 2400.0])}
    rows = [base | shown | {"client_event_id": f"{cid}-{k}-s", "created_at": t + timedelta(seconds=1)}]
    if rng.random() < 0.3:  # shown again later (a second view)
        again = {"kind": "shown", "elapsed_ms": rng.choice([None, 900.0])}
        rows.append(base | again | {"client_event_id": f"{cid}-{k}-s2", "created_at": t + timedelta(seconds=40)})
    if rng.random() < 0.4:
        chars = rng.randint(1, 200)
        acc = {"kind": "accepted", "accepted_chars": rng.choice([chars, None])}
        rows.append(base | acc | {"client_event_id": f"{cid}-{k}-a", "created_at": t + timedelta(seconds=2)})
        for after_s in (15, 30, 120, 300, 600):
            kept = rng.random() < 0.8
            check = {"kind": "persisted", "after_s": after_s, "is_persisted": kept}
            check |= {"retained_chars": chars if kept else rng.choice([0, None])}
            when = t + timedelta(seconds=2 + after_s)
            rows.append(base | check | {"client_event_id": f"{cid}-{k}-p{after_s}", "created_at": when})
    elif rng.random() < 0.5:
        rows.append(base | {"kind": "dismissed", "client_event_id": f"{cid}-{k}-d", "created_at": t})
    return rows


def _expected(rows: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """choice_facts by its definition, in Python: per (experiment, completion, choice), the events
    with an experiment and an arm whose completion is of the same experiment."""
    comp = {c["id"]: c for c in rows["completions"]}
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    for e in rows["events"]:
        c = comp[e["completion_id"]]
        if e["experiment"] is None or e.get("arm") is None or c["experiment"] != e["experiment"]:
            continue
        key = (e["experiment"], e["completion_id"], e["choice_index"])
        f = out.setdefault(
            key,
            {name: c.get(name) for name in choice_facts.COMPLETION_COLUMNS}
            | dict.fromkeys(choice_facts.COUNT_COLUMNS, 0)
            | {"first_at": e["created_at"], "max_visible_ms": None},
        )
        f["first_at"] = min(f["first_at"], e["created_at"])
        if e.get("elapsed_ms") is not None:
            f["max_visible_ms"] = max(f["max_visible_ms"] or e["elapsed_ms"], e["elapsed_ms"])
        f["n_shown"] += e["kind"] == "shown"
        f["n_accepted"] += e["kind"] == "accepted"
        f["accepted_chars"] += (e.get("accepted_chars") or 0) if e["kind"] == "accepted" else 0
        if e["kind"] == "persisted" and e["is_persisted"]:
            f[f"n_persisted_{e['after_s']}s"] += 1
            f["retained_chars"] += (e.get("retained_chars") or 0) if e["after_s"] == 600 else 0
    return out


def _stored(engine: Engine) -> dict[tuple[str, str, int], dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(ChoiceFactRecord.__table__)).mappings().all()
    out = {}
    for r in rows:
        f = dict(r)
        at = f["first_at"]
        f["first_at"] = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)  # SQLite keeps no zone
        out[(f.pop("experiment"), f.pop("completion_id"), f.pop("choice_index"))] = f
    return out


async def _write(url: str, rows: dict[str, list[dict[str, Any]]], *, seed: int, writers: int) -> None:
    """Completions first, then the events shuffled (with ~10 % replayed) in batches over `writers`
    concurrent connections, as gateway replicas (PostgreSQL) or one writer (SQLite) would."""
    engine = build_async_engine(url)
    try:
        await insert_rows(engine, "completions", rows["completions"])
        await insert_rows(engine, "assignments", rows["assignments"])
        rng = random.Random(seed)
        events = rows["events"] + rng.sample(rows["events"], len(rows["events"]) // 10)
        rng.shuffle(events)
        batches = [events[i : i + 37] for i in range(0, len(events), 37)]
        queues = [batches[w::writers] for w in range(writers)]

        async def run(queue: list[list[dict[str, Any]]]) -> None:
            for batch in queue:
                await insert_rows(engine, "events", batch)

        await asyncio.gather(*(run(q) for q in queues))
    finally:
        await engine.dispose()


def _delete_before(engine: Engine, cutoff: datetime, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Retention's delete of old events (the facts of the choices it touches are recomputed)."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE created_at < :c"), {"c": cutoff})
    rows["events"] = [e for e in rows["events"] if e["created_at"] >= cutoff]


def _check_facts(sync_url: str, async_url: str, *, writers: int) -> None:
    run_migrations(sync_url)
    rows = _rows(seed=7)
    asyncio.run(_write(async_url, rows, seed=8, writers=writers))
    engine = build_sync_engine(sync_url)
    try:
        expected = _expected(rows)
        assert len(expected) > 250  # the data exercises the definition
        assert _stored(engine) == expected
        _delete_before(engine, T0 + timedelta(hours=20), rows)
        assert _stored(engine) == _expected(rows)
        with engine.begin() as conn:  # the migration's backfill computes the same table
            choice_facts.backfill(conn)
        assert _stored(engine) == _expected(rows)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_choice_facts_equal_their_definition_on_postgresql(pg_database: str) -> None:
    _check_facts(pg_database, pg_database, writers=3)


def test_choice_facts_equal_their_definition_on_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "telemetry.db"
    _check_facts(f"sqlite:///{db}", f"sqlite+aiosqlite:///{db}", writers=1)


def test_migration_backfills_events_written_before_it(tmp_path: Path) -> None:
    """A database at 0006 with events gets them in choice_facts at 0007; later events add to them."""
    db = tmp_path / "telemetry.db"
    sync_url, async_url = f"sqlite:///{db}", f"sqlite+aiosqlite:///{db}"
    run_migrations(sync_url, "0006")
    rows = _rows(seed=3, n_units=20)
    early = {**rows, "events": [e for e in rows["events"] if e["created_at"] < T0 + timedelta(hours=24)]}
    asyncio.run(_write(async_url, early, seed=4, writers=1))
    run_migrations(sync_url)
    engine = build_sync_engine(sync_url)
    try:
        assert _stored(engine) == _expected(early)
        asyncio.run(_write(async_url, rows, seed=5, writers=1))
        assert _stored(engine) == _expected(rows)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_report_reads_the_same_numbers_from_choice_facts_as_from_events(pg_database: str) -> None:
    """fetch_summary over choice_facts == over the raw events: moments (with CUPED), cumulative
    series and segments, exactly (sums of integers and halves are exact in floating point)."""
    from experiments.ab.analysis import AbReportConfig
    from experiments.ab.metrics import DEFAULT_METRICS, assign_roles
    from experiments.ab.queries import fetch_summary

    run_migrations(pg_database)
    rows = _rows(seed=11, n_units=120)
    asyncio.run(_write(pg_database, rows, seed=12, writers=2))
    engine = build_sync_engine(pg_database)
    try:
        with engine.connect() as conn:
            exposed = conn.execute(select(AssignmentRecord.__table__)).all()
        assert len(exposed) == 120
        for decision in ("acceptance_rate", "car"):
            metrics = assign_roles(DEFAULT_METRICS, decision=decision)
            cfg = AbReportConfig(experiment="exp-a", start=T0, metrics=metrics)
            facts, raw = fetch_summary(engine, cfg), fetch_summary(engine, cfg, from_events=True)
            assert facts.moments_by_arm["treatment"]["n"] > 20
            assert facts.moments_by_arm == raw.moments_by_arm
            assert facts.cumulative == raw.cumulative and facts.cumulative
            assert facts.segments == raw.segments and facts.segments
            assert facts.descriptive == raw.descriptive
    finally:
        engine.dispose()


def test_sqlite_events_stored_before_their_completion_count_when_it_arrives(tmp_path: Path) -> None:
    """SQLite does not enforce events -> completions: an event may be stored first (a replayed
    dead-lettered completion); its choice appears in choice_facts when the completion does."""
    db = tmp_path / "telemetry.db"
    sync_url, async_url = f"sqlite:///{db}", f"sqlite+aiosqlite:///{db}"
    run_migrations(sync_url)
    rows = _rows(seed=5, n_units=10)
    late = rows["completions"][:3]

    async def write() -> None:
        engine = build_async_engine(async_url)
        try:
            await insert_rows(engine, "completions", rows["completions"][3:])
            await insert_rows(engine, "events", rows["events"])
            await insert_rows(engine, "completions", late)
        finally:
            await engine.dispose()

    asyncio.run(write())
    engine = build_sync_engine(sync_url)
    try:
        stored = _stored(engine)
        assert any(key[1] in {c["id"] for c in late} for key in stored)
        assert stored == _expected(rows)
    finally:
        engine.dispose()
