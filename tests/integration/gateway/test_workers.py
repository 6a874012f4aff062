"""`codesieve serve --workers 2`: two processes on one port, each with its own telemetry journal.

Events that reach the other process than their completion are accepted; after kill -9 of every
process, a restart with a single worker replays both journals: zero lost, zero duplicated.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from codesieve.testing.services import VllmServer, create_key, restart_until_replayed, start_gateway

pytestmark = [pytest.mark.integration, pytest.mark.vllm, pytest.mark.postgres]

_NO_LIMIT = {"CODESIEVE_RATE_LIMIT_BURST": "100000", "CODESIEVE_RATE_LIMIT_PER_S": "100000"}


def _stored_ids(db_url: str, prefix: str) -> list[str]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT client_event_id FROM events WHERE client_event_id LIKE :p"), {"p": prefix + "%"}
        ).all()
    engine.dispose()
    return [r[0] for r in rows]


def _post(url: str, path: str, key: str, body: dict) -> httpx.Response:
    # A fresh connection per request, so the kernel spreads requests over both worker processes.
    return httpx.post(f"{url}{path}", headers={"Authorization": f"Bearer {key}"}, json=body, timeout=60)


def test_two_workers_then_kill_9_lose_and_duplicate_no_event(
    vllm_server: VllmServer, pg_database: str, tmp_path: Path
) -> None:
    key = create_key(pg_database, user="workers")
    # A long flush interval keeps events in the journals when the processes are killed.
    env = {**_NO_LIMIT, "CODESIEVE_TELEMETRY_FLUSH_INTERVAL_S": "5"}
    gw = start_gateway(tmp_path, db_url=pg_database, upstream=vllm_server.url, extra_args=("--workers", "2"), env=env)
    # An event straight after its completion, each on its own connection: some reach the process
    # whose journal still holds the completion record (the lookup grace covers that).
    cids = []
    for i in range(6):
        r = _post(gw.url, "/v1/completions", key, {"prompt": "def f(x):\n", "max_tokens": 1})
        assert r.status_code == 200, r.text
        cids.append(r.json()["id"])
        r = _post(gw.url, "/v1/events", key, {"kind": "shown", "completion_id": cids[-1], "event_id": f"w-first-{i}"})
        assert r.status_code == 202, r.text
    acknowledged = [f"w-first-{i}" for i in range(6)]

    def post(i: int) -> None:
        try:
            r = _post(gw.url, "/v1/events", key, {"kind": "shown", "completion_id": cids[i % 6], "event_id": f"w{i}"})
        except httpx.HTTPError:
            return  # the processes died under this request: not acknowledged, may or may not be stored
        if r.status_code == 202:
            acknowledged.append(f"w{i}")

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(post, i) for i in range(300)]
        while len(acknowledged) < 100:
            time.sleep(0.01)
        journals = sorted(p.name for p in (gw.data_dir / "spool").iterdir() if p.is_dir())
        os.killpg(gw.proc.pid, signal.SIGKILL)  # every process at once: no shutdown, no flush
        for f in futures:
            f.result()
    gw.proc.wait()
    assert journals == ["0", "1"], "each worker should journal into its own directory"
    assert 100 <= len(acknowledged) < 306

    # One worker now: it replays its own journal and adopts the dead second one.
    restart_until_replayed(tmp_path, db_url=pg_database, upstream=vllm_server.url)
    stored = _stored_ids(pg_database, "w")
    assert not set(acknowledged) - set(stored), "an acknowledged event was lost"
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert not list((gw.data_dir / "spool").glob("*/*.jsonl")), "a journal segment was left behind"
