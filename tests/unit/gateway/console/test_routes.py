"""The console through the app on SQLite (the embedded default): sign-in, cookie, CSRF, pages.

Telemetry is written by the real request path (/v1/completions and /v1/events with a fake upstream);
the browser-level tests on PostgreSQL are tests/integration/gateway/test_console_browser.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from codesieve.app import create_app
from experiments.ab.live_report import POSTGRES_ONLY_MESSAGE
from factories import FakeUpstream, make_api_key, make_settings


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


@pytest.fixture()
def parts(tmp_path: Path) -> Iterator[tuple[TestClient, str, str, str]]:
    with FakeUpstream(text="    return a + b\n") as upstream:
        settings = make_settings(tmp_path, upstream=upstream, rate_limit_burst=1000, rate_limit_per_s=1000.0)
        admin = make_api_key(settings, user="root", is_admin=True)
        user = make_api_key(settings, user="alice")
        with TestClient(create_app(settings)) as client:
            yield client, admin, user, settings.sync_db_url


def _sign_in(client: TestClient, key: str) -> tuple[int, str]:
    csrf = _csrf(client.get("/console/login").text)
    r = client.post("/console/login", data={"csrf": csrf, "api_key": key}, follow_redirects=False)
    return r.status_code, r.headers.get("set-cookie", "")


def test_admin_sign_in_sets_a_strict_httponly_expiring_cookie(parts) -> None:
    client, admin, _, _ = parts
    assert client.get("/console/", follow_redirects=False).headers["location"] == "/console/login"
    status, cookie = _sign_in(client, admin)
    assert status == 303
    assert "codesieve_console=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Max-Age=28800" in cookie and "Path=/console" in cookie and "Secure" not in cookie  # plain HTTP
    assert admin not in cookie
    assert client.get("/console/").status_code == 200


def test_cookie_is_secure_over_tls(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    admin = make_api_key(settings, user="root", is_admin=True)
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        assert "Secure" in _sign_in(client, admin)[1]


def test_non_admin_and_unknown_keys_get_no_session(parts) -> None:
    client, _, user, db = parts
    assert _sign_in(client, user) == (403, "")
    assert _sign_in(client, "cs_not-a-key")[0] == 401
    with create_engine(db).connect() as conn:
        rows = conn.execute(text("SELECT user, outcome, detail FROM console_audit ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("alice", "refused", "not admin"), (None, "refused", "unknown or revoked key")]


def test_login_and_forms_refuse_a_forged_csrf_token(parts) -> None:
    client, admin, _, _ = parts
    client.get("/console/login")
    r = client.post("/console/login", data={"csrf": "forged", "api_key": admin}, follow_redirects=False)
    assert r.status_code == 403 and "codesieve_console=" not in r.headers.get("set-cookie", "")
    _sign_in(client, admin)
    assert client.post("/console/keys", data={"csrf": "forged", "user": "mallory"}).status_code == 403
    assert client.post("/console/keys", data={"user": "mallory"}).status_code == 403
    assert "mallory" not in client.get("/console/keys").text


def test_overview_on_sqlite_counts_what_the_request_path_wrote(parts) -> None:
    client, admin, user, _ = parts
    auth = {"Authorization": f"Bearer {user}"}
    cid = client.post("/v1/completions", json={"prompt": "def add(a, b):\n", "language": "python"}, headers=auth)
    cid = cid.json()["id"]
    events = [{"kind": "shown", "completion_id": cid, "event_id": "e1"},
              {"kind": "accepted", "completion_id": cid, "event_id": "e2", "accept_kind": "full"}]  # fmt: skip
    assert client.post("/v1/events", json=events, headers=auth).status_code == 202
    _sign_in(client, admin)
    for _ in range(50):  # the writer flushes within its interval (50 ms here)
        page = client.get("/console/?language=python").text
        if 'id="acceptance-rate">100.00%' in page:
            break
        time.sleep(0.1)
    assert 'id="completions">1<' in page and 'id="acceptance-rate">100.00%' in page
    assert 'id="completions">0<' in client.get("/console/?user=someone-else").text
    assert 'id="completions">1<' in client.get("/console/?user=alice").text
    assert client.get("/console/?until=2020-01-01").status_code == 400


def test_every_page_renders_and_the_report_says_it_needs_postgresql(parts) -> None:
    client, admin, _, _ = parts
    _sign_in(client, admin)
    for path in ("/console/", "/console/experiments", "/console/filters", "/console/keys", "/console/health"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "no-store" and "script-src 'none'" in r.headers["content-security-policy"]
    for _ in range(100):  # the report is computed in the background; the page says so meanwhile
        page = client.get("/console/experiments/some-exp").text
        if 'id="computing"' not in page:
            break
        time.sleep(0.1)
    assert "SQL targets PostgreSQL" in POSTGRES_ONLY_MESSAGE and "SQL targets PostgreSQL" in page
    assert client.get("/console/experiments/bad%20name").status_code == 400


def test_sign_out_ends_the_session(parts) -> None:
    client, admin, _, _ = parts
    _sign_in(client, admin)
    csrf = _csrf(client.get("/console/").text)
    assert client.post("/console/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_the_console_is_off_with_one_setting(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, console_enabled=False))) as client:
        assert client.get("/console/login").status_code == 404
