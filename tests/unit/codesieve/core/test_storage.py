"""Record files: formats, atomic writes, input listing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from codesieve.core import storage

ROWS = [{"id": "a", "content": "x = 1", "stars": 1}, {"id": "b", "content": "y", "stars": None}]


def _write_inputs(tmp_path: Path) -> dict[str, Path]:
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in ROWS) + "\n")
    gz = tmp_path / "in.jsonl.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in ROWS))
    parquet = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    return {"jsonl": jsonl, "jsonl.gz": gz, "parquet": parquet}


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "parquet"])
def test_rewrite_keeps_format_and_routes(tmp_path: Path, fmt: str) -> None:
    src = _write_inputs(tmp_path)[fmt]
    outs = {"keep": tmp_path / "out" / f"k.{fmt}", "drop": tmp_path / "out" / f"d.{fmt}"}

    def route(row: int, raw: dict):
        return ("drop", {**raw, "why": "test"}) if row == 1 else ("keep", None)

    counts = storage.rewrite_records(src, outs, route, extra_columns={"drop": {"why": pa.string()}})
    assert counts == {"keep": 1, "drop": 1}
    assert storage.record_format(outs["keep"]) == fmt
    assert list(storage.iter_raw_records(outs["keep"])) == [ROWS[0]]
    assert list(storage.iter_raw_records(outs["drop"])) == [{**ROWS[1], "why": "test"}]
    assert sorted(p.name for p in outs["keep"].parent.iterdir()) == sorted(o.name for o in outs.values())


def test_kept_jsonl_lines_are_copied_byte_for_byte(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"content":"x",   "id":1}\n')
    out = tmp_path / "o.jsonl"
    storage.rewrite_records(src, {"k": out}, lambda row, raw: ("k", None))
    assert out.read_bytes() == src.read_bytes()


def test_failed_write_leaves_no_output(tmp_path: Path) -> None:
    src = _write_inputs(tmp_path)["jsonl"]
    out = tmp_path / "o" / "k.jsonl"

    def route(row: int, raw: dict):
        if row == 1:
            raise RuntimeError("crash mid-file")
        return "k", None

    with pytest.raises(RuntimeError):
        storage.rewrite_records(src, {"k": out}, route)
    assert list(out.parent.iterdir()) == []


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"content": "x"}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        list(storage.iter_raw_records(bad))


def test_list_input_files(tmp_path: Path) -> None:
    paths = _write_inputs(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    assert storage.list_input_files([tmp_path]) == sorted(paths.values())
    with pytest.raises(ValueError, match="unsupported"):
        storage.list_input_files([tmp_path / "notes.txt"])
    with pytest.raises(ValueError, match="no such"):
        storage.list_input_files([tmp_path / "missing.jsonl"])


def test_stage_markers(tmp_path: Path) -> None:
    stage = tmp_path / "edges"
    assert not storage.is_stage_done(stage)
    storage.mark_stage_done(stage, {"n": 1})
    assert storage.is_stage_done(stage)
    assert json.loads((stage / "_SUCCESS").read_text()) == {"n": 1}
