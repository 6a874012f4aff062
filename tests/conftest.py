"""Shared test set-up: environment isolation, real-service fixtures (PostgreSQL, Redis).

The vLLM server and the test model live in tests/integration/conftest.py (session-scoped, started once).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from factories import SHARED_BENCHMARKS, FakeUpstream

# The PostgreSQL server on this machine kind (and CI's): trust auth, database `test`.
# A deployment's own server is given with CODESIEVE_TEST_PG (an admin URL to a database we may
# create throwaway databases from).
PG_ADMIN_URL = os.environ.get("CODESIEVE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CODESIEVE_TEST_REDIS", "redis://127.0.0.1:6379/15")

# tests/fixtures/repo_eval is a repository whose own suite `eval repo` runs in the sandbox: not ours.
collect_ignore = ["fixtures/repo_eval"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _clean_codesieve_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CODESIEVE_* setting from the developer's shell leaks into a test (httpx clean_environ);
    the benchmark mirror is the development checkout's data."""
    for name in list(os.environ):
        if name.startswith("CODESIEVE_") and not name.startswith("CODESIEVE_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CODESIEVE_BENCHMARK_MIRROR", str(SHARED_BENCHMARKS))


def _pg_admin_conninfo() -> str:
    return PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test module; yields its SQLAlchemy URL.

    Per module, so one module's schema set-up (Alembic, or a report test's create_all) never meets
    another's.

    Fails (never skips) when the server is unreachable: PostgreSQL is part of the test tier.
    """
    import psycopg

    name = f"codesieve_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_pg_admin_conninfo(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = _pg_admin_conninfo().rsplit("/", 1)[0]
    try:
        yield f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    finally:
        with psycopg.connect(_pg_admin_conninfo(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture()
def redis_url() -> Iterator[str]:
    """The local Redis (database 15), flushed before and after the test."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


@pytest.fixture()
def fake_upstream() -> Iterator[FakeUpstream]:
    """A started FakeUpstream (the fault-injection fake vLLM on loopback), stopped after the test."""
    with FakeUpstream() as upstream:
        yield upstream
