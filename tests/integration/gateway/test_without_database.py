"""issue 13 (availability): the gateway starts and serves while its PostgreSQL database is missing,
then migrates and replays its journal once the database exists. In-process (the upstream is the
fault-injection fake of tests/factories.py); the process-level test with vLLM and a stopped server
is in test_telemetry_durability.py."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from factories import FakeUpstream, make_settings
from gateway.main import create_app

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
# The same server as tests/conftest.py's pg_database fixture (which creates its database up front).
PG_ADMIN_URL = os.environ.get("CODESIEVE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _admin(sql: str) -> None:
    with psycopg.connect(
        PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True, connect_timeout=5
    ) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def test_a_database_created_after_start_is_migrated_and_receives_the_journal(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    name = f"codesieve_t_{uuid.uuid4().hex[:10]}"
    base = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
    db_url = f"{base}/{name}"  # no such database yet
    settings = make_settings(tmp_path, upstream=fake_upstream, db_url=db_url, require_auth=False)
    try:
        with TestClient(create_app(settings)) as client:
            assert client.get("/health").status_code == 200
            ready = client.get("/ready")
            assert ready.status_code == 200 and ready.json()["status"] == "degraded"
            assert ready.json()["database"] == "unreachable" and ready.json()["degraded"] == ["database_unreachable"]
            cids = []
            for i in range(3):
                r = client.post("/v1/completions", json={"prompt": f"def f{i}(x):\n"})
                assert r.status_code == 200, r.text
                cids.append(r.json()["id"])
                assert client.post("/v1/events", json={"kind": "shown", "completion_id": cids[-1]}).status_code == 202
            _admin(f'CREATE DATABASE "{name}"')
            deadline = time.monotonic() + 30  # attach retries back off 1, 2, 4, 8 s
            while time.monotonic() < deadline:
                body = client.get("/ready").json()
                if body["status"] == "ready" and not body["telemetry_pending_segments"]:
                    break
                time.sleep(0.2)
            assert body["status"] == "ready" and body["database"] == "ok", body
        engine = create_engine(db_url)
        with engine.connect() as conn:
            stored = {r.id for r in conn.execute(text("SELECT id FROM completions"))}
            n_events = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        engine.dispose()
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert set(cids) <= stored and n_events == 3
    assert version  # migrated by the gateway itself


def test_start_up_with_nothing_listening_is_degraded_not_fatal(tmp_path: Path, fake_upstream: FakeUpstream) -> None:
    """Port 9 (discard) on loopback: connection refused at once, for migrations and for /ready."""
    settings = make_settings(
        tmp_path, upstream=fake_upstream, db_url="postgresql://postgres@127.0.0.1:9/none", require_auth=False
    )
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/completions", json={"prompt": "def f(x):\n"})
        assert r.status_code == 200, r.text
        body = client.get("/ready").json()
        assert body["status"] == "degraded" and body["upstream"] == "ok" and body["database"] == "unreachable"
    assert list(settings.spool_dir.glob("*/*.jsonl")), "the completion record stays journaled for the next start"


def test_a_restart_during_an_outage_still_accepts_known_keys(tmp_path: Path, fake_upstream: FakeUpstream) -> None:
    """Keys are checked in the database; the hashed snapshot in the data dir carries them across a
    restart while the database is unreachable (a key never seen gets 503, never a wrong 401)."""
    from gateway.db import run_migrations
    from gateway.telemetry.repository import create_api_key

    db_url = f"sqlite:///{tmp_path / 'keys.db'}"
    run_migrations(db_url)
    engine = create_engine(db_url)
    key = create_api_key(engine, user="dora", is_admin=False)
    engine.dispose()
    up = make_settings(tmp_path, upstream=fake_upstream, db_url=db_url, require_auth=True)
    with TestClient(create_app(up)) as client:
        assert client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        snapshot = up.data_dir / "api-keys.snapshot.json"
        deadline = time.monotonic() + 10
        while not snapshot.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert snapshot.exists() and key not in snapshot.read_text() and oct(snapshot.stat().st_mode & 0o777) == "0o600"
    down = make_settings(
        tmp_path, upstream=fake_upstream, db_url="postgresql://postgres@127.0.0.1:9/none", require_auth=True
    )
    with TestClient(create_app(down)) as client:
        r = client.post("/v1/completions", json={"prompt": "def f(x):\n"}, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        r = client.post("/v1/completions", json={"prompt": "x"}, headers={"Authorization": "Bearer cs_never_issued"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "auth_unavailable"
