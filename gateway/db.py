"""Database engines and migrations, built from GatewaySettings (nothing is created at import time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


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
    return create_async_engine(async_url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def build_sync_engine(sync_url: str) -> Engine:
    _ensure_sqlite_dir(sync_url)
    engine = create_engine(sync_url, pool_pre_ping=True)
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
