"""Telemetry event wire models: codesieve's vocabulary and Tabby's, normalised to one form.

codesieve: {"kind": "shown"|"accepted"|"dismissed"|"persisted", "completion_id", "choice_index",
            "event_id", "accept_kind", "accepted_chars", "accepted_lines", "after_s",
            "edit_distance_ratio" | "current_text", "elapsed_ms"}
Tabby:     {"type": "view"|"select"|"dismiss", "completion_id", "choice_index", "view_id", "elapsed"}
           with `?select_kind=line` for a line-by-line (partial) accept.
activity:  {"kind": "activity", "chars_typed", "chars_pasted", "period_s", "event_id"}: a plugin's
           periodic count of characters the user typed (pastes and accepted completions excluded)
           and pasted; no completion. The A/B report's PCW denominator.
           On a Tabby select, tabby-agent (1.5.0) reports no lengths; a plugin may add codesieve's
           `accepted_chars`/`accepted_lines`, recorded as client-reported (`accepted_chars_source`).
A body may be one event, a JSON list of events, or {"events": [...]}.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# The checkpoints at which plugins report whether accepted code is still there (seconds after accept).
from codesieve.core.telemetry.persistence import PERSISTENCE_CHECKPOINTS_S
from gateway.protocol.base import ErrorResponse, validation_error

EventKind = Literal["shown", "accepted", "dismissed", "persisted"]
MAX_EVENTS_PER_POST = 1000
# The telemetry columns are 32-bit INTEGER (codesieve/core/telemetry/tables.py): larger counts are refused here.
INT32_MAX = 2**31 - 1
MAX_INT32 = INT32_MAX  # activity counts
MAX_ACTIVITY_PERIOD_S = 86_400


class CodesieveEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: EventKind
    completion_id: str = Field(min_length=1, max_length=64)
    choice_index: Annotated[int, Field(ge=0, le=31)] = 0
    event_id: str | None = Field(
        None, min_length=1, max_length=128, description="client event id; a retried event with the same id counts once"
    )
    accept_kind: Literal["full", "partial"] | None = Field(None, description="accepted: whole or part")
    accepted_chars: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    accepted_lines: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    after_s: int | None = Field(None, description="persisted: seconds after accept, one of 15,30,120,300,600")
    edit_distance_ratio: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] | None = Field(
        None, description="persisted: relative lexical edit distance computed by the plugin"
    )
    current_text: str | None = Field(
        None,
        max_length=200_000,
        description="persisted: the code now where the completion was accepted; "
        "the gateway computes the ratio and discards the text",
    )
    elapsed_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> CodesieveEvent:
        if self.kind == "persisted":
            if self.after_s not in PERSISTENCE_CHECKPOINTS_S:
                raise ValueError(f"after_s must be one of {PERSISTENCE_CHECKPOINTS_S}")
            if (self.edit_distance_ratio is None) == (self.current_text is None):
                raise ValueError("persisted needs exactly one of edit_distance_ratio or current_text")
        elif self.after_s is not None or self.edit_distance_ratio is not None or self.current_text is not None:
            raise ValueError("after_s, edit_distance_ratio and current_text belong to persisted events")
        if self.kind != "accepted" and (
            self.accept_kind or self.accepted_chars is not None or self.accepted_lines is not None
        ):
            raise ValueError("accept_kind, accepted_chars and accepted_lines belong to accepted events")
        return self


class TabbyEvent(BaseModel):
    model_config = ConfigDict(extra="allow")  # Tabby sends more context fields between releases

    type: Literal["view", "select", "dismiss"]
    completion_id: str = Field(min_length=1, max_length=64)
    choice_index: Annotated[int, Field(ge=0, le=31)] = 0
    view_id: str | None = None
    elapsed: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    accepted_chars: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = Field(
        None, description="codesieve: characters the plugin inserted on `select` (after its own trimming)"
    )
    accepted_lines: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = Field(
        None, description="codesieve: lines the plugin inserted on `select`"
    )


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    kind: EventKind
    completion_id: str
    choice_index: int
    client_event_id: str
    accept_kind: str | None = None
    accepted_chars: int | None = None
    accepted_lines: int | None = None
    after_s: int | None = None
    edit_distance_ratio: float | None = None
    current_text: str | None = None
    elapsed_ms: float | None = None
    line_accept: bool = False  # Tabby `select_kind=line`: the next line of the shown completion


class ActivityEvent(BaseModel):
    """A plugin's periodic typing count (no completion): the percent-of-code-written denominator."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["activity"]
    chars_typed: Annotated[int, Field(ge=0, le=MAX_INT32)] = Field(
        description="characters the user typed in the period; pastes and accepted completions excluded"
    )
    chars_pasted: Annotated[int, Field(ge=0, le=MAX_INT32)] = Field(
        0, description="characters pasted in the period (recorded, and excluded from PCW)"
    )
    period_s: Annotated[int, Field(ge=1, le=MAX_ACTIVITY_PERIOD_S)] = Field(
        description="the span the counts cover, in seconds"
    )
    # Required: two periods with equal counts must not look like one retried event.
    event_id: str = Field(
        min_length=1, max_length=128, description="client event id; a retried event with the same id counts once"
    )


