"""The busiest POST routes through FastAPI's router: auth, the error envelope, the body limit, the per-route
metrics label, FastAPI's answers for other methods, and the OpenAPI entries.

(They were dispatched ahead of the router until issue 18: benchmarks/gateway_overhead.py showed no
measurable CPU saved, 0.98 vs 0.96 ms per request with and without at c=8.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from factories import FakeUpstream, make_api_key, make_settings
from gateway.main import create_app


@pytest.fixture()
def gw(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with FakeUpstream() as upstream:
        settings = make_settings(
            tmp_path, upstream=upstream, max_body_bytes=4096, rate_limit_burst=1000, rate_limit_per_s=1000.0
        )
        key = make_api_key(settings)
        app = create_app(settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, {"Authorization": f"Bearer {key}"}


def test_the_busy_routes_are_documented(gw):
    client, _ = gw
    paths = client.get("/openapi.json").json()["paths"]
    assert "post" in paths["/v1/completions"] and "post" in paths["/v1/events"]


def test_metrics_label_routes_with_their_template(gw):
    client, auth = gw
    assert client.post("/v1/completions", json={"prompt": "def f():\n"}, headers=auth).status_code == 200
    assert client.post("/v1/completions", json={"prompt": "x"}).status_code == 401
    metrics = client.get("/metrics").text
    assert 'codesieve_requests_total{route="/v1/completions",status="200"} 1.0' in metrics
    assert 'codesieve_requests_total{route="/v1/completions",status="401"} 1.0' in metrics


def test_errors_keep_their_envelope_and_headers(gw):
    client, auth = gw
    missing = client.post("/v1/events", json={"events": []})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"] == {
        "message": "send `Authorization: Bearer <api key>`",
        "type": "authentication_error",
        "code": "missing_api_key",
        "param": None,
    }
    too_big = client.post("/v1/completions", content=b'{"prompt": "' + b"x" * 5000 + b'"}', headers=auth)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "body_too_large"


def test_other_methods_and_paths_get_fastapis_answers(gw):
    client, auth = gw
    wrong_method = client.get("/v1/completions", headers=auth)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"
    trailing = client.post("/v1/completions/", json={"prompt": "x"}, headers=auth, follow_redirects=False)
    assert trailing.status_code == 307  # FastAPI's slash redirect, as before


def test_an_unexpected_error_in_a_route_is_the_generic_500(gw, monkeypatch):
    client, auth = gw

    async def boom(*_args, **_kwargs):
        raise RuntimeError("secret-looking text must not leak")

    monkeypatch.setattr(client.app.state.completion_service, "complete", boom)
    r = client.post("/v1/completions", json={"prompt": "x"}, headers=auth)
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error" and "secret" not in r.text
