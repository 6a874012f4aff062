"""The console's account SQL: sign-in sessions (stored as hashes), the audit trail, API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from codesieve.core.telemetry.tables import ApiKeyRecord, ConsoleAuditRecord, ConsoleSessionRecord
from gateway.telemetry.repository import KEY_PREFIX, hash_api_key

_K = ApiKeyRecord.__table__.c
_S = ConsoleSessionRecord.__table__.c


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    key_id: int
    user: str
    csrf_token: str
    expires_at: datetime


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


# --- sessions and audit ------------------------------------------------------------------------


async def create_session(engine: AsyncEngine, key_id: int, ttl_s: int) -> tuple[str, ConsoleSession]:
    """A new session for an admin key: (cookie token, session). Only the token's hash is stored."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session = ConsoleSession(key_id, "", secrets.token_urlsafe(32), now + timedelta(seconds=ttl_s))
    async with engine.begin() as conn:
        await conn.execute(delete(ConsoleSessionRecord).where(_S.expires_at < now))  # keep the table small
        await conn.execute(
            insert(ConsoleSessionRecord).values(
                token_hash=_token_hash(token),
                key_id=key_id,
                csrf_token=session.csrf_token,
                created_at=now,
                expires_at=session.expires_at,
            )
        )
    return token, session


async def fetch_session(engine: AsyncEngine, token: str) -> ConsoleSession | None:
    """The live session behind a cookie: unexpired, and its key still an active admin key."""
    stmt = (
        select(_S.key_id, _K.user, _S.csrf_token, _S.expires_at)
        .join(ApiKeyRecord, _K.id == _S.key_id)
        .where(_S.token_hash == _token_hash(token), _K.revoked_at.is_(None), _K.is_admin.is_(True))
    )
    async with engine.connect() as conn:
        row = (await conn.execute(stmt)).first()
    if row is None or _utc(row.expires_at) <= datetime.now(UTC):
        return None
    return ConsoleSession(row.key_id, row.user, row.csrf_token, _utc(row.expires_at))


async def delete_session(engine: AsyncEngine, token: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(ConsoleSessionRecord).where(_S.token_hash == _token_hash(token)))


async def write_audit(
    engine: AsyncEngine,
    *,
    action: str,
    outcome: str,
    key_id: int | None = None,
    user: str | None = None,
    target: str | None = None,
    detail: str | None = None,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(ConsoleAuditRecord).values(
                at=datetime.now(UTC),
                key_id=key_id,
                user=user,
                action=action,
                target=target[:200] if target else None,
                outcome=outcome,
                detail=detail[:500] if detail else None,
            )
        )


async def fetch_audit(engine: AsyncEngine, limit: int = 50) -> list[dict[str, Any]]:
    stmt = select(ConsoleAuditRecord).order_by(ConsoleAuditRecord.id.desc()).limit(limit)
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]


# --- keys --------------------------------------------------------------------------------------


async def list_keys(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every key's metadata (prefix, user, admin, created, revoked); the hash is never read."""
    stmt = select(_K.id, _K.key_prefix, _K.user, _K.is_admin, _K.created_at, _K.revoked_at).order_by(_K.id)
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]


async def create_key(engine: AsyncEngine, *, user: str, is_admin: bool) -> tuple[int, str]:
    """(id, key): the key in the same format as `codesieve keys create`, stored only as its hash."""
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    values = {
        "key_prefix": key[:8],
        "key_hash": hash_api_key(key),
        "user": user,
        "is_admin": is_admin,
        "created_at": datetime.now(UTC),
    }
    async with engine.begin() as conn:
        key_id = (await conn.execute(insert(ApiKeyRecord).values(**values).returning(_K.id))).scalar_one()
    return int(key_id), key


async def revoke_key(engine: AsyncEngine, key_id: int) -> bool:
    """Revoke an active key; False when there is no such active key."""
    stmt = update(ApiKeyRecord).where(_K.id == key_id, _K.revoked_at.is_(None)).values(revoked_at=datetime.now(UTC))
    async with engine.begin() as conn:
        return bool((await conn.execute(stmt)).rowcount)
