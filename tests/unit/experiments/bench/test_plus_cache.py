"""experiments.bench.plus_cache: the HumanEval+ reference cache file, written whole, read back or refused."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from experiments.bench.plus_cache import read_expected, read_header, write_entry

HEADER = {"base": {"index": [0, 2]}, "plus": {"index": [5]}}


def test_an_entry_reads_back_split_by_split(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "HumanEval_0.json.gz"
    write_entry(path, HEADER, [b"1", b'{"t":[]}', b"3.5"])
    assert read_header(path) == HEADER
    assert read_expected(path) == {"base": [b"1", b'{"t":[]}'], "plus": [b"3.5"]}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_a_truncated_or_damaged_entry_is_refused(tmp_path: Path) -> None:
    short = tmp_path / "short.json.gz"
    write_entry(short, HEADER, [b"1", b"2"])  # one expected output missing
    with pytest.raises(RuntimeError, match="truncated"):
        read_expected(short)
    broken = tmp_path / "broken.json.gz"
    with gzip.open(broken, "wb") as fh:
        fh.write(b"not json\n")
    with pytest.raises(RuntimeError, match="damaged reference cache"):
        read_expected(broken)
