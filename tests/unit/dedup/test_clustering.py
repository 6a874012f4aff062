"""Union-find and the Spark star operations agree on components (min id labels)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.clustering import (
    connected_components,
    large_star_map,
    large_star_reduce,
    small_star_map,
    small_star_reduce,
)


def _group(pairs):
    groups = defaultdict(list)
    for k, v in pairs:
        groups[k].append(v)
    return list(groups.items())


def _star_cc(edges: list[tuple[int, int]]) -> dict[int, int]:
    """The Spark runner's loop, with Python lists standing in for RDDs."""
    current = set(edges)
    while True:
        large = {e for g in _group([p for e in current for p in large_star_map(e)]) for e in large_star_reduce(g)}
        small = {e for g in _group([small_star_map(e) for e in large]) for e in small_star_reduce(g)}
        if small == current:
            break
        current = small
    out = dict(current)
    out.update({r: r for r in out.values()})
    return out


def test_union_find_golden() -> None:
    src = np.array([5, 2, 9, 7], dtype=np.int64)
    dst = np.array([3, 3, 8, 9], dtype=np.int64)
    assert connected_components(src, dst) == {5: 2, 3: 2, 2: 2, 9: 7, 8: 7, 7: 7}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=80))
def test_star_cc_equals_union_find(edges: list[tuple[int, int]]) -> None:
    edges = [(u, v) for u, v in edges if u != v] or [(0, 1)]
    src, dst = (np.array(x, dtype=np.int64) for x in zip(*edges, strict=True))
    assert _star_cc(edges) == connected_components(src, dst)
