"""Persistence against hand-worked cases (lexeme edit distance / accepted lexemes <= 0.5)."""

from __future__ import annotations

import pytest

from gateway.service.persistence import compute_levenshtein, compute_persistence, persistence_from_ratio


@pytest.mark.parametrize(
    ("accepted", "current", "ratio", "persisted", "retained"),
    [
        # unchanged apart from whitespace and an added comment: 0 edits
        ("return a + b", "return   a+b  # sum", 0.0, True, 9),
        # 2 of 4 lexemes substituted: 2/4 = 0.5, still persisted (<= 0.5)
        ("return a + b", "return a - c", 0.5, True, 7),
        # x = foo(1, 2) -> y = bar(3): 8 lexemes; y/x, bar/foo, 3/1 substituted, ", 2" deleted: 5/8
        ("x = foo(1, 2)", "y = bar(3)", 0.625, False, 3),
        # deleted entirely: every lexeme is an edit
        ("for i in range(10):", "", 1.0, False, 0),
        # the region now holds 4 more lexemes (count + = 1) than the 4 accepted (total + = x): 4/4
        ("total += x", "total += x\ncount += 1", 1.0, False, 8),
    ],
)
def test_hand_worked_cases(accepted: str, current: str, ratio: float, persisted: bool, retained: int) -> None:
    stat = compute_persistence(accepted, current)
    assert stat.edit_distance_ratio == pytest.approx(ratio)
    assert stat.is_persisted is persisted
    assert stat.retained_chars == retained


def test_levenshtein_golden() -> None:
    assert compute_levenshtein(list("kitten"), list("sitting")) == 3
    assert compute_levenshtein([], list("abc")) == 3


def test_ratio_reported_by_the_plugin() -> None:
    stat = persistence_from_ratio(0.2, 100)
    assert stat.is_persisted and stat.retained_chars == 80
    assert not persistence_from_ratio(0.51, 100).is_persisted


@pytest.mark.parametrize(
    ("accepted", "current", "ratio", "persisted"),
    [
        # issue 14 item 8: comment-only text has no code lexemes; its words are compared instead
        ("# add the two numbers", "# add the two numbers", 0.0, True),
        ("# add the two numbers", "x = compute()", 1.0, False),
        ("# add the two numbers", "# add both numbers", 0.4, True),  # #,add,the,two,numbers: the->both, two deleted
        ("    \n", "    \n", 0.0, True),  # whitespace only: by characters
        ("    \n", "x", 1.0, False),
    ],
)
def test_comment_only_completions_have_a_ratio(accepted: str, current: str, ratio: float, persisted: bool) -> None:
    stat = compute_persistence(accepted, current)
    assert stat.edit_distance_ratio == pytest.approx(ratio)
    assert stat.is_persisted is persisted


def test_large_current_text_is_compared_exactly() -> None:
    """rapidfuzz replaced the pure-Python DP (44 s for 199,000 characters): same distances."""
    accepted = "def f(x):\n    return x + 1\n"
    current = "y = g(z)\n" * 20_000 + accepted
    stat = compute_persistence(accepted, current)
    assert stat.retained_chars == len("deff(x):returnx+1")
    # 6 lexemes per inserted line (y = g ( z )), over the 10 accepted lexemes
    assert stat.edit_distance_ratio == pytest.approx(20_000 * 6 / 10)


def test_current_text_lexed_in_pieces_gives_the_same_lexemes() -> None:
    from codesieve.core.shingling import code_tokens
    from gateway.service.persistence import _pieces, _tokens

    # a 21,000-character line without newlines is cut at a space (an unbroken one could be cut anywhere)
    text = "x = 1  # note\n" * 3000 + "yy " * 7_000 + " z // c\n" * 2000
    assert "".join(_pieces(text)) == text and len(_pieces(text)) > 3
    assert _tokens(text, code_tokens) == code_tokens(text)
