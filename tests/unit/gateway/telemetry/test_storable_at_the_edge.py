"""What the edge acknowledges, storage can hold (issue 13): text, lengths and ranges of the wire models
agree with the telemetry columns (codesieve/core/telemetry/tables.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from codesieve.core.telemetry.tables import CompletionRecord, EventRecord
from gateway.protocol.base import ErrorResponse, parse_json_body
from gateway.protocol.completions import CompletionLimits, parse_completion
from gateway.protocol.events import parse_events

LIMITS = CompletionLimits(max_tokens_default=16, max_tokens_limit=512, max_n=4, max_prompt_chars=65536)


def _parse(body: Any) -> Any:
    # json.dumps writes lone surrogates and NUL as \u escapes, as a client's encoder would.
    return parse_json_body(json.dumps(body).encode(), allow_list=True)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": "x", "language": "py\ud800"}, "language"),
        ({"prompt": "x", "language": "py\udfff"}, "language"),
        ({"prompt": "a\x00b"}, "prompt"),
        ({"segments": {"prefix": "x", "filepath": "a\x00"}}, "segments.filepath"),
        ([{"kind": "shown", "completion_id": "c", "event_id": "\ud83d"}], "0.event_id"),
        ({"events": [{"kind": "shown", "completion_id": "c"}, {"x\x00": 1}]}, "events.1"),
    ],
)
def test_nul_and_lone_surrogates_are_refused_with_their_path(body: Any, param: str) -> None:
    err = _parse(body)
    assert isinstance(err, ErrorResponse) and (err.status, err.code, err.param) == (400, "invalid_text", param)
    assert "\x00" not in err.message and "\ud800" not in err.message


@pytest.mark.parametrize(
    "raw",
    [
        rb'{"prompt": "\ud83d\ude00 a pair is one character"}',
        rb'{"prompt": "a literal backslash: \\u0000 and \\ud800"}',
        '{"prompt": "caf\u00e9 \U0001f600 raw UTF-8"}'.encode(),
        b'{"prompt": "\\u00e9 an ordinary escape"}',
    ],
)
def test_valid_text_passes(raw: bytes) -> None:
    assert isinstance(parse_json_body(raw), dict)


def test_a_deeply_nested_value_is_walked_without_recursion() -> None:
    from gateway.protocol.base import unstorable_text

    value: Any = "\x00"
    for _ in range(100_000):  # far deeper than the interpreter's recursion limit
        value = [value]
    err = unstorable_text(value)
    assert isinstance(err, ErrorResponse) and err.code == "invalid_text"


def test_language_fits_its_column_in_both_shapes() -> None:
    size = CompletionRecord.__table__.c.language.type.length
    assert size == 64
    for shape in ({"prompt": "x"}, {"segments": {"prefix": "x"}}):
        ok = parse_completion({**shape, "language": "L" * size}, LIMITS)
        assert not isinstance(ok, ErrorResponse)
        err = parse_completion({**shape, "language": "L" * (size + 1)}, LIMITS)
        assert isinstance(err, ErrorResponse) and err.status == 400 and err.param == "language"


@pytest.mark.parametrize("field", ["accepted_chars", "accepted_lines"])
def test_counts_fit_a_32_bit_integer_column(field: str) -> None:
    assert type(EventRecord.__table__.c[field].type).__name__ == "Integer"
    ok = parse_events({"kind": "accepted", "completion_id": "c", field: 2**31 - 1})
    assert isinstance(ok, list) and getattr(ok[0], field) == 2**31 - 1
    err = parse_events({"kind": "accepted", "completion_id": "c", field: 2**31})
    assert isinstance(err, ErrorResponse) and err.param == f"events.0.{field}"


@pytest.mark.parametrize(
    "event",
    [
        {"kind": "shown", "completion_id": "c", "elapsed_ms": float("inf")},
        {"type": "view", "completion_id": "c", "elapsed": float("inf")},
        {"kind": "persisted", "completion_id": "c", "after_s": 30, "edit_distance_ratio": float("inf")},
    ],
)
def test_non_finite_floats_are_refused(event: dict[str, Any]) -> None:
    body = _parse(event)  # json writes Infinity, and json (the body parser) reads it back
    assert isinstance(body, dict)
    err = parse_events(body)
    assert isinstance(err, ErrorResponse) and err.status == 400
