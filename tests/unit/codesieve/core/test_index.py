"""codesieve.core.index: winnowing guarantees and containment queries (verbatim, renamed, reformatted)."""

from __future__ import annotations

import builtins
import keyword
import random
import re
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from codesieve.core.index import IndexConfig, checked_lexemes
from codesieve.core.index_store import build_index
from codesieve.core.shingling import code_tokens, provenance_lexemes, provenance_tokens
from codesieve.core.winnowing import (
    LOW_INFORMATION,
    compute_fingerprints,
    compute_kgram_hashes,
    compute_reuse_distances,
    normalize_lexemes,
)

STDLIB = Path(sysconfig.get_paths()["stdlib"])
INDEXED = ["textwrap.py", "argparse.py", "fractions.py", "difflib.py", "ftplib.py"]
HELD_OUT = ["shlex.py", "calendar.py", "pprint.py"]


def _records(names: list[str], licence: str = "GPL-3.0") -> list[dict[str, str]]:
    return [
        {"content": (STDLIB / n).read_text(), "repo": "cpython", "path": f"Lib/{n}", "licence": licence} for n in names
    ]


@pytest.fixture(scope="module")
def index():  # type: ignore[no-untyped-def]
    return build_index(_records(INDEXED))


_NAME_RE = re.compile(r"\b[A-Za-z_]\w*\b")


def rename_identifiers(code: str) -> str:
    """Consistently rename every non-keyword, non-builtin name (a plagiarist's first step)."""
    keep = set(keyword.kwlist) | set(dir(builtins)) | {"self", "cls"}
    names: dict[str, str] = {}

    def rename(m: re.Match[str]) -> str:
        word = m.group(0)
        if word in keep:
            return word
        return names.setdefault(word, f"v{len(names)}")

    return _NAME_RE.sub(rename, code)


def reformat(code: str) -> str:
    """Re-indent with tabs, pad operators and commas, add blank lines (formatter noise)."""
    lines = []
    for line in code.splitlines():
        stripped = line.lstrip(" ")
        indent = (len(line) - len(stripped)) // 4
        lines.append("\t" * indent + stripped.replace(",", " , ").replace("=", " = "))
        if stripped.endswith(":"):
            lines.append("")
    return "\n".join(lines)


def _snippet(text: str, rng: random.Random, n_lines: int) -> tuple[str, str]:
    """A random n-line completion and the file before it, with >= 100 lexemes of code.

    Shorter ones (comment blocks) are below the 65-lexeme threshold by definition: resampled.
    """
    lines = text.splitlines(keepends=True)
    while True:
        start = rng.randrange(20, len(lines) - n_lines - 1)
        before = "".join(lines[:start])
        completion = "".join(lines[start : start + n_lines])
        if len(code_tokens(before[-150:] + completion)) >= 100:
            return before, completion


def test_kgram_hashes_are_deterministic_and_seeded() -> None:
    codes = normalize_lexemes(code_tokens("def f(a, b):\n    return a + b * 2\n"))
    h1, h2 = compute_kgram_hashes(codes, 5), compute_kgram_hashes(codes, 5)
    assert h1.dtype == np.uint64 and len(h1) == len(codes) - 4
    assert np.array_equal(h1, h2)
    assert not np.array_equal(h1, compute_kgram_hashes(codes, 5, seed=1))
    assert len(compute_kgram_hashes(codes[:3], 5)) == 0


def test_normalization_ignores_identifier_names_and_whitespace() -> None:
    a = normalize_lexemes(code_tokens("def area(width, height):\n    return width * height\n"))
    b = normalize_lexemes(code_tokens("def f(x,y):  return x*y  # comment\n"))
    assert np.array_equal(a, b)
    c = normalize_lexemes(code_tokens("def f(x, y):\n    return x + y\n"))
    assert not np.array_equal(a, c)


def test_periodic_kgrams_are_low_information() -> None:
    table = normalize_lexemes(code_tokens("x = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']"))
    hashes = compute_kgram_hashes(table, 8)
    assert (hashes == LOW_INFORMATION).sum() >= len(hashes) - 4
    assert len(compute_fingerprints(np.full(20, LOW_INFORMATION), 4)) == 0


def test_reuse_distances_distinguish_structure() -> None:
    a = code_tokens("self.a = a")
    b = code_tokens("self.a = b")
    assert compute_reuse_distances(a).tolist()[-1] == 2
    assert compute_reuse_distances(b).tolist()[-1] > 1000
    h = [compute_kgram_hashes(normalize_lexemes(t), 5, reuse=compute_reuse_distances(t)) for t in (a, b)]
    assert h[0][0] != h[1][0]


