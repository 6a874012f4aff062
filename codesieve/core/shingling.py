"""Code lexing and shingling: the one tokenizer shared by dedup, the reference index and the gateway.

A lexeme is an identifier (case kept), a number, or a single operator/punctuation character.
Whitespace and comments are not lexemes, so re-indenting or re-wrapping code does not change the
lexeme stream. String literals are split into their inner identifiers/numbers/punctuation like the
rest of the text: this keeps copied string-heavy code (SQL, templates) matchable.

The provenance index lexes with `provenance_lexemes` / `provenance_tokens` instead: the same code
lexemes, plus each word of a line comment as one lexeme (lower-cased, marked with COMMENT_MARK,
punctuation dropped), because comments are part of the licensed work (issue 19).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

__all__ = [
    "COMMENT_MARK",
    "SEPARATOR_BYTE",
    "SHINGLE_SEPARATOR",
    "Lexeme",
    "code_lexemes",
    "code_tokens",
    "lexeme_byte_spans",
    "normalize_whitespace",
    "normalize_whitespace_utf8",
    "provenance_lexemes",
    "provenance_tokens",
    "shingles",
]

# Identifiers include non-ASCII letters (\w is Unicode-aware); numbers take a leading digit and the
# usual suffix/hex/exponent characters; anything else that is not whitespace is one lexeme per char.
_LEXEME_RE = re.compile(r"[^\W\d]\w*|\d[\w.]*|[^\w\s]")
# Line comments in the C/Python/shell families; dropped before lexing so an added or edited comment
# does not break a near-verbatim match. Block comments are left in: they rarely differ in copies.
_LINE_COMMENT_RE = re.compile(r"(?m)(?:#|//)[^\n]*$")
_WS_RE = re.compile(r"\s+")
# A word of a comment (letters, digits, underscores); the punctuation between words is dropped.
_WORD_RE = re.compile(r"\w+")
# Leads every comment-word lexeme of `provenance_lexemes`. No code lexeme of two or more
# characters contains it (identifiers and numbers are word characters; punctuation lexemes are one
# character, and `#` always starts a comment), so a comment word never equals a code lexeme.
COMMENT_MARK = "#"

# The one separator lexemes are joined with into a shingle (and into the buffers the compiled
# kernels hash): \x1f is whitespace to the lexer, so no lexeme contains it, and UTF-8 never uses
# its byte inside a multi-byte character, so its bytes are exactly the lexeme boundaries.
SHINGLE_SEPARATOR = "\x1f"
SEPARATOR_BYTE = ord(SHINGLE_SEPARATOR)


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


def provenance_lexemes(text: str) -> list[Lexeme]:
    """Code lexemes of `text`, plus every word of its line comments (the provenance index's lexer).

    A comment word's lexeme is COMMENT_MARK + the word lower-cased (so re-cased or re-punctuated
    comments still match); its span is the word's span in `text`. Code outside comments is lexed
    exactly as `code_lexemes` does.

    Args:
        text: source code of any language.
    Returns:
        lexemes in text order; `text[l.start:l.end]` is the lexeme (comment words: its word).
    """
    out: list[Lexeme] = []
    pos = 0
    for comment in _LINE_COMMENT_RE.finditer(text):
        start = comment.start()
        out.extend(Lexeme(m.group(0), m.start(), m.end()) for m in _LEXEME_RE.finditer(text, pos, start))
        out.extend(
            Lexeme(COMMENT_MARK + m.group(0).lower(), m.start(), m.end())
            for m in _WORD_RE.finditer(text, start, comment.end())
        )
        pos = comment.end()
    out.extend(Lexeme(m.group(0), m.start(), m.end()) for m in _LEXEME_RE.finditer(text, pos))
    return out


def provenance_tokens(text: str) -> list[str]:
    """The lexeme strings of `provenance_lexemes(text)`, without spans (the hot path)."""
    if "#" not in text and "//" not in text:
        tokens: list[str] = _LEXEME_RE.findall(text)
        return tokens
    tokens = []
    pos = 0
    for comment in _LINE_COMMENT_RE.finditer(text):
        start = comment.start()
        tokens += _LEXEME_RE.findall(text, pos, start)
        tokens += [COMMENT_MARK + w.lower() for w in _WORD_RE.findall(text, start, comment.end())]
        pos = comment.end()
    tokens += _LEXEME_RE.findall(text, pos)
    return tokens


def normalize_whitespace(text: str) -> str:
    """Collapse every whitespace run to one space and strip the ends (the exact-dedup key)."""
    return _WS_RE.sub(" ", text).strip()


def shingles(tokens: Sequence[str], n: int = 5) -> Iterator[str]:
    """Contiguous n-lexeme shingles, joined with a separator no lexeme contains.

    A sequence shorter than `n` yields nothing: such files are too short to shingle and go to
    exact dedup only.
    """
    for i in range(len(tokens) - n + 1):
        yield SHINGLE_SEPARATOR.join(tokens[i : i + n])


# Bits of _char_classes (the same values as codesieve.core._lexer_kernel.WORD / DIGIT / SPACE).
_WORD, _DIGIT, _SPACE = 1, 2, 4
_MAX_CODE_POINT = 0x10FFFF


@functools.cache
def _char_classes() -> np.ndarray:
    """Per code point, whether `_LEXEME_RE`'s `\\w`, `\\d` and `\\s` match it (bits 1, 2, 4).

    Filled in by `re` itself over every code point (surrogates included), so the compiled
    scanner classifies characters exactly as the regex does. ~0.1 s once per process.
    """
    # every code point in order, lone surrogates included (cheaper than joining chr() of each)
    every = np.arange(_MAX_CODE_POINT + 1, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")
    table = np.zeros(_MAX_CODE_POINT + 1, dtype=np.uint8)
    for bit, pattern in ((_WORD, r"\w+"), (_DIGIT, r"\d+"), (_SPACE, r"\s+")):
        for m in re.finditer(pattern, every):
            table[m.start() : m.end()] |= bit
    return table


@functools.cache
def _scanner() -> ModuleType | None:  # the compiled kernel module, or None
    try:
        from codesieve.core import _lexer_kernel
    except ImportError:  # numba missing: callers fall back to the regexes
        return None
    return _lexer_kernel


def lexeme_byte_spans(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Byte spans of the lexemes of UTF-8 `data`, without a Python object per lexeme.

    The same lexemes as `code_tokens(data.decode("utf-8", "surrogatepass"))`, in order:
    `[data[s:e].decode(...) for s, e in zip(starts, ends)]` equals that list (tested on real
    files). Compiled with numba where installed, else via `code_lexemes`.
    Args:
        data: `text.encode("utf-8", "surrogatepass")` of a str.
    Returns:
        (starts, ends): (n_lexemes,) int64 byte offsets.
    """
    kernel = _scanner()
    buf = np.frombuffer(data, dtype=np.uint8)
    if kernel is None:
        return _spans_from_regex(data)
    starts = np.empty(buf.size, dtype=np.int64)
    ends = np.empty(buf.size, dtype=np.int64)
    count = kernel.scan_lexemes(buf, _char_classes(), starts, ends)
    return starts[:count].copy(), ends[:count].copy()


