"""Telemetry that is never lost: events on SQLite and PostgreSQL, idempotency, spool-and-replay while
PostgreSQL is down, kill -9, and arms that are the same on two gateway processes."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from codesieve.testing.services import (
    PrivatePostgres,
    VllmServer,
    create_key,
    restart_until_replayed,
    start_gateway,
    stop_process_group,
)

pytestmark = [pytest.mark.integration, pytest.mark.vllm]


def _complete(url: str, key: str, **extra: object) -> dict:
    r = httpx.post(
        f"{url}/v1/completions",
        headers={"Authorization": f"Bearer {key}", **extra.pop("headers", {})},
        json={"prompt": "def f(x):\n", "max_tokens": 4, **extra},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    return r.json()


def _events(url: str, key: str, body: object, query: str = "") -> httpx.Response:
    return httpx.post(f"{url}/v1/events{query}", headers={"Authorization": f"Bearer {key}"}, json=body, timeout=30)


def _rows(db_url: str, sql: str) -> list[dict]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text(sql))]
    engine.dispose()
    return rows


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_both_vocabularies_and_idempotency(
    backend: str, vllm_server: VllmServer, pg_database: str, tmp_path: Path
) -> None:
    db_url = pg_database if backend == "postgresql" else f"sqlite:///{tmp_path / 'ev.db'}"
    if backend == "postgresql":
        _rows(db_url, "SELECT 1")  # reachable
    key = create_key(db_url, user=f"ev-{backend}")
    gw = start_gateway(tmp_path, db_url=db_url, upstream=vllm_server.url)
    try:
        cid = _complete(gw.url, key)["id"]
        ours = [
            {"kind": "shown", "completion_id": cid, "event_id": "s1"},
            {"kind": "accepted", "completion_id": cid, "event_id": "a1", "accepted_chars": 10, "accepted_lines": 1},
            {"kind": "persisted", "completion_id": cid, "event_id": "p1", "after_s": 120, "edit_distance_ratio": 0.75},
        ]
        for _ in range(3):  # retries count once
            assert _events(gw.url, key, {"events": ours}).status_code == 202
        tabby = {"type": "view", "completion_id": cid, "choice_index": 0, "view_id": "v9"}
        assert _events(gw.url, key, tabby).status_code == 202
        assert _events(gw.url, key, tabby).status_code == 202
        assert _events(gw.url, key, {"kind": "shown", "completion_id": "cmpl-none"}).status_code == 404
    finally:
        stop_process_group(gw.proc)
    rows = _rows(
        db_url,
        f"SELECT e.kind, e.is_persisted, e.client_event_id FROM events e WHERE e.completion_id = '{cid}' ORDER BY e.id",
    )
    assert [r["kind"] for r in rows] == ["shown", "accepted", "persisted", "shown"]
    assert rows[2]["is_persisted"] is False or rows[2]["is_persisted"] == 0  # 0.75 > 0.5


@pytest.mark.postgres
def test_spool_and_replay_while_postgresql_is_stopped(vllm_server: VllmServer, tmp_path: Path) -> None:
    pg = PrivatePostgres()
    pg.start()
    gw = None
    try:
        key = create_key(pg.url, user="spool")
        gw = start_gateway(tmp_path, db_url=pg.url, upstream=vllm_server.url)
        before = [_complete(gw.url, key)["id"] for _ in range(3)]
        pg.stop()
        during = [_complete(gw.url, key)["id"] for _ in range(5)]
        for i, cid in enumerate(during):  # events on completions answered while the DB was down
            assert _events(gw.url, key, {"kind": "shown", "completion_id": cid, "event_id": f"d{i}"}).status_code == 202
        time.sleep(1.0)
        ready = httpx.get(f"{gw.url}/ready")  # completions are still served: degraded, not out of service
        assert ready.status_code == 200 and ready.json()["database"] == "unreachable"
        assert ready.json()["status"] == "degraded" and ready.json()["degraded"] == ["database_unreachable"]
        assert ready.json()["telemetry_pending_segments"] >= 1
        pg.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and httpx.get(f"{gw.url}/ready").json()["telemetry_pending_segments"]:
            time.sleep(0.5)
        stop_process_group(gw.proc)
        ids = {r["id"] for r in _rows(pg.url, "SELECT id FROM completions")}
        events = _rows(pg.url, "SELECT client_event_id FROM events")
    finally:
        if gw is not None:
            stop_process_group(gw.proc)
        pg.destroy()
    assert set(before) | set(during) <= ids
    assert sorted(e["client_event_id"] for e in events) == [f"d{i}" for i in range(5)]


def _wait_ready(url: str, predicate: object, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        body = httpx.get(f"{url}/ready").json()
        if predicate(body) or time.monotonic() > deadline:  # type: ignore[operator]
            return body
        time.sleep(0.5)


@pytest.mark.postgres
def test_gateway_starts_serves_and_journals_while_postgresql_is_down(vllm_server: VllmServer, tmp_path: Path) -> None:
    """issue 13 (availability): with PostgreSQL down the gateway exited at start-up (OperationalError).

    Now it starts, answers completions and journals their telemetry, says `degraded` on /ready,
    and migrates and replays as soon as the database answers. API keys live in the database: a
    key can only be checked once it answers (503 auth_unavailable before), hence two gateways.
    """
    pg = PrivatePostgres()  # initialised, not started: nothing listens on its port
    gateways = []
    try:
        open_gw = start_gateway(
            tmp_path / "open", db_url=pg.url, upstream=vllm_server.url, env={"CODESIEVE_REQUIRE_AUTH": "false"}
        )
        gateways.append(open_gw)
        auth_gw = start_gateway(tmp_path / "auth", db_url=pg.url, upstream=vllm_server.url)
        gateways.append(auth_gw)
        for gw in gateways:
            assert httpx.get(f"{gw.url}/health").status_code == 200
            ready = httpx.get(f"{gw.url}/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["status"] == "degraded" and ready.json()["database"] == "unreachable"
        served = [_complete(open_gw.url, "none")["id"] for _ in range(3)]
        for i, cid in enumerate(served):
            assert _events(open_gw.url, "none", {"kind": "shown", "completion_id": cid, "event_id": f"o{i}"}).is_success
        refused = _events(open_gw.url, "none", {"kind": "shown", "completion_id": "cmpl-elsewhere"})
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "database_unavailable"
        r = httpx.post(f"{auth_gw.url}/v1/completions", json={"prompt": "x"}, headers={"Authorization": "Bearer cs_x"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "auth_unavailable"
        assert _wait_ready(open_gw.url, lambda b: b["telemetry_pending_segments"] >= 1, 5)["telemetry_pending_segments"]

        pg.start()
        for gw in gateways:  # back-off: 1, 2, 4, ... 30 s between attempts
            ready = _wait_ready(
                gw.url, lambda b: b["status"] == "ready" and not b["telemetry_pending_segments"], timeout_s=90
            )
            assert ready["status"] == "ready" and ready["database"] == "ok", ready
        key = create_key(pg.url, user="after-outage")
        assert _complete(auth_gw.url, key)["id"]
        for gw in gateways:
            stop_process_group(gw.proc)
        ids = {r["id"] for r in _rows(pg.url, "SELECT id FROM completions")}
        events = _rows(pg.url, "SELECT client_event_id FROM events")
    finally:
        for gw in gateways:
            stop_process_group(gw.proc)
        pg.destroy()
    assert set(served) <= ids
    assert sorted(e["client_event_id"] for e in events) == ["o0", "o1", "o2"]


@pytest.mark.postgres
def test_kill_9_loses_and_duplicates_nothing(vllm_server: VllmServer, pg_database: str, tmp_path: Path) -> None:
    key = create_key(pg_database, user="crash")
    gw = start_gateway(
        tmp_path,
        db_url=pg_database,
        upstream=vllm_server.url,
        env={
            "CODESIEVE_TELEMETRY_FLUSH_INTERVAL_S": "5",
            "CODESIEVE_RATE_LIMIT_BURST": "100000",
            "CODESIEVE_RATE_LIMIT_PER_S": "100000",
        },
    )
    cids = [_complete(gw.url, key)["id"] for _ in range(4)]
    acknowledged: list[str] = []

    def post(i: int) -> None:
        try:
            r = _events(gw.url, key, {"kind": "shown", "completion_id": cids[i % 4], "event_id": f"k{i}"})
            if r.status_code == 202:
                acknowledged.append(f"k{i}")
        except httpx.HTTPError:
            pass  # the process died under this request: not acknowledged, may or may not be stored

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(post, i) for i in range(600)]
        while len(acknowledged) < 150:
            time.sleep(0.01)
        os.killpg(gw.proc.pid, signal.SIGKILL)  # no shutdown, no flush
        for f in futures:
            f.result()
    gw.proc.wait()
    assert 150 <= len(acknowledged) < 600
    # same data dir, so the restarted gateway finds the journal and replays it
    restart_until_replayed(tmp_path, db_url=pg_database, upstream=vllm_server.url)
    stored = [
        r["client_event_id"]
        for r in _rows(pg_database, "SELECT client_event_id FROM events WHERE client_event_id LIKE 'k%'")
    ]
    assert not set(acknowledged) - set(stored), "an acknowledged event was lost"
    assert len(stored) == len(set(stored)), "an event was stored twice"


def test_arm_assignment_is_the_same_on_two_gateway_processes(vllm_server: VllmServer, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'arms.db'}"
    admin = create_key(db_url, user="admin", admin=True)
    users = [create_key(db_url, user=f"user{i}") for i in range(12)]
    # Replicas share the pseudonym key (as a deployment must), not the data directory.
    shared = {"CODESIEVE_PSEUDONYM_KEY": "test-shared-pseudonym-key-0123456789"}
    a = start_gateway(tmp_path / "a", db_url=db_url, upstream=vllm_server.url, env=shared)
    b = start_gateway(tmp_path / "b", db_url=db_url, upstream=vllm_server.url, env=shared)
    try:
        exp = {"name": "two-arms", "salt": "s1", "arms": [{"name": "control"}, {"name": "treat"}]}
        r = httpx.post(f"{a.url}/v1/experiments", json=exp, headers={"Authorization": f"Bearer {admin}"})
        assert r.status_code == 201, r.text
        time.sleep(0.2)
        # b learns about it from the shared database (GET refreshes; the background refresh does too)
        listed = httpx.get(f"{b.url}/v1/experiments", headers={"Authorization": f"Bearer {admin}"}).json()
        assert listed["active"] == "two-arms"
        arms_a = [_complete(a.url, k)["x_codesieve"]["experiment"]["arm"] for k in users]
        arms_b = [_complete(b.url, k)["x_codesieve"]["experiment"]["arm"] for k in users]
    finally:
        stop_process_group(a.proc)
        stop_process_group(b.proc)
    assert arms_a == arms_b
    assert set(arms_a) == {"control", "treat"}  # 12 users: both arms appear (p of one arm only = 2^-11)
    stored = _rows(db_url, "SELECT DISTINCT arm FROM completions WHERE experiment = 'two-arms'")
    assert {r["arm"] for r in stored} == {"control", "treat"}
