"""Dedup integration fixtures: one Spark local[2] session per test session, real code corpora."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[2] / "fixtures" / "dedup"


@pytest.fixture(scope="session")
def spark_session() -> Iterator[object]:
    """Spark in local mode, 2 cores, 2 shuffle partitions, UI off (started once: ~10-30 s)."""
    from dedup.runners.spark import build_spark_session

    spark = build_spark_session("local[2]", shuffle_partitions=2)
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


@pytest.fixture()
def corpus_small() -> Path:
    return FIXTURES / "corpus_small.jsonl"


@pytest.fixture()
def stdlib_corpus() -> object:
    """The `write_stdlib_corpus` function (fixtures cannot take arguments)."""
    return write_stdlib_corpus


def write_stdlib_corpus(folder: Path, *, n_files: int, per_file: int) -> list[Path]:
    """Real code: this interpreter's standard-library modules, `per_file` per JSONL file."""
    sources = sorted(Path(os.__file__).parent.glob("*.py"))[: n_files * per_file]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in range(n_files):
        path = folder / f"shard-{f:03d}.jsonl"
        chunk = sources[f * per_file : (f + 1) * per_file]
        path.write_text(
            "".join(
                json.dumps(
                    {
                        "repo": "cpython",
                        "path": p.name,
                        "licence": "PSF-2.0",
                        "language": "python",
                        "content": p.read_text(errors="replace"),
                    }
                )
                + "\n"
                for p in chunk
            )
        )
        paths.append(path)
    return paths
