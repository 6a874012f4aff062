"""EventService: validate telemetry events against their completions and hand them to the writer.

Completions are looked up in a short-lived in-memory table first (the completion record may still
be in the writer's journal, not yet in the database), then in the database. The completion text
needed to compute persistence from `current_text` lives only in that memory table, for the
persistence window; it is never written anywhere.

With several gateway processes (`serve --workers N`, or replicas) an event may reach a process
other than the one that answered its completion, before that record has left the other process's
journal. A completion found nowhere is therefore looked up once more after `lookup_grace_s` (a
little more than the writer's flush interval) before the event is refused.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import anyio.to_thread

from gateway.protocol.base import ErrorResponse
from gateway.protocol.echo import safe_echo
from gateway.protocol.events import ParsedActivity, ParsedEvent
from gateway.service.contracts import Caller, TelemetrySink
from gateway.service.persistence import PersistenceStat, compute_persistence, persistence_from_ratio
from gateway.service.recent import CompletionRef, RecentCompletions

log = logging.getLogger(__name__)

# Above this many characters (accepted + current text), persistence is computed in a worker thread:
# lexing 200,000 characters takes ~0.1 s, which must not stall the event loop; below it the thread
# hop (~50-100 us) would cost more than the work.
_INLINE_PERSISTENCE_CHARS = 8_000


class StoredRef(Protocol):
    """A completion as the database knows it (gateway.telemetry.repository.StoredCompletion)."""

    @property
    def unit_id(self) -> str: ...
    @property
    def experiment(self) -> str | None: ...
    @property
    def arm(self) -> str | None: ...


FetchFn = Callable[[list[str]], Awaitable[Mapping[str, StoredRef]]]


class EventService:
    def __init__(
        self, recent: RecentCompletions, fetch: FetchFn, telemetry: TelemetrySink, *, lookup_grace_s: float = 0.0
    ) -> None:
        self._recent = recent
        self._fetch = fetch
        self._telemetry = telemetry
        self._grace_s = lookup_grace_s

    async def _lookup(self, ids: list[str]) -> dict[str, CompletionRef | None]:
        refs = {cid: self._recent.get(cid) for cid in ids}
        missing = [cid for cid, ref in refs.items() if ref is None]
        if missing:
            missing = await self._fetch_and_remember(missing, refs)
        if missing and self._grace_s > 0:
            await asyncio.sleep(self._grace_s)
            await self._fetch_and_remember(missing, refs)
        return refs

    async def _fetch_and_remember(self, ids: list[str], refs: dict[str, CompletionRef | None]) -> list[str]:
        """Fill `refs` from the database; returns the ids still unknown.

        What the database returned is remembered too: a completion answered by another process
        gets several events, and one query per event was most of an event's CPU there.
        """
        stored = await self._fetch(ids)
        found = {cid: CompletionRef(r.unit_id, r.experiment, r.arm, None) for cid, r in stored.items()}
        for cid, ref in found.items():
            self._recent.put(cid, ref)
        refs.update(found)
        return [cid for cid in ids if refs.get(cid) is None]

    async def ingest(
        self, events: list[ParsedEvent | ParsedActivity], caller: Caller
    ) -> dict[str, Any] | ErrorResponse:
        """All-or-nothing: either every event is accepted (and journaled) or none is."""
        try:
            about = [e.completion_id for e in events if isinstance(e, ParsedEvent)]
            refs = await self._lookup(about) if about else {}
        except Exception as exc:  # noqa: BLE001 - the database is down: the client retries (nothing journaled)
            log.warning("event lookup failed: %s", type(exc).__name__)
            return ErrorResponse(
                503,
                "database_unavailable",
                "the completion is not known to this gateway and the database is unreachable; retry shortly",
                headers={"Retry-After": "5"},
            )
        rows = []
        for i, e in enumerate(events):
            if isinstance(e, ParsedActivity):  # no completion: the unit's typing, stored on its own
                rows.append(("activity", _activity_row(e, caller)))
                continue
            ref = refs.get(e.completion_id)
            # Another user's completion is reported as unknown: ids are not an oracle.
            if ref is None or ref.unit_id != caller.unit_id:
                return ErrorResponse(
                    404,
                    "unknown_completion",
                    f"event {i}: no completion {safe_echo(e.completion_id)} for this API key",
                    param=f"events.{i}.completion_id",
                )
            row = await _row(e, ref, caller)
            if isinstance(row, ErrorResponse):
                return ErrorResponse(row.status, row.code, f"event {i}: {row.message}", param=f"events.{i}")
            rows.append(("events", row))
        for table, row in rows:
            self._telemetry.submit(table, row)
        return {"accepted": len(rows)}


async def _persistence(accepted_text: str, current_text: str) -> PersistenceStat:
    if len(accepted_text) + len(current_text) <= _INLINE_PERSISTENCE_CHARS:
        return compute_persistence(accepted_text, current_text)
    return await anyio.to_thread.run_sync(functools.partial(compute_persistence, accepted_text, current_text))


def _activity_row(e: ParsedActivity, caller: Caller) -> dict[str, Any]:
    return {
        "client_event_id": e.client_event_id,
        "created_at": datetime.now(UTC),
        "unit_id": caller.unit_id,
        "chars_typed": e.chars_typed,
        "chars_pasted": e.chars_pasted,
        "period_s": e.period_s,
    }


async def _row(e: ParsedEvent, ref: CompletionRef, caller: Caller) -> dict[str, Any] | ErrorResponse:
    texts = ref.choice_texts
    if texts is not None and e.choice_index >= len(texts):
        return ErrorResponse(400, "invalid_value", f"choice_index {e.choice_index} is out of range")
    accepted_chars, source = _accepted_chars(e, texts)
    row: dict[str, Any] = {
        "client_event_id": e.client_event_id,
        "completion_id": e.completion_id,
        "created_at": datetime.now(UTC),
        "unit_id": caller.unit_id,
        "experiment": ref.experiment,
        "arm": ref.arm,
        "kind": e.kind,
        "choice_index": e.choice_index,
        "accept_kind": e.accept_kind,
        "accepted_chars": accepted_chars,
        "accepted_lines": e.accepted_lines,
        "accepted_chars_source": source,
        "after_s": e.after_s,
        "elapsed_ms": e.elapsed_ms,
    }
    if e.kind == "persisted":
        if e.current_text is not None:
            if texts is None:
                return ErrorResponse(
                    409,
                    "completion_text_unavailable",
                    "this gateway no longer holds the completion text; send edit_distance_ratio",
                )
            stat = await _persistence(texts[e.choice_index], e.current_text)
        else:
            assert e.edit_distance_ratio is not None
            base = len(texts[e.choice_index]) if texts is not None else 0
            stat = persistence_from_ratio(e.edit_distance_ratio, base)
        row.update(
            edit_distance_ratio=stat.edit_distance_ratio,
            is_persisted=stat.is_persisted,
            retained_chars=stat.retained_chars,
        )
    return row


def _accepted_chars(e: ParsedEvent, texts: tuple[str, ...] | None) -> tuple[int | None, str | None]:
    """accepted_chars and where it comes from: the client's report, else the served text's length.

    The served length overstates what an editor inserted when the plugin trimmed the completion
    (tabby-agent post-processes every choice): such rows say "server" so analyses can tell.
    A Tabby line accept is estimated as the served text's first line (with its newline).
    """
    if e.kind != "accepted":
        return None, None
    if e.accepted_chars is not None:
        return e.accepted_chars, "client"
    if texts is None:
        return None, None
    text = texts[e.choice_index]
    if e.accept_kind == "full":
        return len(text), "server"
    if e.line_accept:
        end = text.find("\n")
        return (len(text) if end == -1 else end + 1), "server"
    return None, None
