"""gateway.protocol.codec: orjson where it can, the stdlib json where orjson refuses, the same JSON either way.

Issue #2 (gateway added latency) moved the request path's JSON to orjson; these pin what must not change.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from gateway.protocol import codec


def test_output_is_compact_json_that_json_reads_back_identically():
    value = {"id": "cmpl-1", "text": "naïve → ok\n", "n": 3, "x": 0.1, "none": None, "list": [True, False]}
    raw = codec.dumps(value)
    assert isinstance(raw, bytes) and b", " not in raw and b": " not in raw
    assert json.loads(raw) == value


def test_datetimes_are_written_as_isoformat_writes_them():
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    on_the_hour = datetime(2026, 1, 2, 3, tzinfo=UTC)
    assert json.loads(codec.dumps([when, on_the_hour, date(2026, 1, 2)])) == [
        when.isoformat(),
        on_the_hour.isoformat(),
        "2026-01-02",
    ]


@pytest.mark.parametrize("value", [[2**70], {1: "non-str key"}, ["lone \ud800 surrogate"]])
def test_what_orjson_refuses_is_encoded_by_json(value):
    assert codec.dumps(value) == json.dumps(value, separators=(",", ":")).encode()


def test_unserialisable_values_still_raise_type_error():
    with pytest.raises(TypeError):
        codec.dumps({"x": object()})


@pytest.mark.parametrize("raw", [b"[NaN]", b'{"a": "\\ud800"}', b'{"a": 1}'])
def test_loads_accepts_what_json_accepts(raw):
    assert repr(codec.loads(raw)) == repr(json.loads(raw))


def test_loads_raises_value_error_on_garbage():
    with pytest.raises(ValueError):
        codec.loads(b"<html>not json")
