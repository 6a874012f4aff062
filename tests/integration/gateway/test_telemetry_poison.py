"""issue 13: one poisoned telemetry record must never stop the rest, on SQLite and PostgreSQL.

The triggers found (a lone surrogate in `language`, a 65-character `language`, `accepted_chars` of
2^31) now get a 400 at the edge. A row the database still refuses (injected here through the
writer's `submit()`, as a future gateway bug or an odd upstream could produce one) goes to the
dead-letter file with its error while the rows behind it reach the database, also when it was
left in the journal by an earlier run. The upstream is the fault-injection fake (tests/factories.py):
this module is about the database, which is real.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from factories import FakeUpstream, make_api_key, make_settings
from gateway.main import create_app

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, pg_database: str, tmp_path: Path) -> str:
    return pg_database if request.param == "postgresql" else f"sqlite:///{tmp_path / 'poison.db'}"


@pytest.fixture()
def gateway(
    db_url: str, tmp_path: Path, fake_upstream: FakeUpstream
) -> Iterator[tuple[TestClient, dict[str, str], Path]]:
    settings = make_settings(
        tmp_path, upstream=fake_upstream, db_url=db_url, rate_limit_burst=10_000, rate_limit_per_s=10_000.0
    )
    key = make_api_key(settings, user=f"poison-{tmp_path.name}")
    with TestClient(create_app(settings)) as client:
        yield client, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}, settings.spool_dir


def _rows(db_url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def _post(client: TestClient, path: str, auth: dict[str, str], body: Any) -> Any:
    # json.dumps escapes non-ASCII (lone surrogates included) as \u sequences, as a client would.
    return client.post(path, content=json.dumps(body), headers=auth)


def _complete(client: TestClient, auth: dict[str, str], **extra: Any) -> str:
    r = _post(client, "/v1/completions", auth, {"prompt": "def f(x):\n", **extra})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def _completion_row(cid: str, **overrides: Any) -> dict[str, Any]:
    row = {
        "id": cid,
        "created_at": datetime.now(UTC),
        "unit_id": "u-poison",
        "model": "fake-model",
        "request_shape": "openai",
        "latency_ms": 1.0,
        "filter_action": "none",
        "is_error": False,
    }
    return row | overrides


def _dead_letters(spool: Path) -> list[dict[str, Any]]:
    path = spool / "dead-letters.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_issue_triggers_get_400_and_later_records_are_stored(
    gateway: tuple[TestClient, dict[str, str], Path], db_url: str
) -> None:
    client, auth, spool = gateway
    cid = _complete(client, auth)
    refused = [
        ("/v1/completions", {"prompt": "x", "language": "py\ud800"}, "language"),
        ("/v1/completions", {"prompt": "x", "language": "L" * 65}, "language"),
        ("/v1/completions", {"segments": {"prefix": "x"}, "language": "L" * 65}, "language"),
        ("/v1/completions", {"prompt": "x", "language": "py\x00"}, "language"),
        ("/v1/events", {"kind": "accepted", "completion_id": cid, "accepted_chars": 2**31}, "events.0.accepted_chars"),
        ("/v1/events", {"kind": "accepted", "completion_id": cid, "accepted_lines": 2**31}, "events.0.accepted_lines"),
        ("/v1/events", {"kind": "shown", "completion_id": cid, "event_id": "e\x00"}, "event_id"),
        ("/v1/events", {"kind": "shown", "completion_id": cid, "elapsed_ms": float("inf")}, "events.0.elapsed_ms"),
        ("/v1/events", {"type": "view", "completion_id": cid, "elapsed": float("inf")}, "events.0.elapsed"),
    ]
    for path, body, param in refused:
        r = _post(client, path, auth, body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["param"].endswith(param), r.json()
    assert _post(client, "/v1/completions", auth, {"prompt": "x", "language": "L" * 64}).status_code == 200
    later = [_complete(client, auth, language="python") for _ in range(20)]
    for i, c in enumerate(later):
        ev = {"kind": "accepted", "completion_id": c, "event_id": f"ok-{i}", "accepted_chars": 2**31 - 1}
        assert _post(client, "/v1/events", auth, ev).status_code == 202
    client.__exit__(None, None, None)  # shut down: the writer flushes
    stored = {r["id"] for r in _rows(db_url, "SELECT id FROM completions")}
    assert {cid, *later} <= stored
    events = _rows(db_url, "SELECT client_event_id, accepted_chars FROM events WHERE client_event_id LIKE 'ok-%'")
    assert sorted(e["client_event_id"] for e in events) == sorted(f"ok-{i}" for i in range(20))
    assert {e["accepted_chars"] for e in events} == {2**31 - 1}
    assert _dead_letters(spool) == []


def _poisoned_rows(db_url: str) -> list[dict[str, Any]]:
    """Completion rows this database refuses; each id says why."""
    rows = [_completion_row("poison-surrogate", language="py\ud800")]  # both: not encodable as UTF-8
    if db_url.startswith("postgresql"):
        rows += [
            _completion_row("poison-long", language="L" * 65),  # VARCHAR(64)
            _completion_row("poison-nul", language="py\x00"),  # PostgreSQL text holds no NUL
            _completion_row("poison-int", prompt_tokens=2**31),  # INTEGER
        ]
    else:
        rows.append(_completion_row("poison-int", prompt_tokens=2**63))  # SQLite INTEGER is 64-bit
    return rows


def _wait_ready(client: TestClient, predicate: Any, timeout_s: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body = client.get("/ready").json()
        if predicate(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_a_row_the_database_refuses_is_dead_lettered_and_later_rows_are_stored(
    gateway: tuple[TestClient, dict[str, str], Path], db_url: str
) -> None:
    client, auth, spool = gateway
    before = _complete(client, auth)
    poisoned = _poisoned_rows(db_url)
    writer = client.app.state.writer  # type: ignore[attr-defined]
    for row in poisoned:  # on the event loop, like the services' own submits
        client.portal.call(writer.submit, "completions", row)  # type: ignore[union-attr]
    after = [_complete(client, auth) for _ in range(10)]
    for i, c in enumerate(after):
        assert _post(client, "/v1/events", auth, {"kind": "shown", "completion_id": c, "event_id": f"p{i}"}).is_success

    ready = _wait_ready(
        client, lambda b: b["telemetry_dead_letters"] == len(poisoned) and not b["telemetry_pending_segments"]
    )
    assert ready["telemetry_dead_letters"] == len(poisoned)
    assert ready["status"] == "degraded" and ready["degraded"] == ["telemetry_dead_letters"]
    metrics = client.get("/metrics").text
    assert 'codesieve_telemetry_dead_letters_total{error="UnicodeEncodeError",table="completions"} 1.0' in metrics
    client.__exit__(None, None, None)

    stored = {r["id"] for r in _rows(db_url, "SELECT id FROM completions")}
    assert {before, *after} <= stored
    assert not {r["id"] for r in poisoned} & stored
    events = _rows(db_url, "SELECT client_event_id FROM events WHERE client_event_id LIKE 'p%'")
    assert sorted(e["client_event_id"] for e in events) == sorted(f"p{i}" for i in range(10))
    letters = _dead_letters(spool)
    assert sorted(x["row"]["id"] for x in letters) == sorted(r["id"] for r in poisoned)
    assert all(x["table"] == "completions" and x["error"]["type"] and x["at"] for x in letters)
    assert (spool / "dead-letters.jsonl").stat().st_mode & 0o777 == 0o600
    if db_url.startswith("postgresql"):
        by_id = {x["row"]["id"]: x["error"] for x in letters}
        assert by_id["poison-long"]["type"] == "DataError/StringDataRightTruncation"
        assert "character varying(64)" in by_id["poison-long"]["message"]
        assert by_id["poison-int"]["type"] == "DataError/NumericValueOutOfRange"


def test_a_poisoned_journal_left_by_an_earlier_run_is_replayed_past_the_bad_row(
    db_url: str, tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    """issue 13: 'after restart, the replay fails again' (for ever)."""
    settings = make_settings(tmp_path, upstream=fake_upstream, db_url=db_url)
    make_api_key(settings)  # migrates
    journal = settings.spool_dir / "0"
    journal.mkdir(parents=True)
    rows = [_completion_row(f"old-{i}", created_at=datetime.now(UTC).isoformat()) for i in range(6)]
    rows[2]["language"] = "py\ud800"
    lines = "".join(json.dumps({"t": "completions", "r": r}) + "\n" for r in rows)
    (journal / "000000000000.jsonl").write_text(lines)
    with TestClient(create_app(settings)) as client:
        ready = _wait_ready(client, lambda b: not b["telemetry_pending_segments"] and b["telemetry_dead_letters"])
        assert ready["telemetry_dead_letters"] == 1
    stored = {r["id"] for r in _rows(db_url, "SELECT id FROM completions WHERE id LIKE 'old-%'")}
    assert stored == {f"old-{i}" for i in range(6) if i != 2}
    assert [x["row"]["id"] for x in _dead_letters(settings.spool_dir)] == ["old-2"]
    assert not list(journal.glob("*.jsonl"))