def normalize_whitespace_utf8(data: bytes) -> bytes:
    """`normalize_whitespace` on UTF-8 bytes: equals
    `normalize_whitespace(data.decode("utf-8", "surrogatepass")).encode("utf-8", "surrogatepass")`.
    """
    kernel = _scanner()
    if kernel is None:
        return normalize_whitespace(data.decode("utf-8", "surrogatepass")).encode("utf-8", "surrogatepass")
    collapsed: bytes = kernel.collapse_whitespace(np.frombuffer(data, dtype=np.uint8), _char_classes()).tobytes()
    return collapsed


def _spans_from_regex(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    # code_lexemes' character spans, mapped to byte offsets by each character's UTF-8 length
    lexemes = code_lexemes(data.decode("utf-8", "surrogatepass"))
    code_points = np.frombuffer(data.decode("utf-8", "surrogatepass").encode("utf-32-le", "surrogatepass"), "<u4")
    widths = 1 + (code_points >= 0x80) + (code_points >= 0x800) + (code_points >= 0x10000)
    offsets = np.concatenate(([0], np.cumsum(widths, dtype=np.int64)))
    return (
        offsets[np.array([lx.start for lx in lexemes], dtype=np.int64)],
        offsets[np.array([lx.end for lx in lexemes], dtype=np.int64)],
    )
