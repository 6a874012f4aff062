"""Bounded cost on hostile lines (issue 13): the windowed / defanged analysis finds what the plugins find.

Speed itself is measured by benchmarks/loop_stall.py, not asserted here.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from codesieve.core.secret_scan import (
    _KEYWORD_WINDOW_CHARS,
    _analyze,
    _build_detector,
    _defang_repeated_keywords,
    scan_secrets,
)
from codesieve.testing.secret_tokens import with_crc32

_PIECES = st.sampled_from(
    [
        "api_key",
        "password",
        "pwd",
        "secret",
        "db_pass",
        "_",
        "x",
        "Q7",
        " ",
        "=",
        ":",
        '"',
        "'",
        "`",
        ";",
        "s3cr3tV4lu3",
        "!==",
    ]
)


@given(st.lists(_PIECES, max_size=60).map("".join))
@settings(max_examples=300, deadline=None)
def test_defanging_repeated_keywords_never_changes_the_keyword_detector(line: str) -> None:
    """Only a word run's first denylisted word can start a match: the defanged line gives the same values."""
    assert len(line) <= _KEYWORD_WINDOW_CHARS
    det = _build_detector("secret_keyword")
    assert _analyze(det, line) == list(dict.fromkeys(det.analyze(line)))
    assert len(_defang_repeated_keywords(line)) == len(line)


def test_secrets_in_long_lines_are_still_found() -> None:
    key = "AKIA" + "IOSFODNN7" + "EXAMPLF"  # split so no scanner flags this file
    line = "x = 1; " * 3000 + f'aws_key = "{key}"; ' + "y = 2; " * 3000
    spans = [(f.detector, line[f.start : f.end]) for f in scan_secrets(line)]
    assert ("aws_access_key", key) in spans
    password = "Tr0ub4dor" + "&3xyzQ"
    line = "api_key" * 2000 + f' password = "{password}"' + " filler" * 1000
    assert ("secret_keyword", password) in [(f.detector, line[f.start : f.end]) for f in scan_secrets(line)]


def test_repeated_tokens_in_one_run_each_get_the_whole_run() -> None:
    token = with_crc32("ghp_", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5")
    text = f'"{token * 50}"'
    spans = {(f.start, f.end) for f in scan_secrets(text)}
    assert spans and all(end == len(text) - 1 for _, end in spans)
