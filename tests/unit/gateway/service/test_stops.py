"""Gateway-side stop sequences: whole-text truncation and its streaming twin agree."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.service.stops import StopMatcher, truncate_at_stop

STOPS = ["\ndef", "\nclass", "\n\n\n"]


def test_truncates_before_the_earliest_stop() -> None:
    assert truncate_at_stop("x = 1\nclass A:\ndef f", STOPS) == ("x = 1", True)
    assert truncate_at_stop("x = 1\n", STOPS) == ("x = 1\n", False)


def _stream(text: str, cuts: list[int]) -> str:
    m = StopMatcher(STOPS)
    bounds = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    out = "".join(m.feed(text[a:b]) for a, b in zip(bounds, bounds[1:], strict=False))
    return out + m.flush()


@given(st.text(alphabet="ab\ndefclas ", max_size=60), st.lists(st.integers(min_value=0, max_value=60), max_size=8))
def test_streaming_equals_whole_text_for_any_chunking(text: str, cuts: list[int]) -> None:
    assert _stream(text, cuts) == truncate_at_stop(text, STOPS)[0]
