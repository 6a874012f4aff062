"""The gateway with its production parts: PostgreSQL telemetry, Redis-shared rate limits, deadlines,
client disconnects, and the embedded (supervised) vLLM."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import openai
import psutil
import pytest

from codesieve.testing.services import VllmServer, create_key, free_port, start_gateway, stop_process_group, wait_http
from fakes import FakeHangingUpstream

pytestmark = pytest.mark.integration


@pytest.mark.postgres
@pytest.mark.vllm
def test_completion_records_reach_postgresql(vllm_server: VllmServer, pg_database: str, tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    key = create_key(pg_database, user="dora")
    gw = start_gateway(tmp_path, db_url=pg_database, upstream=vllm_server.url)
    try:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)
        ids = {client.completions.create(model="tiny-code", prompt="def g(x):\n", max_tokens=4).id for _ in range(4)}
        assert httpx.get(f"{gw.url}/ready").json()["database"] == "ok"
    finally:
        stop_process_group(gw.proc)
    engine = create_engine(pg_database)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, unit_id, prompt_text FROM completions")).all()
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    assert ids <= {r.id for r in rows}
    assert all(r.prompt_text is None and r.unit_id != "dora" for r in rows)
    from alembic.script import ScriptDirectory

    from gateway.db import MIGRATIONS_DIR

    assert version == ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert version == "0007"


@pytest.mark.redis
@pytest.mark.vllm
def test_rate_limit_is_shared_across_replicas_through_redis(
    vllm_server: VllmServer, redis_url: str, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    key = create_key(db_url)
    env = {"CODESIEVE_RATE_LIMIT_BURST": "4", "CODESIEVE_RATE_LIMIT_PER_S": "0.1"}
    replicas = [
        start_gateway(
            tmp_path / f"r{i}", db_url=db_url, upstream=vllm_server.url, extra_args=("--redis", redis_url), env=env
        )
        for i in range(2)
    ]
    try:
        codes = []
        for i in range(8):  # alternate like a round-robin load balancer
            r = httpx.post(
                f"{replicas[i % 2].url}/v1/completions",
                headers={"Authorization": f"Bearer {key}"},
                json={"prompt": "x = ", "max_tokens": 1},
                timeout=60,
            )
            codes.append(r.status_code)
    finally:
        for gw in replicas:
            stop_process_group(gw.proc)
    # one bucket of 4 for both replicas together (in-process limits would have allowed 8)
    assert codes == [200, 200, 200, 200, 429, 429, 429, 429]


def test_upstream_deadline_is_504_and_a_gone_client_cancels_the_upstream_call(tmp_path: Path) -> None:
    hanging = FakeHangingUpstream()
    db_url = f"sqlite:///{tmp_path / 'h.db'}"
    key = create_key(db_url)
    gw = start_gateway(tmp_path, db_url=db_url, upstream=hanging.url, env={"CODESIEVE_UPSTREAM_TIMEOUT_S": "1.5"})
    auth = {"Authorization": f"Bearer {key}"}
    try:
        started = time.monotonic()
        r = httpx.post(f"{gw.url}/v1/completions", json={"prompt": "x"}, headers=auth, timeout=30)
        assert r.status_code == 504 and r.json()["error"]["code"] == "upstream_timeout"
        assert time.monotonic() - started < 10

        closed_before = len(hanging.closed_by_peer)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{gw.url}/v1/completions", json={"prompt": "y"}, headers=auth, timeout=0.5)
        gone_at = time.monotonic()
        deadline = gone_at + 1.0  # well before the 1.5 s upstream deadline would close it anyway
        while time.monotonic() < deadline and len(hanging.closed_by_peer) == closed_before:
            time.sleep(0.02)
        assert len(hanging.closed_by_peer) > closed_before, "the upstream request outlived its client"
    finally:
        stop_process_group(gw.proc)
        hanging.close()


def test_dead_upstream_is_reported_not_hidden(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'd.db'}"
    key = create_key(db_url)
    gw = start_gateway(tmp_path, db_url=db_url, upstream="http://127.0.0.1:9")  # discard port: nothing listens
    try:
        ready = httpx.get(f"{gw.url}/ready")
        assert ready.status_code == 503 and ready.json()["upstream"] == "unreachable"
        r = httpx.post(f"{gw.url}/v1/completions", json={"prompt": "x"}, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "upstream_unavailable"
    finally:
        stop_process_group(gw.proc)


@pytest.mark.vllm
@pytest.mark.slow
def test_embedded_vllm_is_started_supervised_and_stopped(tiny_model_dir: Path, tmp_path: Path) -> None:
    """`codesieve serve --model DIR` runs vLLM as its child and takes it down on SIGTERM."""
    db_url = f"sqlite:///{tmp_path / 'e.db'}"
    key = create_key(db_url)
    gw = start_gateway(
        tmp_path,
        db_url=db_url,
        model=tiny_model_dir,
        timeout_s=300,
        env={"CODESIEVE_VLLM_PORT": str(free_port()), "CODESIEVE_VLLM_MAX_MODEL_LEN": "512"},
    )
    try:
        wait_http(f"{gw.url}/ready", 30)
        ready = httpx.get(f"{gw.url}/ready").json()
        vllm_pid = ready["upstream_process"]["pid"]
        assert ready["upstream_process"]["alive"] and psutil.pid_exists(vllm_pid)
        r = httpx.post(
            f"{gw.url}/v1/completions",
            json={"prompt": "def h():\n", "max_tokens": 4},
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        assert r.status_code == 200 and r.json()["model"] == tiny_model_dir.name
    finally:
        os.killpg(gw.proc.pid, signal.SIGTERM)
        gw.proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while (
        time.monotonic() < deadline
        and psutil.pid_exists(vllm_pid)
        and psutil.Process(vllm_pid).status() != psutil.STATUS_ZOMBIE
    ):
        time.sleep(0.2)
    assert not psutil.pid_exists(vllm_pid) or psutil.Process(vllm_pid).status() == psutil.STATUS_ZOMBIE
