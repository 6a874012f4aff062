"""Route-level tests of /v1/completions against a fake upstream (fault injection / payload capture)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from factories import FakeUpstream, make_api_key, make_settings
from gateway.main import create_app


@pytest.fixture()
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture()
def gw(tmp_path: Path, upstream: FakeUpstream) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = make_settings(
        tmp_path, upstream=upstream, max_body_bytes=4096, rate_limit_burst=1000, rate_limit_per_s=1000.0
    )
    key = make_api_key(settings)
    with TestClient(create_app(settings)) as client:
        yield client, {"Authorization": f"Bearer {key}"}


def test_openai_shape_answers_with_x_codesieve(gw, upstream):
    client, auth = gw
    r = client.post("/v1/completions", json={"prompt": "def add(a, b):\n", "max_tokens": 16}, headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["choices"][0]["text"] == upstream.text
    assert body["x_codesieve"]["completion_id"] == body["id"]
    assert body["x_codesieve"]["model"] == "fake-model"
    assert body["usage"]["completion_tokens"] == 7
    assert upstream.payloads[0]["max_tokens"] == 16


def test_suffix_is_rendered_not_forwarded(gw, upstream):
    client, auth = gw
    r = client.post("/v1/completions", json={"prompt": "def f(x):\n", "suffix": "\n    return y\n"}, headers=auth)
    assert r.status_code == 200
    sent = upstream.payloads[0]
    assert "suffix" not in sent
    assert sent["prompt"] == "<fim_prefix>def f(x):\n<fim_suffix>\n    return y\n<fim_middle>"
    assert sent["max_tokens"] == 64  # the default
    assert r.json()["x_codesieve"]["fim_template"] == "starcoder"


def test_tabby_shape_gets_language_stops(gw, upstream):
    client, auth = gw
    r = client.post(
        "/v1/completions",
        headers=auth,
        json={
            "language": "python",
            "segments": {
                "prefix": "import os\n",
                "suffix": "",
                "filepath": "a.py",
                "declarations": [{"filepath": "b.py", "body": "x"}],
            },
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["choices"][0]["index"] == 0 and body["choices"][0]["text"] == upstream.text
    assert "\ndef" in upstream.payloads[0]["stop"]
    assert upstream.payloads[0]["temperature"] == 0.1
    assert body["x_codesieve"]["request_shape"] == "tabby"


def test_stream_joins_to_the_same_text_and_ends_with_done(gw, upstream):
    client, auth = gw
    with client.stream(
        "POST", "/v1/completions", headers=auth, json={"prompt": "def add(a, b):\n", "stream": True}
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[len("data: ") :]) for line in lines[:-1]]
    text = "".join(c["text"] for ch in chunks for c in ch["choices"])
    assert text == upstream.text
    assert chunks[-1]["x_codesieve"]["completion_id"] == chunks[0]["id"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b'{"prompt": "\xff\xfe"}', "invalid_utf8"),
        (b"[1, 2]", "invalid_json"),
        (json.dumps({"prompt": ""}).encode(), "empty_prompt"),
        (json.dumps({"prompt": "x", "max_tokens": -5}).encode(), "invalid_value"),
        (json.dumps({"prompt": "x", "stop": [f"s{i}" for i in range(65)]}).encode(), "invalid_value"),
        (json.dumps({"prompt": "x", "stream": "yes"}).encode(), "invalid_type"),
        (json.dumps({"prompt": "x", "echo": "yes"}).encode(), "invalid_type"),
        (json.dumps({"prompt": "x", "stream": 1}).encode(), "invalid_type"),
        (json.dumps({"prompt": "x", "n": 99}).encode(), "n_too_large"),
        (json.dumps({"prompt": "x", "temperature": "hot"}).encode(), "invalid_type"),
        (json.dumps({"prompt": "x", "bogus": 1}).encode(), "unknown_field"),
        (json.dumps({"segments": {"suffix": "x"}}).encode(), "missing_field"),
        (json.dumps({"prompt": "x", "model": "other"}).encode(), "model_not_found"),
    ],
)
def test_bad_input_is_a_4xx_with_a_reason(gw, body, code):
    client, auth = gw
    r = client.post("/v1/completions", content=body, headers={**auth, "content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["code"] == code


def test_oversize_body_is_413(gw):
    client, auth = gw
    r = client.post("/v1/completions", json={"prompt": "x" * 10_000}, headers=auth)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "body_too_large"


@pytest.mark.parametrize(
    ("header", "code"),
    [(None, "missing_api_key"), ("Bearer nope", "invalid_api_key"), ("Basic abc", "invalid_authorization")],
)
def test_auth_is_required(gw, header, code):
    client, _ = gw
    headers = {"Authorization": header} if header else {}
    r = client.post("/v1/completions", json={"prompt": "x"}, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == code
    assert client.get("/health").status_code == 200
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_unreachable_is_503_and_timeout_is_504(tmp_path: Path, upstream: FakeUpstream, stream: bool):
    settings = make_settings(tmp_path, upstream=upstream, upstream_timeout_s=0.5)
    auth = {"Authorization": f"Bearer {make_api_key(settings)}"}
    body = {"prompt": "x", "stream": stream}
    with TestClient(create_app(settings)) as client:
        upstream.hang_up = True  # the connection ends before a status line
        r = client.post("/v1/completions", json=body, headers=auth)
        assert r.status_code == 503 and r.json()["error"]["code"] == "upstream_unavailable"
        upstream.hang_up, upstream.delay_s = False, 2.0
        r = client.post("/v1/completions", json=body, headers=auth)
        assert r.status_code == 504 and r.json()["error"]["code"] == "upstream_timeout"


def test_upstream_garbage_is_502(gw, upstream):
    client, auth = gw
    upstream.status = 500
    r = client.post("/v1/completions", json={"prompt": "x"}, headers=auth)
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_error"


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path, upstream: FakeUpstream):
    settings = make_settings(tmp_path, upstream=upstream, rate_limit_burst=3, rate_limit_per_s=0.5)
    key = make_api_key(settings)
    with TestClient(create_app(settings)) as client:
        codes = [
            client.post("/v1/completions", json={"prompt": "x"}, headers={"Authorization": f"Bearer {key}"})
            for _ in range(5)
        ]
    assert [r.status_code for r in codes] == [200, 200, 200, 429, 429]
    assert int(codes[3].headers["Retry-After"]) >= 1
    assert codes[3].json()["error"]["code"] == "rate_limited"


def test_tabby_endpoints(gw):
    client, auth = gw
    assert client.get("/v1beta/server_setting", headers=auth).json() == {"disable_client_side_telemetry": True}
    assert client.get("/v1/models", headers=auth).json()["data"][0]["id"] == "fake-model"
    assert client.get("/v1/health", headers=auth).status_code == 200
    assert client.get("/ready").status_code == 200


def test_completion_record_is_written_without_raw_text(tmp_path: Path, upstream: FakeUpstream):
    from sqlalchemy import create_engine, text

    settings = make_settings(tmp_path, upstream=upstream)
    key = make_api_key(settings, user="bob")
    secret_prompt = "def connect():\n    password = 'hunter2-very-secret'\n"
    with TestClient(create_app(settings)) as client:
        r = client.post(
            "/v1/completions",
            json={"prompt": secret_prompt, "language": "python"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 200
    # leaving the TestClient ran the lifespan shutdown, which flushes the writer
    engine = create_engine(settings.sync_db_url)
    with engine.connect() as conn:
        rows = [dict(x._mapping) for x in conn.execute(text("SELECT * FROM completions"))]
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == r.json()["id"]
    assert row["prompt_chars"] == len(secret_prompt)
    assert row["prompt_text"] is None and row["completion_text"] is None
    assert row["unit_id"] != "bob" and len(row["unit_id"]) == 32
    assert "hunter2" not in repr(rows)


# A completion cut inside an AWS secret key (34 of its 40 characters): no detector matches the prefix.
_CUT_SECRET = "Zq8Rk2Lw7Nv4Bx9Tm3Hc6Jp1Fd5Gs0Ye4Ua7Io2"
_CUT_TEXT = f'REGION = "eu-west-1"\nAWS_SECRET_ACCESS_KEY = "{_CUT_SECRET[:34]}'


@pytest.mark.parametrize("finish_reason", ["length", None])
@pytest.mark.parametrize("stream", [False, True])
def test_a_completion_cut_inside_a_secret_never_returns_its_prefix(tmp_path, upstream, stream, finish_reason):
    upstream.text, upstream.finish_reason = _CUT_TEXT, finish_reason
    settings = make_settings(tmp_path, upstream=upstream, rate_limit_burst=1000, rate_limit_per_s=1000.0)
    auth = {"Authorization": f"Bearer {make_api_key(settings)}"}
    body = {"prompt": "import os\n", "stream": stream}
    with TestClient(create_app(settings)) as client:
        if stream:
            with client.stream("POST", "/v1/completions", headers=auth, json=body) as r:
                raw = "".join(r.iter_text())
            chunks = [json.loads(x[len("data: ") :]) for x in raw.split("\n\n") if x.startswith("data: {")]
            text = "".join(c["text"] for ch in chunks for c in ch["choices"])
            findings = chunks[-1]["x_codesieve"]["filters"]
        else:
            r = client.post("/v1/completions", headers=auth, json=body)
            raw = r.text
            text = r.json()["choices"][0]["text"]
            findings = r.json()["x_codesieve"]["filters"]
    assert _CUT_SECRET[:20] not in raw
    assert text.startswith('REGION = "eu-west-1"\nAWS_SECRET_ACCESS_KEY = "<')
    assert any(f["type"] == "secret" and f.get("cut_off") for f in findings), findings


# A password-like value built from pieces (so no scanner flags this file).
_CONFIG_VALUE = "Xk9" + "vQ2rL7" + "mZ4p"


@pytest.mark.parametrize(
    ("shape", "prefix"),
    [
        ("tabby", "db:\n  host: db.internal\n  password: "),  # Tabby sends the file path
        ("openai", "DB_HOST=db.internal\nDB_PASSWORD="),  # OpenAI shape: the `language` id only
    ],
)
def test_unquoted_config_value_in_a_completion_is_redacted_by_the_files_syntax(tmp_path, upstream, shape, prefix):
    """Issue 19: the gateway reads a config file's completion with the file's syntax (path or language)."""
    upstream.text = f"{_CONFIG_VALUE}\n"
    settings = make_settings(tmp_path, upstream=upstream, rate_limit_burst=1000, rate_limit_per_s=1000.0)
    auth = {"Authorization": f"Bearer {make_api_key(settings)}"}
    if shape == "tabby":
        body = {"language": "yaml", "segments": {"prefix": prefix, "suffix": "", "filepath": "deploy/values.yaml"}}
    else:
        body = {"prompt": prefix, "language": "dotenv", "max_tokens": 16}
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/completions", headers=auth, json=body)
    assert r.status_code == 200, r.text
    assert _CONFIG_VALUE not in r.text
    assert r.json()["choices"][0]["text"] == "<SECRET>\n"
    assert [f["reason"] for f in r.json()["x_codesieve"]["filters"]] == ["secret.secret_keyword"]
