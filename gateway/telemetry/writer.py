"""Durable, batched telemetry writing that never blocks the request path and never loses a row.

Journal first: `submit()` appends the row as one JSON line to the current journal segment and
flushes it to the OS (a few microseconds), so a record that got a 2xx survives `kill -9`. A
background task rotates the segment every `flush_interval_s` (or at `batch_size` rows), inserts the
closed segments in order with idempotent INSERTs, and deletes each segment only after its commit.
While the database is down, segments accumulate on disk and are replayed in order when it returns.

Each process holds an exclusive lock on its own journal directory (`spool/<n>/`); at startup a
process takes the first unlocked directory, so a restarted gateway replays what a killed one left,
and moves into its own directory the segments of any other unlocked one (a dead process's: after
`serve --workers 3` was killed, a restart with one worker still replays all three journals).

A row the database refuses for its content (not an outage: see `deadletter.is_row_error`) must not
block the rows behind it: the failing batch is split in halves until the refused row stands alone,
that row goes to the dead-letter file with its error, and the rest are inserted in their order.

Until the database is attached (the gateway started while it was down: `attach()` is called once
it is migrated), segments accumulate exactly as during an outage.

While the database keeps up, a closed segment's rows are also kept in memory until committed, so
the writer inserts them without reading and parsing its own journal back (that re-read was ~6% of
the CPU of an event post); segments from a crash or an outage are read from disk.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

from gateway.protocol import codec
from gateway.telemetry.deadletter import FILE_NAME, DeadLetterFile, is_row_error

log = logging.getLogger(__name__)

InsertFn = Callable[[str, list[dict[str, Any]]], Awaitable[None]]
DeadLetterHook = Callable[[str, str], None]  # (table, error type): e.g. a metrics counter
MAX_JOURNAL_DIRS = 64


def _json_default(v: Any) -> Any:
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    raise TypeError(f"not JSON serializable: {type(v).__name__}")


class TelemetryWriter:
    def __init__(
        self,
        insert: InsertFn,
        spool_root: Path,
        *,
        batch_size: int,
        flush_interval_s: float,
        attached: bool = True,
        on_dead_letter: DeadLetterHook | None = None,
    ) -> None:
        self._insert = insert
        self._attached = attached
        self._on_dead_letter = on_dead_letter
        self.dead_letters = DeadLetterFile(spool_root / FILE_NAME)
        self._root = spool_root
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._dir: Path | None = None
        self._lock_fd: int | None = None
        self._file: TextIO | None = None
        self._seq = 0
        self._rows_in_segment = 0
        self._segment_rows: list[tuple[str, dict[str, Any]]] = []  # the open segment's rows, as submitted
        self._in_memory: dict[str, list[tuple[str, dict[str, Any]]]] = {}  # closed segment name -> rows
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.db_ok = True
        self.pending_segments = 0

    # --- lifecycle
    async def start(self) -> None:
        self._dir = self._claim_dir()
        existing = self._segments()
        self._seq = (int(existing[-1].stem) + 1) if existing else 0
        adopted = self._adopt_orphans()
        self._open_segment()
        if existing or adopted:
            log.info("telemetry: replaying %d journal segment(s) left by an earlier run", len(existing) + adopted)
        self._task = asyncio.create_task(self._run(), name="telemetry-writer")

    async def close(self) -> None:
        """Flush everything that can be flushed; what the DB refuses stays journaled for next start."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._file is not None:
            self._file.close()
            if self._rows_in_segment == 0:
                Path(self._file.name).unlink(missing_ok=True)
            self._file = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def attach(self) -> None:
        """The database is migrated and reachable now: replay what accumulated, at once."""
        self._attached = True
        self._wake.set()

    # --- hot path
    def submit(self, table: str, row: dict[str, Any]) -> None:
        assert self._file is not None, "writer not started"
        self._file.write(codec.dumps({"t": table, "r": row}, default=_json_default).decode() + "\n")
        self._file.flush()
        self._segment_rows.append((table, row))
        self._rows_in_segment += 1
        if self._rows_in_segment >= self._batch_size:
            self._wake.set()

    # --- background
    async def _run(self) -> None:
        backoff_s = self._interval
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=backoff_s)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._rows_in_segment:
                self._rotate()
            ok = await self._drain()
            if self._closing:
                if self._rows_in_segment:
                    self._rotate()
                    await self._drain()
                return
            backoff_s = self._interval if ok else min(max(backoff_s * 2, 0.5), 10.0)

    async def _drain(self) -> bool:
        """Insert closed segments oldest first; stop at the first failure to keep order."""
        closed = [p for p in self._segments() if self._file is None or p.name != Path(self._file.name).name]
        self.pending_segments = len(closed)
        if not self._attached:
            self.db_ok = False
            return False
        for seg in closed:
            by_table: dict[str, list[dict[str, Any]]] = {}
            for table, row in self._segment_content(seg):
                by_table.setdefault(table, []).append(row)
            try:
                # completions before events: events reference completions.
                for table in sorted(by_table, key=lambda t: (t != "completions", t)):
                    rows = by_table[table]
                    for i in range(0, len(rows), self._batch_size):
                        await self._insert_isolating(table, rows[i : i + self._batch_size], seg.name)
            except Exception as exc:  # noqa: BLE001 - DB down or slow: keep the segment, retry later
                if self.db_ok:
                    log.warning(
                        "telemetry: database write failed (%s); journaling to %s", type(exc).__name__, self._dir
                    )
                self.db_ok = False
                self._in_memory.clear()  # an outage may be long: from now on the journal is the copy
                return False
            seg.unlink()
            self._in_memory.pop(seg.name, None)
            self.pending_segments -= 1
        if not self.db_ok:
            log.info("telemetry: database back; journal replayed")
        self.db_ok = True
        return True

    async def _insert_isolating(self, table: str, rows: list[dict[str, Any]], segment: str) -> None:
        """Insert `rows`; a row refused for its content goes to the dead-letter file, the rest go in.

        Bisection: a refused batch of n rows with one bad row costs about 2*log2(n) more INSERTs
        (16 for the default 200). Inserts are idempotent, so halves committed before an outage
        are simply skipped when the segment is retried. An outage (or a dead-letter file the
        disk refuses) propagates: the caller keeps the whole segment for later.
        """
        try:
            await self._insert(table, rows)
            return
        except Exception as exc:  # noqa: BLE001 - classified: row errors are isolated, outages propagate
            if not is_row_error(exc):
                raise
            if len(rows) == 1:
                kind = self.dead_letters.append(table, rows[0], exc, segment=segment)
                log.error("telemetry: a %s row was refused (%s); kept in %s", table, kind, self.dead_letters.path)
                if self._on_dead_letter is not None:
                    self._on_dead_letter(table, kind)
                return
        mid = len(rows) // 2
        await self._insert_isolating(table, rows[:mid], segment)
        await self._insert_isolating(table, rows[mid:], segment)

    def _segment_content(self, seg: Path) -> list[tuple[str, dict[str, Any]]]:
        rows = self._in_memory.get(seg.name)
        if rows is not None:
            return rows
        out = []
        for line in seg.read_text().splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                # A torn last line can only come from a crash mid-write, before any 2xx was sent.
                continue
            out.append((item["t"], item["r"]))
        return out

    # --- journal files
    def _claim_dir(self) -> Path:
        self._root.mkdir(parents=True, exist_ok=True)
        for n in range(MAX_JOURNAL_DIRS):
            fd = os.open(self._root / f"{n}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._lock_fd = fd
            d = self._root / str(n)
            d.mkdir(mode=0o700, exist_ok=True)
            return d
        raise RuntimeError(f"more than {MAX_JOURNAL_DIRS} gateway processes share {self._root}")

    def _adopt_orphans(self) -> int:
        """Move the segments of unlocked journal directories (their process is gone) into ours, in order."""
        moved = 0
        for n in range(MAX_JOURNAL_DIRS):
            d = self._root / str(n)
            if d == self._dir or not d.is_dir():
                continue
            fd = os.open(self._root / f"{n}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live process owns it
                for seg in sorted(d.glob("*.jsonl"), key=lambda p: int(p.stem)):
                    # rename(2) is atomic: a crash here leaves each segment in exactly one directory.
                    os.replace(seg, self._segment_path(self._seq))
                    self._seq += 1
                    moved += 1
            finally:
                os.close(fd)  # releases the lock
        return moved

    def _segment_path(self, seq: int) -> Path:
        assert self._dir is not None
        return self._dir / f"{seq:012d}.jsonl"

    def _segments(self) -> list[Path]:
        assert self._dir is not None
        return sorted(self._dir.glob("*.jsonl"), key=lambda p: int(p.stem))

    def _open_segment(self) -> None:
        path = self._segment_path(self._seq)
        self._seq += 1
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed on rotate/close
        os.chmod(path, 0o600)
        self._rows_in_segment = 0
        self._segment_rows = []

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        if self.db_ok:
            self._in_memory[Path(self._file.name).name] = self._segment_rows
        self._open_segment()
