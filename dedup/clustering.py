"""Connected components of the duplicate graph: local union-find, and large-/small-star for Spark.

Both label each component with its smallest node id, so the two engines agree exactly.
The star operations follow Kiveris et al., "Connected Components in MapReduce and Beyond" (2014),
as bigcode-dataset's near_deduplication Spark driver uses them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = [
    "connected_components",
    "large_star_map",
    "large_star_reduce",
    "small_star_map",
    "small_star_reduce",
]


def connected_components(src: np.ndarray, dst: np.ndarray) -> dict[int, int]:
    """Union-find over edges; every node that appears in an edge maps to its component's min id.

    Args:
        src, dst: (m,) int64 edge endpoints.
    Returns:
        {node: smallest node of its component} for every node in an edge (singletons are absent).
    """
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for u, v in zip(src.tolist(), dst.tolist(), strict=True):
        parent.setdefault(u, u)
        parent.setdefault(v, v)
        ru, rv = find(u), find(v)
        if ru != rv:
            # the smaller root wins, so the root of a component is always its minimum
            if ru < rv:
                parent[rv] = ru
            else:
                parent[ru] = rv
    return {node: find(node) for node in parent}


def large_star_map(edge: tuple[int, int]) -> list[tuple[int, int]]:
    """Emit an edge in both directions."""
    u, v = edge
    return [(u, v), (v, u)]


def large_star_reduce(group: tuple[int, Iterable[int]]) -> list[tuple[int, int]]:
    """Connect every strictly larger neighbour of u to the minimum of u's neighbourhood."""
    u, neighbours = group
    nodes = list(neighbours)
    smallest = min(min(nodes), u)
    return [(v, smallest) for v in nodes if v > u]


def small_star_map(edge: tuple[int, int]) -> tuple[int, int]:
    """Orient an edge from the larger to the smaller (or equal) node."""
    u, v = edge
    return (u, v) if v <= u else (v, u)


def small_star_reduce(group: tuple[int, Iterable[int]]) -> list[tuple[int, int]]:
    """Connect u and its smaller-or-equal neighbours to the minimum of that neighbourhood."""
    u, neighbours = group
    nodes = [u, *neighbours]
    smallest = min(nodes)
    return [(v, smallest) for v in nodes if v != smallest]
