"""The gateway's SQL: idempotent batch inserts, API-key lookups, completion lookups, health ping."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.telemetry.tables import ApiKeyRecord, Base, CompletionRecord

TABLES = {t.name: t for t in Base.metadata.sorted_tables}
KEY_PREFIX = "cs_"


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    key_id: int
    user: str
    is_admin: bool


def hash_api_key(key: str) -> str:
    """SHA-256 of the key: keys are 190 random bits, so a fast hash is enough (no password stretching)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _coerce(table_name: str, row: dict[str, Any]) -> dict[str, Any]:
    table = TABLES[table_name]
    out = dict(row)
    for col in table.columns:
        v = out.get(col.name)
        if isinstance(v, str) and col.type.python_type is datetime:
            out[col.name] = datetime.fromisoformat(v)
    return out


async def insert_rows(engine: AsyncEngine, table_name: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows, ignoring ones already present (replayed spool), in one transaction.

    Conflict targets are the primary key for completions and (unit_id, client_event_id) for events,
    so a replay after a crash between commit and spool truncation inserts nothing twice.
    """
    if not rows:
        return
    table = TABLES[table_name]
    values = [_coerce(table_name, r) for r in rows]
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            stmt = pg_insert(table).on_conflict_do_nothing()
        else:
            stmt = sqlite_insert(table).on_conflict_do_nothing()
        await conn.execute(stmt, values)


async def ping(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready"; the reason is logged by the caller
        return False


async def fetch_api_key(engine: AsyncEngine, key: str) -> ApiKeyInfo | None:
    stmt = select(ApiKeyRecord.id, ApiKeyRecord.user, ApiKeyRecord.is_admin).where(
        ApiKeyRecord.key_hash == hash_api_key(key), ApiKeyRecord.revoked_at.is_(None)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(stmt)).first()
    return ApiKeyInfo(row.id, row.user, row.is_admin) if row else None


async def fetch_completion(engine: AsyncEngine, completion_id: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(CompletionRecord).where(CompletionRecord.id == completion_id))).first()
    return dict(row._mapping) if row else None


def create_api_key(engine: Engine, *, user: str, is_admin: bool) -> str:
    """Create a key for `user`; returns the key, which is stored only as its hash."""
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    with engine.begin() as conn:
        conn.execute(
            TABLES["api_keys"].insert(),
            {"key_prefix": key[:8], "key_hash": hash_api_key(key), "user": user, "is_admin": is_admin,
             "created_at": datetime.now(UTC)},
        )
    return key
