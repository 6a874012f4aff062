"""Alembic environment: migrations run on a sync engine built from the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from codesieve.core.telemetry.tables import Base
from gateway.db import PG_CONNECT_ARGS

target_metadata = Base.metadata
_MIGRATION_LOCK_KEY = 0x636F6465736976  # "codesiv": any constant shared by every codesieve process


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    # A bounded connect: a gateway starting during an outage must learn so, not hang (gateway.db).
    connect_args = {} if url.startswith("sqlite") else PG_CONNECT_ARGS
    connectable = create_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Replicas that start together (or all attach when the database returns) migrate one
                # at a time; the later ones then find the schema at head. Released at commit.
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
