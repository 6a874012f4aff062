"""The journal-first telemetry writer: batching, replay after a crash, riding out a database outage."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gateway.telemetry.writer import TelemetryWriter


class RecordingDb:
    """A fault-injection stand-in for the database: records inserts, fails while `down` is set."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, Any]]] = []
        self.down = False
        self.calls = 0

    async def insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        self.calls += 1
        if self.down:
            raise ConnectionError("database down")
        self.rows.extend((table, r) for r in rows)


def test_rows_are_batched_and_flushed_on_close(tmp_path: Path) -> None:
    db = RecordingDb()

    async def run() -> None:
        w = TelemetryWriter(db.insert, tmp_path, batch_size=50, flush_interval_s=10.0)
        await w.start()
        for i in range(120):
            w.submit("events", {"id": i})
        await w.close()

    asyncio.run(run())
    assert [r["id"] for _, r in db.rows] == list(range(120))
    assert db.calls <= 6  # batched, not one insert per row
    assert not list((tmp_path / "0").glob("*.jsonl"))  # journal emptied once committed


def test_journal_is_replayed_by_the_next_process_after_a_crash(tmp_path: Path) -> None:
    db = RecordingDb()

    async def crash() -> None:
        w = TelemetryWriter(db.insert, tmp_path, batch_size=1000, flush_interval_s=60.0)
        await w.start()
        for i in range(10):
            w.submit("completions", {"id": f"c{i}"})
        # no close(): the process "dies" here; release only the directory lock, as the OS would
        assert w._task is not None
        w._task.cancel()
        assert w._lock_fd is not None
        import os

        os.close(w._lock_fd)

    asyncio.run(crash())
    assert db.rows == []

    async def restart() -> None:
        w = TelemetryWriter(db.insert, tmp_path, batch_size=1000, flush_interval_s=0.01)
        await w.start()
        await asyncio.sleep(0.1)
        await w.close()

    asyncio.run(restart())
    assert [r["id"] for _, r in db.rows] == [f"c{i}" for i in range(10)]


def test_database_outage_keeps_rows_in_order_until_it_returns(tmp_path: Path) -> None:
    db = RecordingDb()
    db.down = True

    async def run() -> None:
        w = TelemetryWriter(db.insert, tmp_path, batch_size=5, flush_interval_s=0.01)
        await w.start()
        for i in range(20):
            w.submit("events", {"id": i})
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.1)
        assert not w.db_ok and w.pending_segments >= 1
        db.down = False
        for i in range(20, 25):
            w.submit("events", {"id": i})
        await asyncio.sleep(1.5)  # back-off is at most 10 s; first retries come within ~1 s
        await w.close()

    asyncio.run(run())
    assert [r["id"] for _, r in db.rows] == list(range(25))


def test_completions_are_inserted_before_events_of_the_same_batch(tmp_path: Path) -> None:
    db = RecordingDb()

    async def run() -> None:
        w = TelemetryWriter(db.insert, tmp_path, batch_size=100, flush_interval_s=10.0)
        await w.start()
        w.submit("events", {"id": "e1"})
        w.submit("completions", {"id": "c1"})
        await w.close()

    asyncio.run(run())
    assert [t for t, _ in db.rows] == ["completions", "events"]


def test_a_restart_with_fewer_processes_replays_every_dead_journal(tmp_path: Path) -> None:
    """After `serve --workers 3` dies, one process replays all three journals (spool/0..2), in order."""
    import os

    db = RecordingDb()

    async def crash_three() -> None:
        writers = []
        for n in range(3):
            w = TelemetryWriter(db.insert, tmp_path, batch_size=1000, flush_interval_s=60.0)
            await w.start()
            writers.append(w)
            for i in range(4):
                w.submit("events", {"id": f"w{n}-{i}"})
        for w in writers:  # "kill -9": the OS drops the locks, nothing is flushed
            assert w._task is not None and w._lock_fd is not None
            w._task.cancel()
            os.close(w._lock_fd)

    asyncio.run(crash_three())
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["0", "1", "2"]
    assert db.rows == []

    async def restart_one() -> None:
        w = TelemetryWriter(db.insert, tmp_path, batch_size=1000, flush_interval_s=0.01)
        await w.start()
        await asyncio.sleep(0.1)
        await w.close()

    asyncio.run(restart_one())
    ids = [r["id"] for _, r in db.rows]
    assert sorted(ids) == sorted(f"w{n}-{i}" for n in range(3) for i in range(4))  # each once
    for n in range(3):  # each journal's own order is kept
        assert [x for x in ids if x.startswith(f"w{n}-")] == [f"w{n}-{i}" for i in range(4)]
    assert not list(tmp_path.glob("*/*.jsonl"))


