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
