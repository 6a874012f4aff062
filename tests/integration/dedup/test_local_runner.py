"""Local runner on real files: planted duplicates, short files, determinism, formats, verify."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from codesieve.core.minhash import build_hasher
from codesieve.core.records import CodeRecord
from dedup.config import MinhashConfig
from dedup.runners.local import run_local
from dedup.steps import compute_exact_key, pick_survivor, sketch_record

pytestmark = pytest.mark.integration


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _ids(folder: Path) -> set[str]:
    out = set()
    for part in sorted(folder.glob("part-*")):
        if part.name.endswith(".parquet"):
            out |= {r["id"] for r in pq.read_table(part).to_pylist()}
        else:
            opener = gzip.open if part.name.endswith(".gz") else open
            with opener(part, "rt") as fh:
                out |= {json.loads(line)["id"] for line in fh if line.strip()}
    return out


def _clusters(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "clusters.jsonl").read_text().splitlines()]


def test_planted_duplicates_are_removed_and_short_files_only_exact(tmp_path, corpus_small) -> None:
    result = run_local(MinhashConfig(), [corpus_small], tmp_path, progress=False)
    clusters = _clusters(result.layout.root)
    pairs = {frozenset(c["member_ids"]) for c in clusters}
    planted = {frozenset({f"base-{i:02d}", f"exact-{j}"}) for j, i in enumerate((1, 4, 7))} | {
        frozenset({f"base-{i:02d}", f"near-{j}"}) for j, i in enumerate((2, 5, 8, 11, 14, 17))
    }
    # the only short-file cluster is the identical pair "x = 1"
    assert pairs == planted | {frozenset({"short-0", "short-2"})}
    kinds = {frozenset(c["member_ids"]): c["kind"] for c in clusters}
    assert kinds[frozenset({"short-0", "short-2"})] == "exact"
    assert kinds[frozenset({"base-02", "near-0"})] == "near"
    # the keep rule, recomputed from the records themselves
    by_id = {r["id"]: CodeRecord.from_dict(r, i) for i, r in enumerate(_records(corpus_small))}
    hasher = build_hasher(MinhashConfig())
    for c in clusters:
        metas = [sketch_record(by_id[m], MinhashConfig(), hasher).meta for m in c["member_ids"]]
        assert c["kept_id"] == pick_survivor(metas).doc_id
    kept = _ids(result.layout.deduped)
    removed = _ids(result.layout.removed)
    assert len(kept) == 35 and len(removed) == 10 and not kept & removed
    assert {"short-1", "short-3", "short-4", "short-5"} <= kept
    removed_rows = _records(next(result.layout.removed.glob("part-*")))
    assert all(isinstance(r["dedup_cluster_id"], int) and r["dedup_kind"] in ("exact", "near") for r in removed_rows)
    report = result.report
    assert report["totals"]["removed_exact_docs"] == 4 and report["totals"]["removed_near_docs"] == 6
    assert report["input_fingerprint"] and report["parameters"]["bands"] == 25


def test_runs_are_deterministic_byte_for_byte(tmp_path, corpus_small) -> None:
    a = run_local(MinhashConfig(), [corpus_small], tmp_path / "a", progress=False).layout.root
    b = run_local(MinhashConfig(), [corpus_small], tmp_path / "b", progress=False).layout.root
    for rel in ("clusters.jsonl", "deduped/part-00000-corpus_small.jsonl", "removed/part-00000-corpus_small.jsonl"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    ra, rb = (json.loads((r / "report.json").read_text()) for r in (a, b))
    assert ra == rb


def test_parquet_and_gzip_inputs_keep_the_same_records(tmp_path, corpus_small) -> None:
    rows = _records(corpus_small)
    gz = tmp_path / "in" / "corpus.jsonl.gz"
    gz.parent.mkdir()
    with gzip.open(gz, "wt") as fh:
        fh.write(corpus_small.read_text())
    parquet = tmp_path / "in2" / "corpus.parquet"
    parquet.parent.mkdir()
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    kept = {}
    for name, path in (("jsonl", corpus_small), ("gz", gz), ("parquet", parquet)):
        layout = run_local(MinhashConfig(), [path], tmp_path / name, progress=False).layout
        kept[name] = _ids(layout.deduped)
        out = next(layout.deduped.glob("part-*"))
        assert out.name.endswith(path.name)  # same format as the input
    assert kept["jsonl"] == kept["gz"] == kept["parquet"] and len(kept["jsonl"]) == 35


def test_verify_keeps_true_duplicates(tmp_path, corpus_small) -> None:
    result = run_local(MinhashConfig(verify=True), [corpus_small], tmp_path, progress=False)
    assert result.layout.root.name.endswith("_verify0.7")
    assert result.report["totals"]["removed_near_docs"] == 6


def test_unrelated_real_files_are_not_clustered(tmp_path, stdlib_corpus) -> None:
    files = stdlib_corpus(tmp_path / "in", n_files=2, per_file=15)
    result = run_local(MinhashConfig(), files, tmp_path / "out", progress=False)
    assert result.report["totals"]["kept_docs"] == 30
    # a process pool over the two files gives byte-identical outputs
    pooled = run_local(MinhashConfig(), files, tmp_path / "pooled", workers=2, progress=False)
    for rel in ("clusters.jsonl", "deduped/part-00001-shard-001.jsonl"):
        assert (result.layout.root / rel).read_bytes() == (pooled.layout.root / rel).read_bytes()
    # and one planted whitespace/identifier-edited copy is caught
    extra = tmp_path / "in2"
    shutil.copytree(tmp_path / "in", extra)
    first = json.loads(files[0].read_text().splitlines()[3])
    copy = {**first, "path": "copy.py", "content": first["content"].replace("self", "this", 3)}
    with open(extra / "shard-999.jsonl", "w") as fh:
        fh.write(json.dumps(copy) + "\n")
    result = run_local(MinhashConfig(), [extra], tmp_path / "out2", progress=False)
    assert result.report["totals"]["removed_near_docs"] == 1
    assert compute_exact_key(copy["content"]) != compute_exact_key(first["content"])