def test_a_live_process_journal_is_not_taken_over(tmp_path: Path) -> None:
    db = RecordingDb()

    async def run() -> None:
        live = TelemetryWriter(db.insert, tmp_path, batch_size=1000, flush_interval_s=60.0)
        await live.start()
        live.submit("events", {"id": "live"})
        other = TelemetryWriter(db.insert, tmp_path, batch_size=1000, flush_interval_s=0.01)
        await other.start()  # takes spool/1 and must leave the locked spool/0 alone
        await asyncio.sleep(0.1)
        await other.close()
        assert db.rows == [] and list((tmp_path / "0").glob("*.jsonl"))
        await live.close()

    asyncio.run(run())
    assert [r["id"] for _, r in db.rows] == ["live"]


class PickyDb(RecordingDb):
    """Fault injection: refuses, all-or-nothing per batch, any batch holding a row marked `bad`
    (as PostgreSQL refuses a batch with one over-long value), with the given exception."""

    def __init__(self, refusal: Exception) -> None:
        super().__init__()
        self.refusal = refusal

    async def insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        self.calls += 1
        if self.down:
            raise ConnectionError("database down")
        if any(r.get("bad") for r in rows):
            raise self.refusal
        self.rows.extend((table, r) for r in rows)


def _data_error() -> Exception:
    from sqlalchemy.exc import DataError

    return DataError("INSERT ...", {}, Exception("value too long for type character varying(64)\nDETAIL: x"))


def _dead_letters(root: Path) -> list[dict[str, Any]]:
    import json

    path = root / "dead-letters.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_refused_row_is_dead_lettered_and_the_rows_behind_it_are_inserted(tmp_path: Path) -> None:
    """issue 13: one poisoned row stopped the writer for ever (every later row acknowledged, none stored)."""
    db = PickyDb(_data_error())
    hooked: list[tuple[str, str]] = []

    async def run() -> None:
        w = TelemetryWriter(
            db.insert, tmp_path, batch_size=50, flush_interval_s=0.01, on_dead_letter=lambda *a: hooked.append(a)
        )
        await w.start()
        for i in range(120):
            w.submit("events", {"id": i, "bad": i in (7, 64, 65)})
        await asyncio.sleep(0.3)
        assert w.db_ok and w.pending_segments == 0
        for i in range(120, 130):  # the writer kept going
            w.submit("events", {"id": i, "bad": False})
        await w.close()
        assert w.dead_letters.count() == 3

    asyncio.run(run())
    assert [r["id"] for _, r in db.rows] == [i for i in range(130) if i not in (7, 64, 65)]
    letters = _dead_letters(tmp_path)
    assert [x["row"]["id"] for x in letters] == [7, 64, 65]
    assert letters[0]["table"] == "events"
    assert letters[0]["error"] == {
        "type": "DataError/Exception",
        "message": "value too long for type character varying(64)",
    }
    assert letters[0]["at"].endswith("+00:00") and letters[0]["segment"].endswith(".jsonl")
    assert (tmp_path / "dead-letters.jsonl").stat().st_mode & 0o777 == 0o600
    assert hooked == [("events", "DataError/Exception")] * 3
    assert db.calls < 130 // 2  # bisection, not one INSERT per row


