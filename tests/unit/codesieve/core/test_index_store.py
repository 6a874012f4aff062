"""codesieve.core.index_store: build -> save -> load round trip, file format checks, corpus readers."""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from codesieve.core.index import IndexConfig
from codesieve.core.index_store import (
    IndexFormatError,
    build_index,
    load_index,
    read_corpus_records,
    save_index,
    warm_index,
)

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def _records() -> list[dict[str, str]]:
    return [
        {"content": (STDLIB / name).read_text(), "repo": f"org/{name}", "path": f"src/{name}", "licence": lic}
        for name, lic in (("textwrap.py", "MIT"), ("shlex.py", "GPL-2.0"), ("fractions.py", None))
    ]


def test_round_trip_memory_maps_and_answers_identically(tmp_path: Path) -> None:
    index = build_index(_records(), IndexConfig(k=10, window=6))
    target = save_index(index, tmp_path / "idx")
    loaded = load_index(target)
    assert isinstance(loaded.hashes, np.memmap) and not loaded.hashes.flags.writeable
    assert loaded.config == IndexConfig(k=10, window=6)
    assert loaded.docs.licences == ["MIT", "GPL-2.0", "unknown"]
    assert np.array_equal(loaded.hashes, index.hashes) and np.all(np.diff(loaded.hashes.astype(np.float64)) >= 0)
    text = (STDLIB / "shlex.py").read_text()
    before, completion = text[:5000], text[5000:6500]
    assert loaded.query(completion, before) == index.query(completion, before)
    assert loaded.query(completion, before)[0].repo == "org/shlex.py"


def test_warm_index_pages_in_every_array_and_changes_no_answer(tmp_path: Path) -> None:
    index = build_index(_records(), IndexConfig(k=10, window=6))
    loaded = load_index(save_index(index, tmp_path / "idx"))
    text = (STDLIB / "textwrap.py").read_text()
    before = loaded.query(text[3000:4500], text[:3000])
    total = sum(getattr(loaded, n).nbytes for n in ("hashes", "doc_ids", "positions", "lines"))
    assert warm_index(loaded) == total > 0
    assert loaded.query(text[3000:4500], text[:3000]) == before


def test_save_replaces_atomically_and_leaves_no_temp_dirs(tmp_path: Path) -> None:
    save_index(build_index(_records()[:1]), tmp_path / "idx")
    save_index(build_index(_records()), tmp_path / "idx")
    assert len(load_index(tmp_path / "idx").docs.paths) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_bad_index_directories_raise_index_format_error(tmp_path: Path) -> None:
    with pytest.raises(IndexFormatError, match="not a readable"):
        load_index(tmp_path / "missing")
    target = save_index(build_index(_records()), tmp_path / "idx")
    meta = json.loads((target / "config.json").read_text())
    (target / "config.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(IndexFormatError, match="unsupported index format"):
        load_index(target)
    # Format 1 (plain hashes, before the raw tags) and 2 (comments not fingerprinted, issue 19):
    # refused with the way out, not misread.
    for old in (1, 2):
        (target / "config.json").write_text(json.dumps({**meta, "format_version": old}))
        with pytest.raises(IndexFormatError, match=rf"format {old} .*reads format 3.*codesieve index build"):
            load_index(target)
    (target / "config.json").write_text(json.dumps({**meta, "fingerprints": 1}))
    with pytest.raises(IndexFormatError, match="inconsistent"):
        load_index(target)
    (target / "config.json").write_text(json.dumps({**meta, "docs": 7}))
    with pytest.raises(IndexFormatError, match="docs.json is inconsistent"):
        load_index(target)


def test_boilerplate_fingerprints_are_dropped() -> None:
    record = {"content": "x = 1\n", "repo": "r", "path": "p", "licence": "MIT"}
    same = [dict(record, content=(STDLIB / "textwrap.py").read_text(), path=str(i)) for i in range(4)]
    full = build_index(same, IndexConfig(max_postings=10))
    capped = build_index(same, IndexConfig(max_postings=3))
    assert len(full) > 0 and len(capped) == 0


_LICENCE_HEADER = "".join(
    f"# {line}\n"
    for line in (
        "Licensed under the Apache License, Version 2.0 (the License); you may not use this",
        "file except in compliance with the License. You may obtain a copy of the License at",
        "http://www.apache.org/licenses/LICENSE-2.0 Unless required by applicable law or agreed",
        "to in writing, software distributed under the License is distributed on an AS IS BASIS.",
    )
)


def test_stop_fingerprints_drop_text_shared_by_more_than_max_repos_repos() -> None:
    """Issue 19: comments count, so a licence header in many repos must not match everything;
    a fingerprint in more than max_repos distinct repos is dropped, one repo's own text is kept."""
    bodies = [(STDLIB / n).read_text() for n in ("textwrap.py", "shlex.py", "fractions.py", "pprint.py")]
    records = [
        {"content": _LICENCE_HEADER + body, "repo": f"org{i}", "path": "m.py", "licence": "Apache-2.0"}
        for i, body in enumerate(bodies)
    ]
    query = _LICENCE_HEADER + "\n"
    assert len(build_index(records, IndexConfig(max_repos=0)).query(query, min_match_lexemes=40)) == 4
    stopped = build_index(records, IndexConfig(max_repos=3))
    assert stopped.query(query, min_match_lexemes=40) == []
    # The same header repeated in one repo's many files is that repo's text: not a stop-fingerprint.
    one_repo = [dict(r, repo="org") for r in records]
    assert len(build_index(one_repo, IndexConfig(max_repos=3)).query(query, min_match_lexemes=40)) == 4
    # Each file's own code is still found.
    text = bodies[1]
    assert stopped.query(text[3000:4500], text[:3000])[0].repo == "org1"
    with pytest.raises(ValueError):
        IndexConfig(max_repos=-1)


def test_corpus_readers_jsonl_and_parquet(tmp_path: Path) -> None:
    records = _records()
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist(records), parquet)
    assert list(read_corpus_records(jsonl)) == records
    assert list(read_corpus_records(parquet)) == records
    (tmp_path / "bad.jsonl").write_text('{"content": 1\n')
    with pytest.raises(IndexFormatError, match="bad.jsonl:1"):
        list(read_corpus_records(tmp_path / "bad.jsonl"))
    with pytest.raises(IndexFormatError, match="jsonl or .parquet"):
        list(read_corpus_records(tmp_path / "c.csv"))
    with pytest.raises(IndexFormatError, match="record 0"):
        build_index([{"content": "x", "repo": "r"}])


def test_parallel_build_equals_serial() -> None:
    serial = build_index(_records())
    parallel = build_index(_records(), workers=2)
    assert np.array_equal(serial.hashes, parallel.hashes)
    assert np.array_equal(serial.doc_ids, parallel.doc_ids)
