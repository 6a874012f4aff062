"""Canaries for memorization audits (pure): secret generation, insertion plan, exposure.

Secret Sharer (Carlini et al. 2019): insert a random secret into the training data some number of
times; its exposure is log2|R| - log2(rank), where rank is the canary's position (1 = most likely)
among R candidate secrets of the same format under the model's log-perplexity. A model that has not
memorized the canary ranks it uniformly: the expected exposure is then ~ log2(e) ~ 1.44 bits.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

# The canary's surrounding code: a credential assignment, the kind of line a leak would expose.
CANARY_PREFIX = 'DEPLOY_TOKEN = "'
CANARY_SUFFIX = '"\n'
SECRET_ALPHABET = "0123456789abcdef"
SECRET_LENGTH = 8  # 16^8 ~ 4.3e9 possible secrets: guessing is hopeless without memorization
INSERTION_COUNTS: tuple[int, ...] = (1, 4, 16)


@dataclass(frozen=True)
class CanarySet:
    """Inserted canaries (secret -> times inserted) and reference secrets that were never inserted."""

    inserted: dict[str, int]
    references: tuple[str, ...]
    seed: int
    prefix: str = CANARY_PREFIX
    suffix: str = CANARY_SUFFIX
    insertion_counts: tuple[int, ...] = field(default=INSERTION_COUNTS)

    def text(self, secret: str) -> str:
        return f"{self.prefix}{secret}{self.suffix}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CanarySet:
        return cls(
            inserted=dict(raw["inserted"]),
            references=tuple(raw["references"]),
            seed=int(raw["seed"]),
            prefix=raw["prefix"],
            suffix=raw["suffix"],
            insertion_counts=tuple(raw["insertion_counts"]),
        )


def build_canaries(
    *, per_count: int, n_references: int, seed: int, insertion_counts: tuple[int, ...] = INSERTION_COUNTS
) -> CanarySet:
    """per_count canaries for each insertion count, and n_references distinct never-inserted secrets."""
    rng = np.random.default_rng(seed)
    total = per_count * len(insertion_counts) + n_references
    secrets: list[str] = []
    seen: set[str] = set()
    while len(secrets) < total:
        s = "".join(SECRET_ALPHABET[i] for i in rng.integers(0, len(SECRET_ALPHABET), SECRET_LENGTH))
        if s not in seen:
            seen.add(s)
            secrets.append(s)
    inserted = {}
    for k, count in enumerate(insertion_counts):
        for s in secrets[k * per_count : (k + 1) * per_count]:
            inserted[s] = count
    return CanarySet(
        inserted=inserted,
        references=tuple(secrets[len(inserted) :]),
        seed=seed,
        insertion_counts=tuple(insertion_counts),
    )


def compute_rank(canary_score: float, reference_scores: np.ndarray) -> int:
    """1 + the number of references strictly more likely (lower log-perplexity) than the canary."""
    return 1 + int(np.sum(reference_scores < canary_score))


def compute_exposure(rank: int, n_candidates: int) -> float:
    """Exposure in bits: log2(n_candidates) - log2(rank), n_candidates = |R| (canary included)."""
    if not 1 <= rank <= n_candidates:
        raise ValueError("rank must be in [1, n_candidates]")
    return math.log2(n_candidates) - math.log2(rank)


def canary_records(canaries: CanarySet) -> list[dict[str, Any]]:
    """The records to append to a corpus: each insertion is its own record (its own privacy unit)."""
    rows = []
    for i, (secret, count) in enumerate(sorted(canaries.inserted.items())):
        for j in range(count):
            rows.append(
                {
                    "id": f"canary-{i}-{j}",
                    "repo": f"canary/{i}-{j}",
                    "path": f"settings_{i}_{j}.py",
                    "content": canaries.text(secret),
                    "licence": "MIT",
                    "language": "Python",
                }
            )
    return rows
