"""MinhashConfig: every parameter of a dedup run, frozen, saved next to its outputs.

Defaults follow the issue: 5-lexeme shingles, 256 permutations, 25 bands x 10 rows.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any, Literal

__all__ = ["HASH_FUNCTIONS", "HashName", "MinhashConfig", "library_versions", "spark_worker_python"]

# Shingle hash functions, by the name stored in the config (and so in output paths).
#   sha1_32: the first 4 bytes of SHA-1, little-endian: datasketch's default `sha1_hash32`.
#   xxh32:   xxhash's XXH32 with seed 0: ~5x faster, same 32-bit range.
HashName = Literal["sha1_32", "xxh32"]
HASH_FUNCTIONS: tuple[str, ...] = ("sha1_32", "xxh32")


@dataclass(frozen=True)
class MinhashConfig:
    """Parameters of one dedup run (datatrove's MinhashConfig, plus the keep/verify options)."""

    # --- shingling: 5-lexeme shingles from codesieve.core.shingling (the default) ---
    ngram: int = 5
    # --- signatures: datasketch MinHash(num_perm, seed), scheme "affine32" (datasketch >= 2.0) ---
    num_perm: int = 256
    seed: int = 1
    hash_fn: HashName = "sha1_32"
    # --- LSH banding: 25 bands x 10 rows = 250 of the 256 values.
    # A pair with Jaccard s collides in at least one band with probability 1 - (1 - s^10)^25;
    # the S-curve's midpoint is (1/25)^(1/10) ~= 0.72, so pairs at 0.7 are found ~51% per pair,
    # at 0.8 ~94%, at 0.85 ~99.6% (connected components raise document-level recall further).
    bands: int = 25
    rows: int = 10
    # --- verification: with verify=True a candidate pair is kept only if the exact Jaccard of
    # the two shingle sets (32-bit shingle hashes) reaches `threshold` ---
    threshold: float = 0.7
    verify: bool = False

    def __post_init__(self) -> None:
        if self.ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {self.ngram}")
        if self.num_perm < 1:
            raise ValueError(f"num_perm must be >= 1, got {self.num_perm}")
        if self.bands < 1 or self.rows < 1:
            raise ValueError(f"bands and rows must be >= 1, got {self.bands}x{self.rows}")
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.hash_fn not in HASH_FUNCTIONS:
            raise ValueError(f"hash_fn must be one of {HASH_FUNCTIONS}, got {self.hash_fn!r}")

    def __str__(self) -> str:
        """A path-safe string naming every parameter that changes the result."""
        base = f"{self.ngram}ng_{self.num_perm}p_{self.bands}b{self.rows}r_seed{self.seed}_{self.hash_fn}"
        return f"{base}_verify{self.threshold:g}" if self.verify else base

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour fixes the output (saved with every artifact)."""
    versions = {"python": platform.python_version()}
    for name in ("codesieve", "datasketch", "numpy", "xxhash", "pyarrow"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def spark_worker_python() -> str:
    """The interpreter Spark's Python workers run: $PYSPARK_PYTHON, else this one.

    PySpark defaults to `python3` on PATH, which is not this virtual environment.
    """
    return os.environ.get("PYSPARK_PYTHON") or sys.executable
