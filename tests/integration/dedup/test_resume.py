"""Resume: a killed run restarts without redoing finished work, and ends with the same output."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codesieve.core import storage
from dedup.config import MinhashConfig
from dedup.runners.artifacts import InputChangedError
from dedup.runners.local import run_local

pytestmark = pytest.mark.integration

CODESIEVE = Path(sys.executable).with_name("codesieve")
OUTPUT_FILES = ("clusters.jsonl", "report.json")


def _snapshot(root: Path) -> dict[str, bytes]:
    files = {rel: (root / rel).read_bytes() for rel in OUTPUT_FILES}
    for folder in ("deduped", "removed"):
        for part in sorted((root / folder).glob("part-*")):
            files[f"{folder}/{part.name}"] = part.read_bytes()
    return files


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def test_killed_run_resumes_without_redoing_finished_parts(tmp_path, stdlib_corpus) -> None:
    inputs = tmp_path / "in"
    stdlib_corpus(inputs, n_files=12, per_file=8)
    reference = run_local(MinhashConfig(), [inputs], tmp_path / "ref", progress=False)

    out = tmp_path / "out"
    root = out / str(MinhashConfig())
    proc = subprocess.Popen(
        [str(CODESIEVE), "dedup", "run", "-i", str(inputs), "-o", str(out), "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first_part = root / "signatures" / "part-00000.parquet"
    deadline = time.monotonic() + 120
    while not first_part.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the run finished before it could be killed"
    assert not storage.is_stage_done(root / "signatures")
    done_parts = {p: _stat(p) for p in (root / "signatures").glob("part-*.parquet")}
    assert 1 <= len(done_parts) < 12

    resumed = run_local(MinhashConfig(), [inputs], out, progress=False)
    assert resumed.stages_run == ("signatures", "edges", "components", "filter")
    assert {p: _stat(p) for p in done_parts} == done_parts  # not rewritten
    assert _snapshot(root) == _snapshot(reference.layout.root)

    # a rerun after completion does nothing
    assert run_local(MinhashConfig(), [inputs], out, progress=False).stages_run == ()


def test_lost_later_stages_are_redone_and_earlier_ones_kept(tmp_path, corpus_small) -> None:
    first = run_local(MinhashConfig(), [corpus_small], tmp_path, progress=False)
    root = first.layout.root
    before = _snapshot(root)
    kept_stat = _stat(root / "edges" / "edges.parquet")
    (root / "components" / "_SUCCESS").unlink()
    (root / "deduped" / "_SUCCESS").unlink()
    (root / "clusters.jsonl").unlink()
    again = run_local(MinhashConfig(), [corpus_small], tmp_path, progress=False)
    assert again.stages_run == ("components", "filter")
    assert _stat(root / "edges" / "edges.parquet") == kept_stat
    assert _snapshot(root) == before


def test_changed_input_is_refused(tmp_path, corpus_small) -> None:
    run_local(MinhashConfig(), [corpus_small], tmp_path / "out", progress=False)
    changed = tmp_path / corpus_small.name
    changed.write_text(corpus_small.read_text() + '{"id": "new", "content": "print(42)"}\n')
    with pytest.raises(InputChangedError, match="new --output"):
        run_local(MinhashConfig(), [changed], tmp_path / "out", progress=False)
