"""Code lexing and shingling: the one tokenizer shared by dedup, the reference index and the gateway.

A lexeme is an identifier (case kept), a number, or a single operator/punctuation character.
Whitespace and comments are not lexemes, so re-indenting or re-wrapping code does not change the
lexeme stream. String literals are split into their inner identifiers/numbers/punctuation like the
rest of the text: this keeps copied string-heavy code (SQL, templates) matchable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["Lexeme", "code_lexemes", "code_tokens", "normalize_whitespace", "shingles"]

# Identifiers include non-ASCII letters (\w is Unicode-aware); numbers take a leading digit and the
# usual suffix/hex/exponent characters; anything else that is not whitespace is one lexeme per char.
_LEXEME_RE = re.compile(r"[^\W\d]\w*|\d[\w.]*|[^\w\s]")
# Line comments in the C/Python/shell families; dropped before lexing so an added or edited comment
# does not break a near-verbatim match. Block comments are left in: they rarely differ in copies.
_LINE_COMMENT_RE = re.compile(r"(?m)(?:#|//)[^\n]*$")
_WS_RE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Lexeme:
    """One lexeme with its character span in the original text."""

    text: str
    start: int
    end: int


def code_lexemes(text: str) -> list[Lexeme]:
    """Lex `text` into lexemes with character spans (comments removed, spans kept).

    Args:
        text: source code of any language.
    Returns:
        lexemes in order; `text[l.start:l.end] == l.text` for each.
    """
    masked = _LINE_COMMENT_RE.sub(lambda m: " " * len(m.group(0)), text)
    return [Lexeme(m.group(0), m.start(), m.end()) for m in _LEXEME_RE.finditer(masked)]


def code_tokens(text: str) -> list[str]:
    """The lexeme strings of `text` (see `code_lexemes`), without spans."""
    masked = _LINE_COMMENT_RE.sub(" ", text)
    return _LEXEME_RE.findall(masked)


def normalize_whitespace(text: str) -> str:
    """Collapse every whitespace run to one space and strip the ends (the exact-dedup key)."""
    return _WS_RE.sub(" ", text).strip()


def shingles(tokens: Sequence[str], n: int = 5) -> Iterator[str]:
    """Contiguous n-lexeme shingles, joined with a separator no lexeme contains.

    A sequence shorter than `n` yields nothing: such files are too short to shingle and go to
    exact dedup only.
    """
    for i in range(len(tokens) - n + 1):
        yield "\x1f".join(tokens[i : i + n])
