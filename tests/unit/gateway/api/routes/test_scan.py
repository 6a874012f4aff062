"""Prompt secrets, /v1/scan and /v1/references through the app (fake upstream: payload capture)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from factories import FakeUpstream, make_api_key, make_settings
from gateway.main import create_app

# A syntactically valid AWS key id that is not a real credential (built so no scanner flags this file).
AWS_KEY = "AKIA" + "IOSFODNN7" + "EXAMPLF"


def test_prompt_secret_never_reaches_the_model_and_comes_back_to_its_owner(
    tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    def echo_placeholder(payload: dict) -> str:
        found = re.search(r"<[A-Z_]+_\d+>", payload["prompt"])
        return f"    client(key={found.group(0) if found else 'none'})\n"

    upstream = fake_upstream
    upstream.text_fn = echo_placeholder
    settings = make_settings(tmp_path, upstream=upstream, redact_before_model=True, store_raw_text=True)
    key = make_api_key(settings)
    prompt = f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\ndef connect():\n'
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/completions", json={"prompt": prompt}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    assert AWS_KEY not in upstream.payloads[0]["prompt"]
    body = r.json()
    assert body["choices"][0]["text"] == f"    client(key={AWS_KEY})\n"  # restored for its owner
    prompt_findings = body["x_codesieve"]["prompt_filters"]
    assert prompt_findings[0]["reason"] == "secret.aws_access_key"
    assert prompt_findings[0]["action"] == "redact_before_model"
    assert AWS_KEY not in str(prompt_findings)
    from sqlalchemy import create_engine, text

    with create_engine(settings.sync_db_url).connect() as conn:
        stored = conn.execute(text("SELECT prompt_text FROM completions")).scalar_one()
    assert AWS_KEY not in stored and "<AWS_ACCESS_KEY>" in stored


def test_scan_endpoint_and_references(tmp_path: Path, fake_upstream: FakeUpstream) -> None:
    settings = make_settings(tmp_path, upstream=fake_upstream)
    key = make_api_key(settings)
    other = make_api_key(settings, user="mallory")
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as client:
        text_in = f'key = "{AWS_KEY}"\n# SPDX-License-Identifier: GPL-3.0-only\n'
        r = client.post("/v1/scan", json={"text": text_in}, headers=auth)
        assert r.status_code == 200
        kinds = {(f["type"], f["reason"]) for f in r.json()["findings"]}
        assert ("secret", "secret.aws_access_key") in kinds
        assert any(t == "licence" for t, _ in kinds)
        assert AWS_KEY not in r.text
        assert (
            client.post("/v1/scan", json={"text": "x", "bogus": 1}, headers=auth).json()["error"]["code"]
            == "unknown_field"
        )

        cid = client.post("/v1/completions", json={"prompt": "x = 1\n"}, headers=auth).json()["id"]
        refs = client.get(f"/v1/references/{cid}", headers=auth)
        assert refs.status_code == 200 and refs.json() == {"completion_id": cid, "references": []}
        foreign = client.get(f"/v1/references/{cid}", headers={"Authorization": f"Bearer {other}"})
        assert foreign.status_code == 404
