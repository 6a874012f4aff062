"""Issue 13's hostile requests through the app: each gets a clear 4xx JSON envelope (never a 500), and
secrets in prompts are neither stored nor echoed. The case list is a fixture (HOSTILE_CASES)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from factories import FakeUpstream, make_api_key, make_settings
from gateway.main import create_app


def _deep(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


def _experiment(**arm_overrides: Any) -> dict[str, Any]:
    return {"name": "hostile", "arms": [{"name": "a", **arm_overrides}, {"name": "b"}]}


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    status: int
    code: str
    body: Any = None  # JSON-encoded unless bytes
    headers: dict[str, str] = field(default_factory=dict)
    admin: bool = False


HOSTILE_CASES = [
    # JSON nested past the parser's recursion limit: was a 500 (RecursionError) on every POST route
    *(
        Case(f"deep-json-{path}", "POST", path, 400, "json_too_deep", _deep(5000), admin=True)
        for path in ("/v1/completions", "/v1/events", "/v1/scan", "/v1/experiments")
    ),
    Case("deep-json-900", "POST", "/v1/completions", 400, "json_too_deep", b"[" * 900 + b"]" * 900),
    Case("deep-json-list", "POST", "/v1/events", 400, "json_too_deep", b"[" * 100_000),
    # an integer past Python's 4,300-digit conversion limit: a ValueError that is not a JSONDecodeError (was a 500)
    *(
        Case(f"long-int-{path}", "POST", path, 400, "invalid_json", b'{"n": ' + b"7" * 5000 + b"}", admin=True)
        for path in ("/v1/completions", "/v1/events", "/v1/scan", "/v1/experiments")
    ),
    # experiments: wrong filter_policy types were 500s; bad URLs, weights, max_tokens were accepted
    *(
        Case(
            f"filter-policy-{i}", "POST", "/v1/experiments", 400, "invalid_value", _experiment(overrides=ov), admin=True
        )
        for i, ov in enumerate(
            [
                {"filter_policy": {"licence_actions": 5}},
                {"filter_policy": []},
                {"filter_policy": {"secrets": 1}},
                {"filter_policy": {"provenance_actions": {"copyleft": "redact"}}},
                {"filter_policy": {"min_match_lexemes": "65"}},
            ]
        )
    ),
    *(
        Case(
            f"upstream-{i}",
            "POST",
            "/v1/experiments",
            400,
            "invalid_value",
            _experiment(overrides={"upstream": u}),
            admin=True,
        )
        for i, u in enumerate(
            ["http://127.0.0.1:99999", "http://127.0.0.1:0", "ftp://host/", "http://", "127.0.0.1:8000"]
        )
    ),
    Case(
        "weight-infinity",
        "POST",
        "/v1/experiments",
        400,
        "invalid_value",
        b'{"name":"w","arms":[{"name":"a","weight":Infinity},{"name":"b"}]}',
        admin=True,
    ),
    Case(
        "weight-nan",
        "POST",
        "/v1/experiments",
        400,
        "invalid_value",
        b'{"name":"w","arms":[{"name":"a","weight":NaN},{"name":"b"}]}',
        admin=True,
    ),
    Case("weight-huge", "POST", "/v1/experiments", 400, "invalid_value", _experiment(weight=1e300), admin=True),
    Case(
        "arm-max-tokens",
        "POST",
        "/v1/experiments",
        400,
        "invalid_experiment",
        _experiment(overrides={"max_tokens": 10**9}),
        admin=True,
    ),
    # headers: overlong machine ids and keys are refused before anything is hashed or cached
    Case(
        "machine-id-long",
        "POST",
        "/v1/events",
        400,
        "invalid_machine_id",
        {"kind": "shown", "completion_id": "x"},
        {"X-Machine-Id": "m" * 300},
    ),
    Case("headers-huge", "POST", "/v1/events", 431, "headers_too_large", {}, {"X-Machine-Id": "m" * 40_000}),
    Case("bearer-huge", "POST", "/v1/events", 401, "invalid_api_key", {}, {"Authorization": "Bearer " + "k" * 20_000}),
    # /v1/scan is capped (its cost is linear, but not free)
    Case("scan-too-big", "POST", "/v1/scan", 400, "invalid_value", {"text": "x" * (64 * 1024 + 1)}),
]


@pytest.fixture()
def app_client(tmp_path: Path) -> Iterator[tuple[TestClient, str, str, Any]]:
    with FakeUpstream(text_fn=lambda p: (p["prompt"] if p.get("echo") else "") + "    pass\n") as upstream:
        settings = make_settings(
            tmp_path, upstream=upstream, store_raw_text=True, rate_limit_burst=1000, rate_limit_per_s=1000.0
        )
        key = make_api_key(settings)
        admin = make_api_key(settings, user="root", is_admin=True)
        with TestClient(create_app(settings)) as client:
            yield client, key, admin, settings


@pytest.mark.parametrize("case", HOSTILE_CASES, ids=lambda c: c.name)
def test_hostile_request_gets_a_clear_4xx(case: Case, app_client: tuple[TestClient, str, str, Any]) -> None:
    client, key, admin, _ = app_client
    headers = {"Authorization": f"Bearer {admin if case.admin else key}", **case.headers}
    content = case.body if isinstance(case.body, bytes) else json.dumps(case.body).encode()
    r = client.request(case.method, case.path, content=content, headers=headers)
    assert r.status_code == case.status, r.text[:500]
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"]["code"] == case.code


def test_client_strings_are_bounded_and_escaped(app_client: tuple[TestClient, str, str, Any]) -> None:
    """model_not_found and unknown_completion used to repeat the client's string verbatim."""
    client, key, _, _ = app_client
    auth = {"Authorization": f"Bearer {key}"}
    model = "evil\n\x07\u202e" + "m" * 100_000  # NUL itself is refused earlier (invalid_text)
    r = client.post("/v1/completions", json={"prompt": "x", "model": model}, headers=auth)
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    message = r.json()["error"]["message"]
    assert len(message) < 300 and "\n" not in message and "\x07" not in message and "\u202e" not in message
    r = client.post("/v1/events", json={"kind": "shown", "completion_id": "cmpl-\r\n\x1b[31m"}, headers=auth)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_completion"
    assert "\x1b" not in r.json()["error"]["message"] and "\r\n" not in r.json()["error"]["message"]


