"""LSH banding parameters: collision probability and the (bands, rows) choice for a threshold.

The optimum minimises the weighted false-positive and false-negative areas under the banding
S-curve, as datasketch's `_optimal_param` and bigcode's `optimal_param` do.
"""

from __future__ import annotations

import numpy as np

__all__ = ["collision_probability", "optimal_bands_rows", "s_curve_threshold"]

# integration points on [0, 1]: the curves are smooth, 2001 trapezoids are accurate to ~1e-7
_GRID = 2001


def collision_probability(jaccard: float | np.ndarray, bands: int, rows: int) -> np.ndarray:
    """P(a pair with Jaccard s shares at least one band) = 1 - (1 - s^rows)^bands."""
    s = np.asarray(jaccard, dtype=np.float64)
    return 1.0 - (1.0 - s**rows) ** bands


def s_curve_threshold(bands: int, rows: int) -> float:
    """The usual estimate of the S-curve's midpoint, (1/bands)^(1/rows); 25x10 gives ~0.7248."""
    return float((1.0 / bands) ** (1.0 / rows))


def _areas(threshold: float, bands: int, rows: int) -> tuple[float, float]:
    lo = np.linspace(0.0, threshold, _GRID)
    hi = np.linspace(threshold, 1.0, _GRID)
    false_pos = float(np.trapezoid(collision_probability(lo, bands, rows), lo))
    false_neg = float(np.trapezoid(1.0 - collision_probability(hi, bands, rows), hi))
    return false_pos, false_neg


def optimal_bands_rows(
    threshold: float,
    num_perm: int,
    *,
    false_positive_weight: float = 0.5,
    false_negative_weight: float = 0.5,
) -> tuple[int, int]:
    """The (bands, rows) with bands * rows <= num_perm minimising the weighted error areas.

    Args:
        threshold: Jaccard similarity above which a pair should be a candidate.
        num_perm: signature length.
    Returns:
        (bands, rows); ties go to the first found in (bands, rows) ascending order.

    >>> optimal_bands_rows(0.7, 256)
    (25, 10)
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    best, best_err = (1, 1), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp, fn = _areas(threshold, bands, rows)
            err = false_positive_weight * fp + false_negative_weight * fn
            if err < best_err:
                best, best_err = (bands, rows), err
    return best
