"""Database engines and migrations, built from GatewaySettings (nothing is created at import time),
and the gateway's link to its database: migrate at start-up, or, while the database is unreachable,
keep retrying in the background so the gateway starts, serves and journals without it.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# libpq waits for ever on an address that drops packets; the gateway must notice an outage instead.
CONNECT_TIMEOUT_S = 10
PG_CONNECT_ARGS = {"connect_timeout": CONNECT_TIMEOUT_S}

log = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the report read while the gateway writes; busy_timeout rides out short lock waits.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite") and ":///" in url:
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def build_async_engine(async_url: str) -> AsyncEngine:
    _ensure_sqlite_dir(async_url)
    if async_url.startswith("sqlite"):
        engine = create_async_engine(async_url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        async_url, pool_size=10, max_overflow=10, pool_pre_ping=True, connect_args=PG_CONNECT_ARGS
    )


def build_sync_engine(sync_url: str) -> Engine:
    _ensure_sqlite_dir(sync_url)
    connect_args = {} if sync_url.startswith("sqlite") else PG_CONNECT_ARGS
    engine = create_engine(sync_url, pool_pre_ping=True, connect_args=connect_args)
    if sync_url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def run_migrations(sync_url: str, revision: str = "head") -> None:
    """`alembic upgrade <revision>` on the given database (idempotent)."""
    _ensure_sqlite_dir(sync_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", sync_url.replace("%", "%%"))
    command.upgrade(cfg, revision)


def is_unreachable(exc: BaseException) -> bool:
    """The database cannot be reached (down, no such database yet, unwritable SQLite path), as
    opposed to a configuration or migration error, which must stop the start-up."""
    return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, OSError))


class DatabaseLink:
    """Whether the telemetry database is migrated and reachable (`attached`); retries until it is.

    `lock_path` serialises migrations between the processes of one data directory (`serve
    --workers N` started while the database was down: every worker migrates when it returns).
    """

    def __init__(self, sync_url: str, *, migrate: bool, lock_path: Path | None = None) -> None:
        self._url = sync_url
        self._migrate = migrate
        self._lock_path = lock_path
        self.attached = False
        self.last_error: str | None = None

    def try_attach(self) -> bool:
        """Migrate (or, without auto-migration, connect once); blocking: run it in a thread."""
        try:
            if self._migrate:
                self._run_migrations_locked()
            else:
                engine = build_sync_engine(self._url)
                try:
                    with engine.connect() as conn:
                        conn.execute(text("SELECT 1"))
                finally:
                    engine.dispose()
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            # Type and first line only: driver messages name host and database, never the password.
            first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
            self.last_error = f"{type(exc).__name__}: {first[:200]}"
            return False
        self.attached = True
        self.last_error = None
        return True

    async def wait_attached(self, *, first_delay_s: float = 1.0, max_delay_s: float = 30.0) -> None:
        """Retry with exponential back-off (1 s, 2 s, ... 30 s) until attached."""
        delay = first_delay_s
        while not self.attached:
            await asyncio.sleep(delay)
            try:
                if await asyncio.to_thread(self.try_attach):
                    return
            except Exception as exc:  # noqa: BLE001 - nobody to exit to now: report (/ready) and retry
                self.last_error = f"{type(exc).__name__}"
                log.error("telemetry database: attaching failed (%s); retrying", self.last_error)
            delay = min(delay * 2, max_delay_s)

    def _run_migrations_locked(self) -> None:
        if self._lock_path is None:
            run_migrations(self._url)
            return
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            run_migrations(self._url)
        finally:
            os.close(fd)
