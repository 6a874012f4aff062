"""Compiled (numba) scanner for codesieve.core.shingling's lexemes over UTF-8 bytes, and the shingle buffer.

Private to codesieve.core.shingling / codesieve.core.minhash. It implements exactly what `code_tokens` does with
two regexes (checked against them on real files in tests/unit/codesieve/core/test_lexer_kernel.py):

1. `(?m)(?:#|//)[^\\n]*$` -> " ": a line comment runs from `#` or `//` up to the next "\\n".
2. `[^\\W\\d]\\w*|\\d[\\w.]*|[^\\w\\s]` findall, which decides on the first character alone:
   an identifier (word, not digit) takes every following word character; a number (digit) takes
   word characters and dots; any other non-space character is a lexeme of its own.

A comment start is never inside an identifier or a number (`#` and `/` are neither word nor
dot), so skipping to the newline where the scanner meets `#` or `//` is the same as masking
first. Character classes come from a per-code-point table that `re` itself fills in
(codesieve.core.shingling._char_classes), so Unicode word/digit/space agree with the regexes by
construction. Input is what `str.encode("utf-8", "surrogatepass")` gives: well-formed UTF-8
where a lone surrogate is a 3-byte sequence, decoded like any other.
"""

from __future__ import annotations

import numba
import numpy as np

# class bits of a code point (the table is built in codesieve.core.shingling)
WORD, DIGIT, SPACE = 1, 2, 4


@numba.njit(cache=True, inline="always")
def _decode(data, i):  # noqa: ANN001, ANN202
    """(code point, byte length) of the UTF-8 sequence at data[i] (input is well-formed)."""
    b = np.int64(data[i])
    if b < 0x80:
        return b, 1
    if b < 0xE0:
        return ((b & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F), 2
    if b < 0xF0:
        return ((b & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (np.int64(data[i + 2]) & 0x3F), 3
    return (
        ((b & 0x07) << 18)
        | ((np.int64(data[i + 1]) & 0x3F) << 12)
        | ((np.int64(data[i + 2]) & 0x3F) << 6)
        | (np.int64(data[i + 3]) & 0x3F),
        4,
    )


@numba.njit(cache=True)
def scan_lexemes(data, classes, starts, ends):  # noqa: ANN001, ANN201
    """Byte spans of the lexemes of UTF-8 `data`; returns how many were written.

    Args:
        data: (n,) uint8 UTF-8 bytes.
        classes: (0x110000,) uint8 WORD/DIGIT/SPACE bits per code point.
        starts, ends: (>= n,) int64 outputs (a lexeme is at least one byte).
    """
    n = data.shape[0]
    count = 0
    i = 0
    while i < n:
        b = data[i]
        if b == 0x23 or (b == 0x2F and i + 1 < n and data[i + 1] == 0x2F):  # '#' or '//'
            while i < n and data[i] != 0x0A:
                i += 1
            continue
        cp, size = _decode(data, i)
        c = classes[cp]
        start = i
        i += size
        if c & WORD and not c & DIGIT:  # identifier: word characters
            while i < n:
                cp, size = _decode(data, i)
                if not classes[cp] & WORD:
                    break
                i += size
        elif c & DIGIT:  # number: word characters and dots
            while i < n:
                cp, size = _decode(data, i)
                if not (classes[cp] & WORD or cp == 0x2E):
                    break
                i += size
        elif c & SPACE:  # whitespace: not a lexeme
            continue
        starts[count] = start
        ends[count] = i
        count += 1
    return count


@numba.njit(cache=True)
def join_lexemes(data, starts, ends, count, ngram, separator):  # noqa: ANN001, ANN201
    """The lexemes joined by the byte `separator`, and each `ngram`-lexeme shingle's byte span in it.

    The caller passes codesieve.core.shingling.SEPARATOR_BYTE (an argument, so this module imports
    nothing from the module that imports it).

    Returns:
        (joined uint8 buffer, shingle starts, shingle ends), the same bytes and spans as
        codesieve.core.minhash.shingle_hashes_from_tokens builds from `SHINGLE_SEPARATOR.join(tokens)`.
    """
    total = count - 1 if count > 0 else 0
    for k in range(count):
        total += ends[k] - starts[k]
    joined = np.empty(total, dtype=np.uint8)
    tok_start = np.empty(count, dtype=np.int64)
    tok_end = np.empty(count, dtype=np.int64)
    p = 0
    for k in range(count):
        if k > 0:
            joined[p] = separator
            p += 1
        tok_start[k] = p
        for q in range(starts[k], ends[k]):
            joined[p] = data[q]
            p += 1
        tok_end[k] = p
    m = count - ngram + 1
    if m < 0:
        m = 0
    return joined, tok_start[:m].copy(), tok_end[ngram - 1 : ngram - 1 + m].copy()


@numba.njit(cache=True)
def collapse_whitespace(data, classes):  # noqa: ANN001, ANN201
    """UTF-8 of `" ".join(text.split())` for UTF-8 `data`: whitespace runs -> one space, ends stripped.

    `str.split()` splits on exactly the code points `\\s` matches (both Py_UNICODE_ISSPACE;
    checked over every code point in tests), so the SPACE bit of `classes` is the rule.
    """
    out = np.empty(data.shape[0], dtype=np.uint8)
    n = data.shape[0]
    p = 0
    i = 0
    pending_space = False
    while i < n:
        cp, size = _decode(data, i)
        if classes[cp] & SPACE:
            pending_space = p > 0  # a run after some text; dropped if nothing follows
        else:
            if pending_space:
                out[p] = 0x20
                p += 1
                pending_space = False
            for q in range(size):
                out[p] = data[i + q]
                p += 1
        i += size
    return out[:p]
