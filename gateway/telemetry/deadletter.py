"""Dead letters: telemetry rows the database refuses for their content, kept aside with the reason.

The writer keeps a journal segment until the database takes it, so a row the database will never
take (a value too long for its column, an integer out of range, text PostgreSQL cannot hold) would
block every row behind it for ever. `is_row_error` tells such a refusal from an outage (connection
refused, server gone, database locked, schema missing), which must keep the rows spooled instead;
the writer isolates the refused row and `DeadLetterFile` keeps it, one JSON line per row, beside the
journal (`<spool>/dead-letters.jsonl`, 0600), for an operator to inspect, fix and re-insert.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import exc as sa_exc

FILE_NAME = "dead-letters.jsonl"
_MESSAGE_MAX_CHARS = 300

# Raised by the driver or SQLAlchemy while binding one row's values (sqlite3: surrogates, ints over
# 64 bits; a value of the wrong Python type), before the database sees the statement.
_BINDING_ERRORS = (UnicodeError, OverflowError, TypeError, ValueError, LookupError)


def is_row_error(exc: BaseException) -> bool:
    """True when the database refused the rows' content; False for an outage (keep them spooled).

    Row errors: SQLAlchemy `DataError` (SQLSTATE class 22: too long, out of range, NUL in text) and
    `IntegrityError` (class 23), a statement that failed while binding its parameters, a
    client-side `ProgrammingError` (a value the driver cannot adapt; it has no SQLSTATE), and the
    plain binding errors above. Everything else (OperationalError, InterfaceError, server-side
    ProgrammingError such as a missing table, timeouts, OSError) is the database's, not the row's.
    """
    if isinstance(exc, (sa_exc.DataError, sa_exc.IntegrityError)):
        return True
    if isinstance(exc, sa_exc.ProgrammingError):
        if type(exc.orig).__module__.startswith("sqlite3"):
            return "binding parameter" in str(exc.orig)  # not "closed database", not a schema problem
        return getattr(exc.orig, "sqlstate", None) is None  # psycopg: "cannot adapt type ..."
    if isinstance(exc, sa_exc.StatementError) and not isinstance(exc, sa_exc.DBAPIError):
        return True  # SQLAlchemy's own parameter processing failed on a value
    return isinstance(exc, _BINDING_ERRORS) and not isinstance(exc, OSError)


def describe(exc: BaseException) -> tuple[str, str]:
    """(error type, one-line message) of a refusal, without SQLAlchemy's echo of the statement."""
    orig = getattr(exc, "orig", None)
    kind = type(exc).__name__ + (f"/{type(orig).__name__}" if orig is not None else "")
    text = str(orig if orig is not None else exc).strip()
    first = text.splitlines()[0] if text else ""
    return kind, first[:_MESSAGE_MAX_CHARS]


def _json_default(v: Any) -> Any:
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    return repr(v)  # a value the database could not adapt: kept as its repr, for inspection


class DeadLetterFile:
    """Append-only JSON lines, shared by the processes on one spool directory (O_APPEND writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._counted: tuple[int, int] | None = None  # (size, mtime_ns) at the last count
        self._count = 0

    def append(self, table: str, row: dict[str, Any], exc: BaseException, *, segment: str) -> str:
        """Write one dead letter; returns its error type. Raises OSError when the disk refuses."""
        kind, message = describe(exc)
        entry = {
            "at": datetime.now(UTC).isoformat(),
            "table": table,
            "segment": segment,  # an outage during isolation can write a row twice: same segment+row
            "error": {"type": kind, "message": message},
            "row": row,
        }
        # ensure_ascii: a lone surrogate (the reason for some refusals) is kept as its \\u escape.
        line = (json.dumps(entry, default=_json_default, ensure_ascii=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)  # one write per line: lines of concurrent processes never interleave
            os.fsync(fd)
        finally:
            os.close(fd)
        return kind

    def count(self) -> int:
        """Dead letters in the file (all processes); recounted only when the file changed."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._counted, self._count = None, 0
            return 0
        key = (st.st_size, st.st_mtime_ns)
        if key != self._counted:
            with open(self.path, "rb") as f:
                self._count = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
            self._counted = key
        return self._count
