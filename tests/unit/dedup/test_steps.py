"""Stage functions: short files, bucket edges, verification, keep rule, clusters."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from codesieve.core.minhash import build_hasher
from codesieve.core.records import CodeRecord, DocMeta
from codesieve.core.shingling import normalize_whitespace
from dedup.config import MinhashConfig
from dedup.steps import (
    bucket_edges,
    build_clusters,
    compute_exact_key,
    compute_exact_key_utf8,
    compute_jaccard,
    group_band_edges,
    pick_survivor,
    record_band_keys,
    sketch_record,
    verified_bucket_edges,
)

CFG = MinhashConfig()
HASHER = build_hasher(CFG)


def _record(content: str, idx: int = 0, **meta) -> CodeRecord:
    return CodeRecord.from_dict({"content": content, "id": f"d{idx}", **meta}, idx)


def _meta(idx: int, *, lic: str | None = None, stars: int = 0, doc_id: str | None = None, exact: str = "h") -> DocMeta:
    return DocMeta(idx, doc_id or f"d{idx}", exact, lic in ("MIT", "Apache-2.0"), stars, "python", 10)


def test_short_file_has_no_band_keys_but_an_exact_key() -> None:
    sketch = sketch_record(_record("x = 1"), CFG, HASHER)  # 3 lexemes < 5
    assert sketch.band_keys is None
    assert sketch.meta.exact_hash == compute_exact_key("x  =  1\n")
    assert record_band_keys(_record("x = 1"), CFG, HASHER) == []


def test_distinct_short_files_share_no_band_key() -> None:
    """Regression (issue 6): empty signatures must not put every short file in one bucket."""
    keys = [record_band_keys(_record(t, i), CFG, HASHER) for i, t in enumerate(["a", "b = 2", "}"])]
    assert keys == [[], [], []]


def test_file_at_shingle_size_gets_all_band_keys() -> None:
    keys = record_band_keys(_record("a = b + c", idx=7), CFG, HASHER)  # exactly 5 lexemes
    assert len(keys) == 25 and {k[2] for k in keys} == {7}
    assert [k[0] for k in keys] == list(range(25))


def test_exact_key_ignores_whitespace_only() -> None:
    assert compute_exact_key("def f():\n    return 1\n") == compute_exact_key("def  f():\n\treturn 1")
    assert compute_exact_key("return 1") != compute_exact_key("return 2")


def test_bucket_edges_star_to_minimum() -> None:
    assert bucket_edges([9, 4, 7, 4]) == [(4, 7), (4, 9)]
    assert bucket_edges([3]) == []


def test_group_band_edges_equals_bucket_edges_per_group() -> None:
    rng = np.random.default_rng(1)
    bands = rng.integers(0, 3, 300)
    keys = rng.integers(0, 20, 300)
    docs = rng.integers(0, 100, 300)
    src, dst = group_band_edges(bands, keys, docs)
    expected = set()
    for b, k in {(int(b), int(k)) for b, k in zip(bands, keys, strict=True)}:
        expected.update(bucket_edges(docs[(bands == b) & (keys == k)].tolist()))
    assert set(zip(src.tolist(), dst.tolist(), strict=True)) == expected


def test_compute_jaccard_golden() -> None:
    a = np.array([1, 2, 3, 4], dtype=np.uint32)
    b = np.array([3, 4, 5], dtype=np.uint32)
    assert compute_jaccard(a, b) == 2 / 5
    assert compute_jaccard(a[:0], b[:0]) == 0.0


def test_verified_bucket_edges_drops_dissimilar_members() -> None:
    base = np.arange(100, dtype=np.uint32)
    near = np.arange(5, 105, dtype=np.uint32)  # Jaccard 95/105 ~ 0.905
    other = np.arange(500, 600, dtype=np.uint32)
    edges = verified_bucket_edges([(3, near), (1, base), (2, other)], threshold=0.7)
    assert edges == [(1, 3)]


def test_keep_rule_permissive_then_stars_then_id() -> None:
    gpl_star = _meta(1, lic="GPL-3.0", stars=10_000)
    mit_few = _meta(2, lic="MIT", stars=1)
    mit_many = _meta(3, lic="Apache-2.0", stars=50)
    assert pick_survivor([gpl_star, mit_few, mit_many]) == mit_many
    assert pick_survivor([gpl_star, mit_few]) == mit_few
    tie_a, tie_b = _meta(8, doc_id="b"), _meta(9, doc_id="a")
    assert pick_survivor([tie_a, tie_b]) == tie_b


def test_build_clusters_labels_kind_and_survivor() -> None:
    metas = {i: _meta(i, exact="same") for i in (1, 2)} | {4: _meta(4, exact="x", lic="MIT"), 6: _meta(6, exact="y")}
    clusters = build_clusters({1: 1, 2: 1, 4: 4, 6: 4}, metas)
    assert [(c.cluster_id, c.kind, c.kept_index, c.member_indices) for c in clusters] == [
        (1, "exact", 1, (1, 2)),
        (4, "near", 4, (4, 6)),
    ]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2028\u3000é")), max_size=40))
def test_exact_key_normalisation_equals_shingling_normalize_whitespace(text: str) -> None:
    assert " ".join(text.split()) == normalize_whitespace(text)


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("ab \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2028\u3000é\U0001f600\ud800")), max_size=40
    )
)
def test_exact_key_on_bytes_equals_exact_key_on_text(text: str) -> None:
    """sketch_record keys the UTF-8 bytes; the key must be compute_exact_key's (lone surrogates too)."""
    assert compute_exact_key_utf8(text.encode("utf-8", "surrogatepass")) == compute_exact_key(text)
