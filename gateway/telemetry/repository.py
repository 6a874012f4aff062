"""The gateway's SQL: idempotent batch inserts, API keys (create, look up, list, revoke), completion
lookups, experiments, health ping."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from codesieve.core.telemetry.tables import ApiKeyRecord, Base, CompletionRecord, ExperimentRecord

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


# Per table, the columns a replayed journal holds as ISO strings; found once here, not per row and column
# (`python_type` is a property that builds its answer on each access).
_DATETIME_COLUMNS = {
    name: tuple(c.name for c in table.columns if c.type.python_type is datetime) for name, table in TABLES.items()
}


def _coerce(table_name: str, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in _DATETIME_COLUMNS[table_name]:
        v = out.get(name)
        if isinstance(v, str):
            out[name] = datetime.fromisoformat(v)
    return out


# Per-choice transaction locks, taken in one global order before a batch of events goes in (the
# sort runs before the target list: PostgreSQL >= 9.6 evaluates volatile output expressions after
# ORDER BY).
_LOCK_CHOICES = text(
    "SELECT pg_advisory_xact_lock(k) FROM "
    "(SELECT DISTINCT hashtextextended(x, 0) AS k FROM unnest(CAST(:keys AS text[])) AS x) AS s ORDER BY k"
)


def _choice_keys(rows: list[dict[str, Any]]) -> list[str]:
    """The choices whose choice_facts rows these events change (an experiment and an arm)."""
    return sorted(
        {
            f"{r['experiment']}\x1f{r['completion_id']}\x1f{r.get('choice_index') or 0}"
            for r in rows
            if r.get("experiment") is not None and r.get("arm") is not None
        }
    )


async def insert_rows(engine: AsyncEngine, table_name: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows, ignoring ones already present (replayed spool), in one transaction.

    Conflict targets are the primary key for completions and (unit_id, client_event_id) for events
    and activity, so a replay after a crash between commit and spool truncation inserts nothing twice.
    """
    if not rows:
        return
    table = TABLES[table_name]
    # An executemany takes its columns from the first row, so rows go in runs of equal key sets
    # (an "accepted" event has fields a "shown" one lacks); runs keep the submission order.
    runs: list[list[dict[str, Any]]] = []
    last_keys: tuple[str, ...] | None = None
    for r in rows:
        keys = tuple(sorted(r))
        if keys != last_keys:
            runs.append([])
            last_keys = keys
        runs[-1].append(_coerce(table_name, r))
    async with engine.begin() as conn:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(table).on_conflict_do_nothing()
        if table_name == "events" and conn.dialect.name == "postgresql":
            # Each event adds to its choice's choice_facts row (a trigger), which locks the row;
            # rows go in submission order, so replicas writing events of the same choices first
            # take the choices' locks in one order and cannot deadlock each other.
            await conn.execute(_LOCK_CHOICES, {"keys": _choice_keys(rows)})
            # RETURNING makes SQLAlchemy send each run as multi-row INSERTs ("insertmanyvalues"),
            # not one statement per row, so the trigger runs once per run, not once per event.
            returning = stmt.returning(table.c.id)
            for values in runs:
                await conn.execute(returning, values)
            return
        for values in runs:
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


async def fetch_active_api_keys(engine: AsyncEngine) -> dict[str, ApiKeyInfo]:
    """Every key that is not revoked, by the SHA-256 (hex) it is stored as: for the on-disk key snapshot."""
    stmt = select(ApiKeyRecord.key_hash, ApiKeyRecord.id, ApiKeyRecord.user, ApiKeyRecord.is_admin).where(
        ApiKeyRecord.revoked_at.is_(None)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return {r.key_hash: ApiKeyInfo(r.id, r.user, r.is_admin) for r in rows}


def create_api_key(engine: Engine, *, user: str, is_admin: bool) -> str:
    """Create a key for `user`; returns the key, which is stored only as its hash."""
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    with engine.begin() as conn:
        conn.execute(
            TABLES["api_keys"].insert(),
            {
                "key_prefix": key[:8],
                "key_hash": hash_api_key(key),
                "user": user,
                "is_admin": is_admin,
                "created_at": datetime.now(UTC),
            },
        )
    return key


@dataclass(frozen=True, slots=True)
class ApiKeyListing:
    """One key as `keys list` shows it: never the key, only its first characters."""

    key_id: int
    key_prefix: str
    user: str
    is_admin: bool
    created_at: datetime
    revoked_at: datetime | None


def list_api_keys(engine: Engine) -> list[ApiKeyListing]:
    """Every key, revoked ones included, in creation order."""
    cols = (ApiKeyRecord.id, ApiKeyRecord.key_prefix, ApiKeyRecord.user, ApiKeyRecord.is_admin)
    stmt = select(*cols, ApiKeyRecord.created_at, ApiKeyRecord.revoked_at).order_by(ApiKeyRecord.id)
    with engine.connect() as conn:
        return [ApiKeyListing(*row) for row in conn.execute(stmt)]


def revoke_api_key(engine: Engine, key_id: int) -> bool:
    """Mark key `key_id` revoked (now); False when there is no such key."""
    stmt = update(ApiKeyRecord).where(ApiKeyRecord.id == key_id).values(revoked_at=datetime.now(UTC))
    with engine.begin() as conn:
        return bool(conn.execute(stmt).rowcount)


class StoredCompletion(NamedTuple):
    """Who a stored completion was for, and its experiment arm (what an event is checked against)."""

    unit_id: str
    experiment: str | None
    arm: str | None


async def fetch_completion_refs(engine: AsyncEngine, completion_ids: list[str]) -> dict[str, StoredCompletion]:
    """unit/experiment/arm of stored completions (the text is never stored, so events from the
    database path cannot compute persistence from `current_text`)."""
    stmt = select(
        CompletionRecord.id, CompletionRecord.unit_id, CompletionRecord.experiment, CompletionRecord.arm
    ).where(CompletionRecord.id.in_(completion_ids))
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return {r.id: StoredCompletion(r.unit_id, r.experiment, r.arm) for r in rows}


async def fetch_experiments(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(ExperimentRecord.definition, ExperimentRecord.source))).all()
    return [{"definition": json.loads(r.definition), "source": r.source} for r in rows]


async def upsert_experiment(
    engine: AsyncEngine,
    *,
    name: str,
    definition: dict[str, Any],
    source: str,
    start_at: datetime | None,
    stop_at: datetime | None,
) -> None:
    values = {
        "name": name,
        "definition": json.dumps(definition, default=str),
        "source": source,
        "start_at": start_at,
        "stop_at": stop_at,
        "updated_at": datetime.now(UTC),
    }
    async with engine.begin() as conn:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(ExperimentRecord).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"], set_={k: stmt.excluded[k] for k in values if k != "name"}
        )
        await conn.execute(stmt)


async def fetch_attributions(engine: AsyncEngine, completion_id: str) -> tuple[str, list[dict[str, Any]]] | None:
    """(unit_id, provenance matches) of a stored completion, or None."""
    stmt = select(CompletionRecord.unit_id, CompletionRecord.attributions).where(CompletionRecord.id == completion_id)
    async with engine.connect() as conn:
        row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    return row.unit_id, json.loads(row.attributions) if row.attributions else []
