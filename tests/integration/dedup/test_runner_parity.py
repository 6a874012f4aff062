"""Spark local[2] and the local runner keep exactly the same records (STYLE 2.7 parity test)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from dedup.config import MinhashConfig
from dedup.runners.local import run_local
from dedup.runners.spark import run_spark

pytestmark = [pytest.mark.integration, pytest.mark.spark]


def _remove_ids(root) -> set[int]:
    return set(pq.read_table(root / "remove_ids").column("doc_index").to_pylist())


@pytest.mark.parametrize("verify", [False, True], ids=["lsh", "verify"])
def test_spark_and_local_keep_the_same_records(tmp_path, corpus_small, spark_session, verify) -> None:
    cfg = MinhashConfig(verify=verify)
    local = run_local(cfg, [corpus_small], tmp_path / "local", progress=False).layout.root
    spark = run_spark(cfg, [corpus_small], tmp_path / "spark", spark=spark_session).layout.root
    assert _remove_ids(local) == _remove_ids(spark) and len(_remove_ids(local)) == 10
    assert (local / "clusters.jsonl").read_bytes() == (spark / "clusters.jsonl").read_bytes()
    name = "part-00000-corpus_small.jsonl"
    for folder in ("deduped", "removed"):
        assert (local / folder / name).read_bytes() == (spark / folder / name).read_bytes()
    report = json.loads((spark / "report.json").read_text())
    assert report["engine"] == "spark"
    assert report["totals"] == json.loads((local / "report.json").read_text())["totals"]
