"""Alembic environment: migrations run on a sync engine built from the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from gateway.db import PG_CONNECT_ARGS
from gateway.telemetry.tables import Base

target_metadata = Base.metadata


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