def test_failed_authentication_is_rate_limited_per_address(app_client: tuple[TestClient, str, str, Any]) -> None:
    client, key, _, _ = app_client
    codes = [client.get("/v1/models", headers={"Authorization": f"Bearer cs-wrong-{i}"}).status_code for i in range(25)]
    assert codes[:20] == [401] * 20 and codes[-1] == 429
    r = client.get("/v1/models", headers={"Authorization": "Bearer cs-wrong-again"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert r.json()["error"]["code"] == "too_many_auth_failures"


def test_unknown_keys_are_cached_by_digest_only(app_client: tuple[TestClient, str, str, Any]) -> None:
    client, _, _, _ = app_client
    client.get("/v1/models", headers={"Authorization": "Bearer " + "k" * 200})
    authenticator = client.app.state.authenticator  # type: ignore[attr-defined]
    assert authenticator._unknown and all(len(d) == 32 for d in authenticator._unknown)


# --- secrets in prompts (CODESIEVE_STORE_RAW_TEXT=true), built so no scanner flags this file
PROJECT_KEY = "sk-" + "proj-" + "R4nd0m_Str1ng-W1th-Dash3s_" + "T3Blbk" + "FJ_x9Y8z7W6v5U4t3S2r1Q0p"
PROJECT_KEY_NO_MARKER = "sk-" + "proj-" + "Ab3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5oQ7sU9wY1aC3eG5iK7mO9qS1"
PG_PASSWORD = "pw" + "!x9Lq"
HALF_TYPED = "NwI4qYe" + "Jk8Lm2"
SECRET_PROMPT = (
    f'client = OpenAI(api_key="{PROJECT_KEY}")\n'
    f"OPENAI_API_KEY={PROJECT_KEY_NO_MARKER}\n"
    f'DATABASE_URL = "postgresql://user:{PG_PASSWORD}@host/db"\n'
    f'AWS_SECRET_ACCESS_KEY = "{HALF_TYPED}'
)
SECRETS = (PROJECT_KEY, PROJECT_KEY_NO_MARKER, PG_PASSWORD, HALF_TYPED)


def test_prompt_secrets_are_not_stored_and_not_echoed(tmp_path: Path, fake_upstream: FakeUpstream) -> None:
    settings = make_settings(tmp_path, upstream=fake_upstream, store_raw_text=True)
    key = make_api_key(settings)
    fake_upstream.text_fn = lambda p: (p["prompt"] if p.get("echo") else "") + "    pass\n"
    with TestClient(create_app(settings)) as client:
        r = client.post(
            "/v1/completions", json={"prompt": SECRET_PROMPT, "echo": True}, headers={"Authorization": f"Bearer {key}"}
        )
    assert r.status_code == 200, r.text
    echoed = r.json()["choices"][0]["text"]
    assert echoed.endswith("    pass\n") and "DATABASE_URL" in echoed
    assert not [s for s in SECRETS if s in echoed]
    reasons = {f["reason"] for f in r.json()["x_codesieve"]["prompt_filters"]}
    assert {"secret.openai_project_key", "secret.url_password", "secret.secret_keyword"} <= reasons
    with create_engine(settings.sync_db_url).connect() as conn:  # the writer drained at shutdown
        stored = conn.execute(text("SELECT prompt_text FROM completions")).scalar_one()
    assert stored and not [s for s in SECRETS if s in stored]