def test_build_and_query_lex_identically() -> None:
    """The build lexes line by line; the query lexes the whole text: same lexeme stream."""
    for name in INDEXED + HELD_OUT:
        text = (STDLIB / name).read_text()
        per_line = [t for line in text.split("\n") for t in provenance_tokens(line)]
        assert per_line == [lx.text for lx in provenance_lexemes(text)]


def test_comment_words_are_lexemes_lower_cased_without_punctuation() -> None:
    """Issue 19: comments count for provenance, normalised (lower-cased words, no punctuation)."""
    text = "x = 1  # Set the DEFAULT, then retry!\ny = 2 // C-style: too\n"
    assert provenance_tokens(text) == (
        ["x", "=", "1", "#set", "#the", "#default", "#then", "#retry", "y", "=", "2", "#c", "#style", "#too"]
    )
    lexemes = provenance_lexemes(text)
    assert [lx.text for lx in lexemes] == provenance_tokens(text)
    assert [text[lx.start : lx.end] for lx in lexemes][3:6] == ["Set", "the", "DEFAULT"]
    # Code outside comments lexes exactly as the dedup lexer does; a comment of punctuation is empty.
    assert provenance_tokens("a = b  # ----\n") == code_tokens("a = b  # ----\n") == ["a", "=", "b"]


def test_comment_heavy_copies_are_found_and_comments_change_the_fingerprints() -> None:
    """Issue 19: a copied block of imports, constants and comments is reported (it was not when
    comments were dropped), and a reworded comment among renamed code still matches."""
    header = "".join(f"import module_{i}\n" for i in range(3))
    body = "".join(
        f"# Step {i}: the {w} value is read from the environment and validated before use.\nLIMIT_{i} = {i * 7}\n"
        for i, w in enumerate(["first", "second", "third", "fourth", "fifth", "sixth"])
    )
    original = header + body
    index = build_index([{"content": original, "repo": "r", "path": "consts.py", "licence": "MIT"}])
    [match] = index.query(body, header)
    assert match.path == "consts.py" and match.matched_lexemes >= 65
    code_only = "".join(line + "\n" for line in body.splitlines() if not line.startswith("#"))
    assert len(checked_lexemes(code_only)) < 65  # without its comments the copy is below threshold
    # Renamed constants, re-cased comments: still the same file.
    renamed = body.replace("LIMIT_", "MAX_").replace("Step", "STEP")
    assert [m.path for m in index.query(renamed, header)] == ["consts.py"]


def test_winnowing_guarantee() -> None:
    """Every window of `w` consecutive hashes contains a selected position (Schleimer et al.)."""
    rng = np.random.default_rng(0)
    for w in (1, 4, 8):
        hashes = rng.integers(0, 2**63, size=500, dtype=np.uint64)
        hashes[100:140] = 7  # a run of ties
        selected = set(compute_fingerprints(hashes, w).tolist())
        assert all(any(p in selected for p in range(i, i + w)) for i in range(len(hashes) - w + 1))
        assert len(selected) < len(hashes) * 2.5 / (w + 1) + 2


def test_verbatim_copy_is_found_with_repo_path_lines_licence(index) -> None:  # type: ignore[no-untyped-def]
    text = (STDLIB / "textwrap.py").read_text()
    lines = text.splitlines(keepends=True)
    before, completion = "".join(lines[:120]), "".join(lines[120:160])
    [match, *_] = index.query(completion, before)
    assert (match.repo, match.path, match.licence) == ("cpython", "Lib/textwrap.py", "GPL-3.0")
    # Lines 126-137 (`self.x = x` runs) are periodic, low-information k-grams: never indexed.
    assert 115 <= match.line_start <= 138 and 145 <= match.line_end <= 161
    assert match.matched_lexemes >= 65 and 0.5 <= match.similarity <= 1.0
    assert 0 <= match.start < match.end <= len(completion)


@pytest.mark.parametrize(
    "transform", [lambda s: s, rename_identifiers, reformat, lambda s: reformat(rename_identifiers(s))]
)
def test_modified_copies_are_found(index, transform) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(1)
    found = 0
    for name in INDEXED:
        for _ in range(4):
            before, completion = _snippet((STDLIB / name).read_text(), rng, 25)
            matches = index.query(transform(completion), transform(before))
            found += any(m.path == f"Lib/{name}" for m in matches)
    assert found == 20


