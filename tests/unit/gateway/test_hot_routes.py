"""HotRoutes: the busiest POST routes skip FastAPI's routing, and nothing a client or operator sees changes.

Issue #2 (gateway added latency): the dispatch must keep auth, the error envelope, the body limit,
the per-route metrics label, FastAPI's answers for other methods, and the OpenAPI entries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from factories import FakeUpstream, make_api_key, make_settings
from gateway.api.hot_routes import HotRoutes, hot_route_table
from gateway.api.router import HOT_ROUTES
from gateway.main import create_app


@pytest.fixture()
def gw(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = make_settings(tmp_path, max_body_bytes=4096, rate_limit_burst=1000, rate_limit_per_s=1000.0)
    key = make_api_key(settings)
    app = create_app(settings, upstream_transport=FakeUpstream().transport)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, {"Authorization": f"Bearer {key}"}


def test_the_hot_routes_are_the_registered_post_routes(gw):
    client, _ = gw
    table = hot_route_table(client.app, HOT_ROUTES)  # type: ignore[arg-type]
    assert {path: route.path for path, (_, route) in table.items()} == {p: p for p in HOT_ROUTES}
    paths = client.get("/openapi.json").json()["paths"]
    assert "post" in paths["/v1/completions"] and "post" in paths["/v1/events"]
    with pytest.raises(KeyError):
        hot_route_table(client.app, {"/v1/not-a-route": HOT_ROUTES["/v1/events"]})  # type: ignore[arg-type]


def test_metrics_label_hot_routes_with_their_template(gw):
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


def test_other_methods_and_paths_still_go_to_fastapi(gw):
    client, auth = gw
    wrong_method = client.get("/v1/completions", headers=auth)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"
    trailing = client.post("/v1/completions/", json={"prompt": "x"}, headers=auth, follow_redirects=False)
    assert trailing.status_code == 307  # FastAPI's slash redirect, as before


def test_an_unexpected_error_in_a_hot_route_is_the_generic_500(gw, monkeypatch):
    client, auth = gw

    async def boom(*_args, **_kwargs):
        raise RuntimeError("secret-looking text must not leak")

    monkeypatch.setattr(client.app.state.completion_service, "complete", boom)
    r = client.post("/v1/completions", json={"prompt": "x"}, headers=auth)
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error" and "secret" not in r.text


def test_a_mounted_app_leaves_dispatch_to_the_router():
    calls: list[str] = []

    async def inner(scope, _receive, _send):  # type: ignore[no-untyped-def]
        calls.append(scope["path"])

    hot = HotRoutes(inner, table={"/v1/completions": (None, None)})  # type: ignore[dict-item]
    scope = {"type": "http", "method": "POST", "path": "/v1/completions", "root_path": "/api"}

    asyncio.run(hot(scope, None, None))  # type: ignore[arg-type]
    assert calls == ["/v1/completions"]