@dataclass(frozen=True, slots=True)
class ParsedActivity:
    client_event_id: str
    chars_typed: int
    chars_pasted: int
    period_s: int


_TABBY_KIND: dict[str, EventKind] = {"view": "shown", "select": "accepted", "dismiss": "dismissed"}


def _derived_id(*parts: object) -> str:
    # An event without a client id gets one derived from its content, so a plain retry is idempotent.
    return "d-" + hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:40]


def _parse_one(item: Any, select_kind: str | None) -> ParsedEvent | ParsedActivity:
    if not isinstance(item, dict):
        raise TypeError("each event must be a JSON object")
    if item.get("kind") == "activity":
        a = ActivityEvent.model_validate(item)
        return ParsedActivity(a.event_id, a.chars_typed, a.chars_pasted, a.period_s)
    if "type" in item:
        t = TabbyEvent.model_validate(item)
        kind = _TABBY_KIND[t.type]
        partial = kind == "accepted" and select_kind == "line"
        return ParsedEvent(
            kind,
            t.completion_id,
            t.choice_index,
            _derived_id("tabby", t.type, t.completion_id, t.choice_index, t.view_id, select_kind),
            accept_kind=("partial" if partial else "full") if kind == "accepted" else None,
            accepted_chars=t.accepted_chars if kind == "accepted" else None,
            accepted_lines=t.accepted_lines if kind == "accepted" else None,
            elapsed_ms=t.elapsed,
            line_accept=partial,
        )
    e = CodesieveEvent.model_validate(item)
    return ParsedEvent(
        e.kind,
        e.completion_id,
        e.choice_index,
        e.event_id or _derived_id(e.kind, e.completion_id, e.choice_index, e.after_s, e.accepted_chars),
        accept_kind=e.accept_kind or ("full" if e.kind == "accepted" else None),
        accepted_chars=e.accepted_chars,
        accepted_lines=e.accepted_lines,
        after_s=e.after_s,
        edit_distance_ratio=e.edit_distance_ratio,
        current_text=e.current_text,
        elapsed_ms=e.elapsed_ms,
    )


def parse_events(body: Any, *, select_kind: str | None = None) -> list[ParsedEvent | ParsedActivity] | ErrorResponse:
    """Validate a posted body into events; the whole post is refused when any event is invalid."""
    items = body.get("events") if isinstance(body, dict) and "events" in body else body
    items = items if isinstance(items, list) else [items]
    if not items:
        return ErrorResponse(400, "no_events", "the body holds no events")
    if len(items) > MAX_EVENTS_PER_POST:
        return ErrorResponse(400, "too_many_events", f"at most {MAX_EVENTS_PER_POST} events per post")
    if select_kind not in (None, "line"):
        return ErrorResponse(400, "invalid_value", "select_kind may only be `line`", param="select_kind")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(_parse_one(item, select_kind))
        except ValidationError as exc:
            err = validation_error(exc)
            where = f"events.{i}" + (f".{err.param}" if err.param else "")
            return ErrorResponse(err.status, err.code, f"event {i}: {err.message}", param=where)
        except TypeError as exc:
            return ErrorResponse(400, "invalid_type", f"event {i}: {exc}", param=f"events.{i}")
    return out