def test_held_out_code_does_not_match(index) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(2)
    for name in HELD_OUT:
        for _ in range(10):
            before, completion = _snippet((STDLIB / name).read_text(), rng, 30)
            assert index.query(completion, before) == []


def test_threshold_and_context_are_respected(index) -> None:  # type: ignore[no-untyped-def]
    text = (STDLIB / "argparse.py").read_text()
    lines = text.splitlines(keepends=True)
    before, completion = "".join(lines[:300]), "".join(lines[300:340])
    best = index.query(completion, before)[0].matched_lexemes
    assert index.query(completion, before, min_match_lexemes=best + 1) == []
    # A copy that lies wholly in the context is the user's own code, not a regurgitation.
    assert index.query("\n\n", before + completion, context_chars=5000) == []


def test_short_or_empty_input() -> None:
    empty = build_index([])
    assert len(empty) == 0 and empty.query("x = 1\n" * 50) == []
    with pytest.raises(ValueError):
        IndexConfig(k=1)


def test_context_cut_inside_a_comment_checks_its_comment_words() -> None:
    """The 150-char cut often falls inside a `# comment`: its tail is comment words (as the
    indexer lexed them), not code lexemes."""
    before = "x = 1\n# This is converted into build_config during the meson build process.\n"
    cut = before.index("converted")
    lexemes = checked_lexemes("y = 2\n", before, context_chars=len(before) - cut)
    words = ["#converted", "#into", "#build_config", "#during", "#the", "#meson", "#build", "#process"]
    assert lexemes == [*words, "y", "=", "2"]
    # A cut in code keeps exactly the lexemes that start after it.
    assert checked_lexemes("z\n", "alpha = beta + gamma\n", context_chars=7) == ["gamma", "z"]
    assert checked_lexemes("z\n", "alpha = beta\n", context_chars=0) == ["z"]


def _siblings(n: int) -> list[dict[str, str]]:
    """n files that differ only in their names (generated code): identical once normalized."""
    text = "".join((STDLIB / "textwrap.py").read_text().splitlines(keepends=True)[120:220])
    names = sorted(set(_NAME_RE.findall(text)) - set(keyword.kwlist) - set(dir(builtins)) - {"self", "cls"})
    records = []
    for i in range(n):
        renamed = re.sub(r"\b(" + "|".join(map(re.escape, names)) + r")\b", lambda m, i=i: f"{m.group(0)}_{i}", text)
        records.append({"content": renamed, "repo": "gen", "path": f"gen_{i}.py", "licence": "MIT"})
    return records


@pytest.mark.parametrize("query_max_postings", [2000, 3])
def test_verbatim_copy_is_attributed_to_the_file_copied_among_renamed_siblings(query_max_postings: int) -> None:
    records = _siblings(8)
    index = build_index(records, IndexConfig(query_max_postings=query_max_postings))
    for target in (0, 5, 7):
        lines = records[target]["content"].splitlines(keepends=True)
        before, completion = "".join(lines[:40]), "".join(lines[40:70])
        matches = index.query(completion, before)
        assert matches and matches[0].path == f"gen_{target}.py"
    # A renamed copy matches all siblings alike (nothing tells them apart): still detected.
    renamed = index.query(rename_identifiers(completion), rename_identifiers(before))
    assert renamed and renamed[0].matched_lexemes >= 65 and renamed[0].path.startswith("gen_")


def test_hit_grouping_packed_sort_equals_lexsort_fallback() -> None:
    """The packed one-key sort and the 3-key lexsort fallback order the hits alike."""
    from codesieve.core.index import _group_by_diagonal

    rng = np.random.default_rng(3)
    n = 5000
    qpos = np.sort(rng.integers(0, 400, n))
    diag = rng.integers(-400, 3000, n)
    idx = np.arange(n) * 7
    for doc in (rng.integers(0, 50, n), rng.integers(0, 50, n) + (1 << 40)):  # the second forces the fallback
        d, new_group, q, i = _group_by_diagonal(doc, diag, qpos, idx)
        expected = np.lexsort((qpos, diag, doc))
        assert np.array_equal(q, qpos[expected]) and np.array_equal(i, idx[expected])
        assert np.array_equal(d, doc[expected])
        changed = (np.diff(doc[expected]) != 0) | (np.diff(diag[expected]) != 0)
        assert new_group[0] and np.array_equal(new_group[1:], changed)
