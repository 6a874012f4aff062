"""Properties and golden values of codesieve.core.redaction."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from codesieve.core.redaction import apply_redactions, redact_reversibly, restore_placeholders


@dataclass(frozen=True)
class _Span:
    placeholder: str
    start: int
    end: int


def test_golden_typed_placeholders() -> None:
    text = 'key = "AKIAZ3MHQWER7TYU5IOP"; pw = "hunter2hunter"'
    spans = [_Span("<AWS_ACCESS_KEY>", 7, 27), _Span("<SECRET>", 36, 49)]
    assert apply_redactions(text, spans) == 'key = "<AWS_ACCESS_KEY>"; pw = "<SECRET>"'


def test_overlapping_spans_merge_and_first_longest_wins() -> None:
    text = "0123456789"
    spans = [_Span("<B>", 3, 6), _Span("<A>", 2, 5), _Span("<C>", 2, 4)]
    assert apply_redactions(text, spans) == "01<A>6789"


def test_reversible_round_trip_and_numbering() -> None:
    text = 'a = "s3cr3tvalue"; b = "s3cr3tvalue"; c = "otherSecret9"'
    spans = [_Span("<SECRET>", 5, 16), _Span("<SECRET>", 24, 35), _Span("<SECRET>", 43, 55)]
    redacted, mapping = redact_reversibly(text, spans)
    assert redacted == 'a = "<SECRET_1>"; b = "<SECRET_1>"; c = "<SECRET_2>"'
    assert "s3cr3tvalue" not in repr(mapping) and "2 placeholders" in repr(mapping)
    completion = 'print("<SECRET_2>", "<SECRET_1>")'
    assert restore_placeholders(completion, mapping) == 'print("otherSecret9", "s3cr3tvalue")'
    assert restore_placeholders(redacted, mapping) == text


def test_placeholder_already_in_text_is_skipped() -> None:
    text = "<SECRET_1> = 'p4ssw0rdvalue'"
    redacted, mapping = redact_reversibly(text, [_Span("<SECRET>", 14, 27)])
    assert redacted == "<SECRET_1> = '<SECRET_2>'"
    assert restore_placeholders(redacted, mapping) == text


@st.composite
def _text_and_spans(draw: st.DrawFn) -> tuple[str, list[_Span]]:
    text = draw(st.text(alphabet="abcXYZ019 =\"'\n", min_size=1, max_size=80))
    spans = []
    for _ in range(draw(st.integers(0, 5))):
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, len(text)))
        spans.append(_Span(draw(st.sampled_from(["<SECRET>", "<AWS_ACCESS_KEY>"])), start, end))
    return text, spans


def _covered(n: int, spans: list[_Span]) -> list[bool]:
    mask = [False] * n
    for s in spans:
        for i in range(s.start, s.end):
            mask[i] = True
    return mask


@settings(max_examples=200, deadline=None)
@given(_text_and_spans())
def test_text_outside_spans_is_kept_in_order(case: tuple[str, list[_Span]]) -> None:
    text, spans = case
    mask = _covered(len(text), spans)
    kept = "".join(ch for ch, hidden in zip(text, mask, strict=True) if not hidden)
    redacted = apply_redactions(text, spans)
    stripped = redacted
    for p in ("<SECRET>", "<AWS_ACCESS_KEY>"):
        stripped = stripped.replace(p, "")
    assert stripped == kept.replace("<SECRET>", "").replace("<AWS_ACCESS_KEY>", "")
    # One placeholder per merged span: never more placeholders than spans.
    assert redacted.count("<") - text.count("<") <= len(spans)


@settings(max_examples=200, deadline=None)
@given(_text_and_spans())
def test_reversible_redaction_round_trips(case: tuple[str, list[_Span]]) -> None:
    text, spans = case
    redacted, mapping = redact_reversibly(text, spans)
    assert restore_placeholders(redacted, mapping) == text
    for original in mapping.originals.values():
        assert original  # no empty span is ever recorded
