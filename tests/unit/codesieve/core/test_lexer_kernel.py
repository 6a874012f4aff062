"""The compiled lexer (codesieve.core._lexer_kernel via codesieve.core.shingling) against the regex definition.

The regexes in codesieve.core.shingling (`code_tokens`) are the reference; the byte scanner must give the
same lexemes on real files (site-packages sources, including non-ASCII ones) and on Unicode edge
cases, and the shingle hashes built from it must equal those built from `code_tokens`.
"""

from __future__ import annotations

import random
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesieve.core.minhash import shingle_hashes_from_tokens, shingle_hashes_from_utf8
from codesieve.core.shingling import (
    _char_classes,
    _spans_from_regex,
    code_tokens,
    lexeme_byte_spans,
    normalize_whitespace,
    normalize_whitespace_utf8,
)

_SITE = Path(sysconfig.get_paths()["purelib"])
_SUFFIXES = (".py", ".pyi", ".c", ".h", ".cpp", ".js", ".json", ".md", ".rst", ".txt", ".html", ".css", ".toml")
# 3,000 files, a third of them non-ASCII (~10 s of regex lexing on this machine)
_N_FILES, _N_NON_ASCII = 2000, 1000


def _decoded(data: bytes, starts: np.ndarray, ends: np.ndarray) -> list[str]:
    return [data[s:e].decode("utf-8", "surrogatepass") for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]


@pytest.fixture(scope="module")
def real_texts() -> list[str]:
    """Real source and text files of this environment: a seeded sample plus non-ASCII ones."""
    files = sorted(p for p in _SITE.rglob("*") if p.suffix in _SUFFIXES and p.is_file() and p.stat().st_size < 200_000)
    rng = random.Random(6)
    rng.shuffle(files)
    texts, non_ascii = [], []
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        if not text.isascii() and len(non_ascii) < _N_NON_ASCII:
            non_ascii.append(text)
        elif len(texts) < _N_FILES:
            texts.append(text)
        if len(texts) == _N_FILES and len(non_ascii) == _N_NON_ASCII:
            break
    assert len(non_ascii) == _N_NON_ASCII, "too few non-ASCII files in site-packages for this test"
    return texts + non_ascii


def test_scanner_equals_regex_lexer_on_real_files(real_texts: list[str]) -> None:
    for text in real_texts:
        data = text.encode("utf-8", "surrogatepass")
        starts, ends = lexeme_byte_spans(data)
        assert _decoded(data, starts, ends) == code_tokens(text)


def test_whitespace_collapse_equals_normalize_whitespace_on_real_files(real_texts: list[str]) -> None:
    for text in real_texts[::5]:
        expected = normalize_whitespace(text).encode("utf-8", "surrogatepass")
        assert normalize_whitespace_utf8(text.encode("utf-8", "surrogatepass")) == expected


@pytest.mark.parametrize("hash_fn", ["sha1_32", "xxh32"])
def test_shingle_hashes_from_bytes_equal_token_path_on_real_files(real_texts: list[str], hash_fn: str) -> None:
    for text in real_texts[::10]:
        expected = shingle_hashes_from_tokens(code_tokens(text), 5, hash_fn)
        np.testing.assert_array_equal(
            shingle_hashes_from_utf8(text.encode("utf-8", "surrogatepass"), 5, hash_fn), expected
        )


def test_regex_fallback_gives_the_scanner_spans(real_texts: list[str]) -> None:
    """Without numba, lexeme_byte_spans maps code_lexemes' character spans to bytes: same spans."""
    for text in real_texts[::25]:
        data = text.encode("utf-8", "surrogatepass")
        for ours, fallback in zip(lexeme_byte_spans(data), _spans_from_regex(data), strict=True):
            np.testing.assert_array_equal(ours, fallback)


# Characters where a byte scanner could go wrong: comment starts, newline kinds, the shingle
# separator, Unicode spaces, digits that are not ASCII (٣), digits that are not decimal (², Ⅻ:
# identifier characters to the regex), combining marks, CJK, astral letters and symbols, and
# lone surrogates (legal in a str that came from JSON).
_EDGE_ALPHABET = list(
    "aZ_09.#/ \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2028\u3000()+-'\"é\u0301²٣Ⅻ中\U0001d465\U0001f600\ud800\udfff"
)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(_EDGE_ALPHABET), max_size=60))
def test_scanner_equals_regex_lexer_on_unicode_edge_cases(text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    starts, ends = lexeme_byte_spans(data)
    assert _decoded(data, starts, ends) == code_tokens(text)
    assert normalize_whitespace_utf8(data) == normalize_whitespace(text).encode("utf-8", "surrogatepass")


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(_EDGE_ALPHABET), max_size=80), st.integers(1, 6))
def test_shingle_hashes_from_bytes_equal_token_path_on_edge_cases(text: str, ngram: int) -> None:
    for hash_fn in ("sha1_32", "xxh32"):
        expected = shingle_hashes_from_tokens(code_tokens(text), ngram, hash_fn)
        got = shingle_hashes_from_utf8(text.encode("utf-8", "surrogatepass"), ngram, hash_fn)
        np.testing.assert_array_equal(got, expected)


def test_space_class_is_str_isspace_for_every_code_point() -> None:
    """collapse_whitespace uses `\\s` for str.split()'s whitespace: they must be the same set."""
    every = np.arange(0x110000, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")
    is_space = np.array([c.isspace() for c in every])
    np.testing.assert_array_equal((_char_classes() & 4) != 0, is_space)