def test_a_refused_row_in_a_replayed_journal_is_dead_lettered(tmp_path: Path) -> None:
    """A journal written before the fix (poisoned row included) replays now instead of blocking."""
    import json

    seg_dir = tmp_path / "0"
    seg_dir.mkdir()
    lines = [{"t": "events", "r": {"id": i, "bad": i == 2}} for i in range(5)]
    (seg_dir / "000000000000.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    db = PickyDb(UnicodeEncodeError("utf-8", "py\ud800", 2, 3, "surrogates not allowed"))

    async def run() -> None:
        w = TelemetryWriter(db.insert, tmp_path, batch_size=100, flush_interval_s=0.01)
        await w.start()
        await asyncio.sleep(0.1)
        await w.close()

    asyncio.run(run())
    assert [r["id"] for _, r in db.rows] == [0, 1, 3, 4]
    assert [x["row"]["id"] for x in _dead_letters(tmp_path)] == [2]
    assert _dead_letters(tmp_path)[0]["error"]["type"] == "UnicodeEncodeError"


def test_an_outage_is_never_dead_lettered(tmp_path: Path) -> None:
    from sqlalchemy.exc import OperationalError

    db = PickyDb(OperationalError("INSERT ...", {}, Exception("connection refused")))

    async def run() -> None:
        w = TelemetryWriter(db.insert, tmp_path, batch_size=10, flush_interval_s=0.01)
        await w.start()
        for i in range(5):
            w.submit("events", {"id": i, "bad": i == 3})
        await asyncio.sleep(0.2)
        assert not w.db_ok and w.pending_segments >= 1
        db.refusal = _data_error()  # the database answers again, and now refuses only row 3
        await asyncio.sleep(1.5)
        await w.close()

    asyncio.run(run())
    assert [r["id"] for _, r in db.rows] == [0, 1, 2, 4]
    assert [x["row"]["id"] for x in _dead_letters(tmp_path)] == [3]


def test_rows_spool_until_the_database_is_attached(tmp_path: Path) -> None:
    """A gateway started while its database was down journals everything until attach()."""
    db = RecordingDb()

    async def run() -> None:
        w = TelemetryWriter(db.insert, tmp_path, batch_size=10, flush_interval_s=0.01, attached=False)
        await w.start()
        for i in range(15):
            w.submit("completions", {"id": i})
        await asyncio.sleep(0.2)
        assert db.calls == 0 and not w.db_ok and w.pending_segments >= 1
        w.attach()
        await asyncio.sleep(0.1)
        assert w.db_ok and w.pending_segments == 0
        await w.close()

    asyncio.run(run())
    assert [r["id"] for _, r in db.rows] == list(range(15))


def test_row_errors_are_told_from_outages() -> None:
    import sqlite3

    import psycopg
    from sqlalchemy import exc

    from gateway.telemetry.deadletter import is_row_error

    def wrap(cls: type[exc.DBAPIError], orig: Exception) -> Exception:
        return cls("INSERT ...", {}, orig)

    row_errors = [
        wrap(exc.DataError, psycopg.errors.StringDataRightTruncation("value too long")),
        wrap(exc.IntegrityError, psycopg.errors.ForeignKeyViolation("no such completion")),
        wrap(exc.ProgrammingError, psycopg.ProgrammingError("cannot adapt type 'dict'")),
        wrap(exc.ProgrammingError, sqlite3.ProgrammingError("Error binding parameter 5: type 'dict' is not supported")),
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
        OverflowError("Python int too large to convert to SQLite INTEGER"),
        exc.StatementError("bad value", "INSERT ...", {}, ValueError("x")),
    ]
    outages = [
        wrap(exc.OperationalError, psycopg.OperationalError("connection refused")),
        wrap(exc.OperationalError, sqlite3.OperationalError("database is locked")),
        wrap(exc.InterfaceError, psycopg.InterfaceError("connection closed")),
        wrap(exc.ProgrammingError, psycopg.errors.UndefinedTable("relation events does not exist")),
        wrap(exc.ProgrammingError, sqlite3.ProgrammingError("Cannot operate on a closed database.")),
        ConnectionRefusedError(),
        TimeoutError(),
        RuntimeError("unknown"),
    ]
    assert [is_row_error(e) for e in row_errors] == [True] * len(row_errors)
    assert [is_row_error(e) for e in outages] == [False] * len(outages)
