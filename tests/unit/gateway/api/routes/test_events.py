"""/v1/events and /v1/experiments through the app, with a fake upstream (payload capture only)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from factories import FakeUpstream, make_api_key, make_settings
from gateway.main import create_app


@pytest.fixture()
def app_parts(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str], FakeUpstream, str]]:
    with FakeUpstream(text="    return a + b\n") as upstream:
        settings = make_settings(tmp_path, upstream=upstream, rate_limit_burst=1000, rate_limit_per_s=1000.0)
        user_key = make_api_key(settings, user="alice")
        admin_key = make_api_key(settings, user="root", is_admin=True)
        with TestClient(create_app(settings)) as client:
            yield (
                client,
                {"Authorization": f"Bearer {user_key}"},
                {"Authorization": f"Bearer {admin_key}"},
                upstream,
                settings.sync_db_url,
            )


def _complete(client: TestClient, auth: dict[str, str]) -> dict:
    r = client.post("/v1/completions", json={"prompt": "def add(a, b):\n"}, headers=auth)
    assert r.status_code == 200, r.text
    return r.json()


def test_both_vocabularies_are_recorded_once_each(app_parts) -> None:
    client, auth, _, _, db = app_parts
    cid = _complete(client, auth)["id"]
    ours = [
        {"kind": "shown", "completion_id": cid, "event_id": "e1"},
        {"kind": "accepted", "completion_id": cid, "event_id": "e2", "accept_kind": "full"},
        {
            "kind": "persisted",
            "completion_id": cid,
            "event_id": "e3",
            "after_s": 30,
            "current_text": "    return a + b  # still here\n",
        },
    ]
    assert client.post("/v1/events", json=ours, headers=auth).status_code == 202
    assert client.post("/v1/events", json=ours, headers=auth).status_code == 202  # a retry
    tabby = {"type": "select", "completion_id": cid, "choice_index": 0, "view_id": "v1"}
    for _ in range(2):
        assert client.post("/v1/events?select_kind=line", json=tabby, headers=auth).status_code == 202
    client.__exit__(None, None, None)  # shut down: the writer flushes
    with create_engine(db).connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM events ORDER BY id"))]
    assert [r["kind"] for r in rows] == ["shown", "accepted", "persisted", "accepted"]
    assert rows[1]["accepted_chars"] == len("    return a + b\n")
    assert rows[2]["is_persisted"] and rows[2]["edit_distance_ratio"] == 0.0
    assert rows[3]["accept_kind"] == "partial"
    assert "still here" not in json.dumps(rows, default=str)  # current_text is discarded


def test_unknown_or_foreign_completion_is_404_and_nothing_is_recorded(app_parts, tmp_path: Path) -> None:
    client, auth, admin, _, _ = app_parts
    cid = _complete(client, admin)["id"]  # admin's completion, not alice's
    r = client.post("/v1/events", json={"kind": "shown", "completion_id": cid}, headers=auth)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_completion"
    r = client.post("/v1/events", json={"kind": "shown", "completion_id": "cmpl-nope"}, headers=auth)
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("event", "code"),
    [
        ({"kind": "persisted", "completion_id": "x", "after_s": 31, "edit_distance_ratio": 0.1}, "invalid_value"),
        ({"kind": "persisted", "completion_id": "x", "after_s": 30}, "invalid_value"),
        ({"kind": "clicked", "completion_id": "x"}, "invalid_value"),
        ({"kind": "shown"}, "missing_field"),
        ({"kind": "shown", "completion_id": "x", "colour": 1}, "unknown_field"),
        ([], "no_events"),
    ],
)
def test_bad_events_are_400(app_parts, event, code) -> None:
    client, auth, _, _, _ = app_parts
    r = client.post("/v1/events", json=event, headers=auth)
    assert r.status_code == 400 and r.json()["error"]["code"] == code


def test_experiments_admin_only_and_arm_in_response(app_parts) -> None:
    client, auth, admin, upstream, db = app_parts
    exp = {
        "name": "temp-test",
        "arms": [
            {"name": "control", "weight": 1},
            {"name": "cold", "weight": 1, "overrides": {"temperature": 0.0, "max_tokens": 7}},
        ],
    }
    assert client.post("/v1/experiments", json=exp, headers=auth).status_code == 403
    r = client.post("/v1/experiments", json=exp, headers=admin)
    assert r.status_code == 201, r.text
    listed = client.get("/v1/experiments", headers=auth).json()
    assert listed["active"] == "temp-test" and listed["data"][0]["arms"][1]["name"] == "cold"
    arms = set()
    for _ in range(3):  # the same unit always gets the same arm
        block = _complete(client, auth)["x_codesieve"]["experiment"]
        arms.add(block["arm"])
    assert len(arms) == 1
    arm = arms.pop()
    if arm == "cold":
        assert upstream.payloads[-1]["temperature"] == 0.0 and upstream.payloads[-1]["max_tokens"] == 7
    overlapping = {**exp, "name": "other"}
    assert client.post("/v1/experiments", json=overlapping, headers=admin).status_code == 409
    bad = {**exp, "name": "bad", "arms": [{"name": "a", "overrides": {"fim_template": "nope"}}, {"name": "b"}]}
    assert client.post("/v1/experiments", json=bad, headers=admin).json()["error"]["code"] == "invalid_experiment"


def test_secret_in_a_completion_is_redacted_with_a_reason(tmp_path: Path, fake_upstream: FakeUpstream) -> None:
    key_text = "AKIAIOSFODNN7EXAMPLE"
    fake_upstream.text = f'    aws_access_key_id = "{key_text[:4]}Z{key_text[5:]}"\n'
    settings = make_settings(tmp_path, upstream=fake_upstream)
    key = make_api_key(settings)
    with TestClient(create_app(settings)) as client:
        r = client.post(
            "/v1/completions", json={"prompt": "import boto3\n"}, headers={"Authorization": f"Bearer {key}"}
        )
    body = r.json()
    text_out = body["choices"][0]["text"]
    assert "AKIAZ" not in text_out and "<" in text_out
    reasons = [f["reason"] for f in body["x_codesieve"]["filters"]]
    assert any(reason.startswith("secret.") for reason in reasons)


def test_activity_events_are_stored_once_without_a_completion(app_parts) -> None:
    """Issue 20: `activity` (characters typed / pasted) is the PCW denominator; no completion id."""
    client, auth, _, _, db = app_parts
    cid = _complete(client, auth)["id"]
    post = [
        {"kind": "activity", "chars_typed": 420, "chars_pasted": 3000, "period_s": 300, "event_id": "act-1"},
        {"kind": "activity", "chars_typed": 420, "chars_pasted": 3000, "period_s": 300, "event_id": "act-2"},
        {"kind": "shown", "completion_id": cid, "event_id": "s1", "elapsed_ms": 900},
    ]
    for _ in range(2):  # a retry counts once
        r = client.post("/v1/events", json=post, headers=auth)
        assert r.status_code == 202, r.text
        assert r.json() == {"accepted": 3}
    client.__exit__(None, None, None)  # shut down: the writer flushes
    with create_engine(db).connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM activity ORDER BY client_event_id"))]
        shown = conn.execute(text("SELECT count(*) FROM events WHERE kind = 'shown'")).scalar_one()
    assert [(r["client_event_id"], r["chars_typed"], r["chars_pasted"], r["period_s"]) for r in rows] == [
        ("act-1", 420, 3000, 300),
        ("act-2", 420, 3000, 300),
    ]
    assert shown == 1
    assert rows[0]["unit_id"] and rows[0]["created_at"] is not None


@pytest.mark.parametrize(
    ("event", "param"),
    [
        ({"chars_typed": 2**31, "period_s": 60, "event_id": "a"}, "events.0.chars_typed"),  # not storable
        ({"chars_typed": -1, "period_s": 60, "event_id": "a"}, "events.0.chars_typed"),
        ({"chars_typed": 1, "chars_pasted": 2**31, "period_s": 60, "event_id": "a"}, "events.0.chars_pasted"),
        ({"chars_typed": 1, "period_s": 0, "event_id": "a"}, "events.0.period_s"),
        ({"chars_typed": 1, "period_s": 86_401, "event_id": "a"}, "events.0.period_s"),
        ({"chars_typed": 1, "period_s": 60}, "events.0.event_id"),  # equal counts must not merge
        ({"chars_typed": 1, "period_s": 60, "event_id": "x" * 129}, "events.0.event_id"),
        ({"chars_typed": 1, "period_s": 60, "event_id": "a", "completion_id": "c"}, "events.0.completion_id"),
    ],
)
def test_hostile_activity_events_get_a_clear_400(app_parts, event: dict, param: str) -> None:
    client, auth, _, _, db = app_parts
    r = client.post("/v1/events", json={"kind": "activity", **event}, headers=auth)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
    client.__exit__(None, None, None)
    with create_engine(db).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM activity")).scalar_one() == 0
