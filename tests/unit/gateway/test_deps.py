"""The editor/plugin label recorded with each completion (issue 20: A/B segments by client)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from factories import FakeUpstream, make_api_key, make_settings
from gateway.deps import client_label
from gateway.main import create_app


@pytest.mark.parametrize(
    ("headers", "label"),
    [
        ({"x-client": "continue/0.9.1", "user-agent": "node"}, "continue/0.9.1"),  # X-Client first
        ({"user-agent": "tabby-agent/1.7.0 (linux; x64) node/20"}, "tabby-agent/1.7.0"),  # first token only
        ({"user-agent": "x" * 500}, "x" * 64),  # the column's length
        ({"x-client": "<script>alert(1)</script>"}, None),  # nothing of the plain charset first
        ({}, None),
    ],
)
def test_client_label(headers: dict[str, str], label: str | None) -> None:
    assert client_label(headers) == label


def test_completions_record_the_client(tmp_path: Path, fake_upstream: FakeUpstream) -> None:
    settings = make_settings(tmp_path, upstream=fake_upstream, rate_limit_burst=1000, rate_limit_per_s=1000.0)
    auth = {"Authorization": f"Bearer {make_api_key(settings, user='alice')}"}
    with TestClient(create_app(settings)) as client:
        for extra in ({"X-Client": "llm-ls/0.5.3"}, {"User-Agent": "JetBrains-Plugin/2.1 (IntelliJ)"}):
            r = client.post("/v1/completions", json={"prompt": "def add(a, b):\n"}, headers=auth | extra)
            assert r.status_code == 200, r.text
    with create_engine(settings.sync_db_url).connect() as conn:
        labels = sorted(r[0] for r in conn.execute(text("SELECT client FROM completions")))
    assert labels == ["JetBrains-Plugin/2.1", "llm-ls/0.5.3"]
