"""gateway.service.events: events checked against their completions, rows handed to the telemetry sink.

The repository boundary is swapped: `fetch` is the database lookup the gateway injects
(gateway.telemetry.repository.fetch_completion_refs), here a dict, or a failing one for an outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, NamedTuple

from gateway.protocol.base import ErrorResponse
from gateway.protocol.events import ParsedActivity, ParsedEvent, parse_events
from gateway.service.contracts import Caller
from gateway.service.events import EventService
from gateway.service.recent import CompletionRef, RecentCompletions

ALICE = Caller(key_id=1, user="alice", unit_id="u-alice")
BOB = Caller(key_id=2, user="bob", unit_id="u-bob")


class Stored(NamedTuple):
    unit_id: str
    experiment: str | None
    arm: str | None


class Sink:
    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, Any]]] = []

    def submit(self, table: str, row: dict[str, Any]) -> None:
        self.rows.append((table, row))


class Database:
    """The stored completions the lookup sees; `calls` records each query's ids."""

    def __init__(self, stored: Mapping[str, Stored] | None = None) -> None:
        self.stored = dict(stored or {})
        self.calls: list[list[str]] = []

    async def fetch(self, ids: list[str]) -> Mapping[str, Stored]:
        self.calls.append(list(ids))
        return {cid: self.stored[cid] for cid in ids if cid in self.stored}


def _events(*items: dict[str, Any]) -> list[ParsedEvent | ParsedActivity]:
    parsed = parse_events(list(items))
    assert not isinstance(parsed, ErrorResponse), parsed
    return parsed


def _ingest(service: EventService, events: list[Any], caller: Caller = ALICE) -> Any:
    return asyncio.run(service.ingest(events, caller))


def _service(recent: RecentCompletions, db: Database, sink: Sink, grace_s: float = 0.0) -> EventService:
    return EventService(recent, db.fetch, sink, lookup_grace_s=grace_s)


def test_accepted_and_persisted_rows_from_the_served_text() -> None:
    recent, sink = RecentCompletions(), Sink()
    recent.put("c1", CompletionRef("u-alice", "exp", "b", ("return a + b\n    # done\n",)))
    events = _events(
        {"kind": "shown", "completion_id": "c1", "event_id": "e0"},
        {"kind": "accepted", "completion_id": "c1", "accept_kind": "full", "event_id": "e1"},
        {"kind": "persisted", "completion_id": "c1", "after_s": 30, "current_text": "return a + b\n", "event_id": "e2"},
    )
    assert _ingest(_service(recent, Database(), sink), events) == {"accepted": 3}
    rows = [row for table, row in sink.rows if table == "events"]
    assert [r["kind"] for r in rows] == ["shown", "accepted", "persisted"]
    assert all(r["experiment"] == "exp" and r["arm"] == "b" and r["unit_id"] == "u-alice" for r in rows)
    served = len("return a + b\n    # done\n")
    assert (rows[1]["accepted_chars"], rows[1]["accepted_chars_source"]) == (served, "server")
    assert rows[2]["after_s"] == 30 and rows[2]["is_persisted"] is True
    assert 0 < rows[2]["retained_chars"] < served


def test_another_units_completion_is_unknown_and_nothing_is_journaled() -> None:
    recent, sink = RecentCompletions(), Sink()
    recent.put("c1", CompletionRef("u-alice", None, None, ("x",)))
    events = _events(
        {"kind": "activity", "chars_typed": 10, "period_s": 60, "event_id": "a1"},
        {"kind": "shown", "completion_id": "c1", "event_id": "e1"},
    )
    result = _ingest(_service(recent, Database(), sink), events, caller=BOB)
    assert isinstance(result, ErrorResponse) and (result.status, result.code) == (404, "unknown_completion")
    assert result.param == "events.1.completion_id"
    assert sink.rows == []  # all or nothing: the activity row before it is not written either


def test_database_lookup_is_remembered_and_retried_once_after_the_grace() -> None:
    recent, sink = RecentCompletions(), Sink()
    db = Database({"c-db": Stored("u-alice", "exp", "a")})
    service = _service(recent, db, sink, grace_s=0.01)
    assert _ingest(service, _events({"kind": "shown", "completion_id": "c-db", "event_id": "e1"})) == {"accepted": 1}
    assert _ingest(service, _events({"kind": "shown", "completion_id": "c-db", "event_id": "e2"})) == {"accepted": 1}
    assert db.calls == [["c-db"]]  # the second event is answered from memory
    missing = _ingest(service, _events({"kind": "shown", "completion_id": "c-gone", "event_id": "e3"}))
    assert isinstance(missing, ErrorResponse) and missing.status == 404
    assert db.calls[1:] == [["c-gone"], ["c-gone"]]  # looked up again after the grace period


def test_current_text_needs_the_text_in_memory_and_a_ratio_does_not() -> None:
    recent, sink = RecentCompletions(), Sink()
    db = Database({"c-db": Stored("u-alice", None, None)})
    service = _service(recent, db, sink)
    by_text = _events(
        {"kind": "persisted", "completion_id": "c-db", "after_s": 30, "current_text": "x", "event_id": "e"}
    )
    refused = _ingest(service, by_text)
    assert isinstance(refused, ErrorResponse) and (refused.status, refused.code) == (409, "completion_text_unavailable")
    by_ratio = _events(
        {"kind": "persisted", "completion_id": "c-db", "after_s": 30, "edit_distance_ratio": 0.1, "event_id": "e"}
    )
    assert _ingest(service, by_ratio) == {"accepted": 1}
    assert sink.rows[-1][1]["edit_distance_ratio"] == 0.1


def test_choice_index_out_of_range_and_database_outage_are_clear_errors() -> None:
    recent, sink = RecentCompletions(), Sink()
    recent.put("c1", CompletionRef("u-alice", None, None, ("only one",)))
    out_of_range = _events({"kind": "shown", "completion_id": "c1", "choice_index": 3})
    bad = _ingest(_service(recent, Database(), sink), out_of_range)
    assert isinstance(bad, ErrorResponse) and bad.status == 400 and bad.param == "events.0"

    async def outage(_ids: list[str]) -> Mapping[str, Stored]:
        raise ConnectionError("database down")

    down = EventService(RecentCompletions(), outage, sink)
    result = _ingest(down, _events({"kind": "shown", "completion_id": "c9", "event_id": "e"}))
    assert isinstance(result, ErrorResponse) and result.status == 503 and result.headers == {"Retry-After": "5"}
    assert sink.rows == []


def test_activity_rows_carry_the_callers_unit() -> None:
    sink = Sink()
    events = _events({"kind": "activity", "chars_typed": 120, "chars_pasted": 7, "period_s": 60, "event_id": "a1"})
    assert _ingest(_service(RecentCompletions(), Database(), sink), events) == {"accepted": 1}
    table, row = sink.rows[0]
    assert table == "activity"
    assert (row["unit_id"], row["chars_typed"], row["chars_pasted"], row["period_s"]) == ("u-alice", 120, 7, 60)
