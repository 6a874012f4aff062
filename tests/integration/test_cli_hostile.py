"""Hostile command lines (issue 13): each one gets one error line on stderr and a non-zero exit.

Every case runs the real console entry point (`python -m codesieve.cli`) in a subprocess, and asserts:
exit status != 0, exactly one line on stderr, no traceback, and no output file left behind (not even
a half-written one). The cases refuse before any model is trained or any sample is generated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-pw"  # in the URLs below: no error line may echo it
UNREACHABLE_PG = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:1/nothing"
MALFORMED_DB = f"postgresql+psycopg://user:{PASSWORD}@host:notaport/db"


@dataclass(frozen=True)
class Case:
    """argv with placeholders: {tmp} (shared inputs), {out} (this case's own output path), {ro} (a
    directory nothing may be written to)."""

    id: str
    argv: tuple[str, ...]
    output: str | None = None  # a path (with placeholders) that must not exist afterwards
    message: str = ""  # a substring the error line must contain


def _samples(tmp: Path) -> Path:
    from codesieve.core.benchmarks import load_benchmark

    p = load_benchmark("humaneval").problems[0]
    path = tmp / "samples.jsonl"
    path.write_text(json.dumps({"task_id": p.task_id, "completion": p.canonical_solution}) + "\n")
    return path


def _records(tmp: Path) -> Path:
    path = tmp / "records.jsonl"
    row = {"id": "a", "repo": "r", "path": "a.py", "licence": "mit", "content": "def f():\n    return 1\n"}
    path.write_text(json.dumps(row) + "\n")
    return path


def _stars(tmp: Path, value: str) -> Path:
    path = tmp / f"stars-{value}.jsonl"
    path.write_text(
        '{"id": "a", "repo": "r", "path": "a.py", "content": "def f(): return 1", "stars": '
        + value
        + "}\n"
        + '{"id": "b", "repo": "r", "path": "b.py", "content": "def g(): return 2", "stars": 3}\n'
    )
    return path


def _broken_benchmark(tmp: Path) -> Path:
    path = tmp / "broken.jsonl"
    row = {
        "task_id": "Broken/0",
        "prompt": "def f(x:\n",  # does not compile, whatever the completion
        "test": "def check(candidate):\n    assert candidate(1) == 1\n",
        "entry_point": "f",
        "canonical_solution": "    return x\n",
    }
    path.write_text(json.dumps(row) + "\n")
    (tmp / "broken-samples.jsonl").write_text(
        json.dumps({"task_id": "Broken/0", "completion": "    return x\n"}) + "\n"
    )
    return path


RUN = ("eval", "run", "--benchmark", "humaneval", "--samples", "{tmp}/samples.jsonl", "--limit", "1")

CASES = [
    # dedup run: non-finite or huge numbers in the input, and an empty input
    *[
        Case(
            f"dedup-stars-{v}",
            ("dedup", "run", "-i", f"{{tmp}}/stars-{v}.jsonl", "-o", "{out}", "--no-progress"),
            "{out}",
            "stars",
        )
        for v in ("Infinity", "NaN", "1e300")
    ],
    Case(
        "dedup-empty",
        ("dedup", "run", "-i", "{tmp}/empty.jsonl", "-o", "{out}", "--no-progress"),
        "{out}",
        "no records",
    ),
    Case(
        "index-empty",
        ("index", "build", "--input", "{tmp}/empty.jsonl", "--output", "{out}", "--quiet"),
        "{out}",
        "no records",
    ),
    # --output where nothing can be written
    Case("eval-run-output-ro", (*RUN, "--output", "{ro}/run"), "{ro}/run", "{ro}/run"),
    Case("eval-run-output-under-file", (*RUN, "--output", "{tmp}/samples.jsonl/run"), None, "run"),
    Case(
        "eval-security-output-ro",
        ("eval", "security", "--samples", "{tmp}/samples.jsonl", "--output", "{ro}/sec"),
        "{ro}/sec",
    ),
    Case(
        "eval-contamination-output-ro",
        (
            "eval",
            "contamination",
            "--corpus",
            "{tmp}/records.jsonl",
            "--benchmark",
            "humaneval",
            "--output",
            "{ro}/c.json",
        ),
        "{ro}/c.json",
    ),
    Case(
        "telemetry-export-output-ro",
        ("telemetry", "export", "--db", "sqlite:///{tmp}/t.db", "--output", "{ro}/t.parquet"),
        "{ro}/t.parquet",
    ),
    Case(
        "train-tiny-model-output-ro",
        ("train", "tiny-model", "--preset", "test", "--output", "{ro}/model"),
        "{ro}/model",
    ),
    Case(
        "train-canaries-output-ro",
        ("train", "canaries", "--data", "{tmp}/records.jsonl", "--output", "{ro}/c.jsonl"),
        "{ro}/c.jsonl",
    ),
    # eval run: an endpoint nobody listens on, negative limits, a benchmark that cannot compile
    Case(
        "eval-run-endpoint-unreachable",
        (
            "eval",
            "run",
            "--benchmark",
            "humaneval",
            "--endpoint",
            "http://127.0.0.1:9",
            "--model",
            "m",
            "--limit",
            "1",
            "--output",
            "{out}",
        ),
        "{out}",
        "127.0.0.1:9",
    ),
    Case("eval-run-timeout-negative", (*RUN, "--timeout", "-1", "--output", "{out}"), "{out}", "--timeout"),
    Case("eval-run-workers-negative", (*RUN, "--workers", "-3", "--output", "{out}"), "{out}", "--workers"),
    Case(
        "eval-run-broken-benchmark",
        (
            "eval",
            "run",
            "--benchmark",
            "{tmp}/broken.jsonl",
            "--samples",
            "{tmp}/broken-samples.jsonl",
            "--output",
            "{out}",
        ),
        "{out}",
        "Broken/0",
    ),
    # --db unreachable or malformed
    *[
        Case(f"{'-'.join(cmd)}-db-{kind}", (*cmd, "--db", url), None, "database")
        for cmd in (
            ("telemetry", "migrate"),
            ("telemetry", "retention", "--days", "30"),
            ("keys", "list"),
            ("keys", "revoke", "1"),
        )
        for kind, url in (("unreachable", UNREACHABLE_PG), ("malformed", MALFORMED_DB))
    ],
    Case(
        "keys-create-db-missing-dir",
        ("keys", "create", "--user", "u", "--db", "sqlite:////nonexistent/dir/x.db"),
        "/nonexistent",
        "/nonexistent/dir",
    ),
    # serve: a malformed DB URL, a data dir nothing can be written to
    Case(
        "serve-db-malformed",
        ("serve", "--upstream", "http://127.0.0.1:9", "--db", MALFORMED_DB, "--data-dir", "{out}"),
        "{out}",
        "database",
    ),
    Case(
        "serve-data-dir-ro",
        ("serve", "--upstream", "http://127.0.0.1:9", "--data-dir", "{ro}/data"),
        "{ro}/data",
        "{ro}/data",
    ),
]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    _samples(tmp)
    _records(tmp)
    for v in ("Infinity", "NaN", "1e300"):
        _stars(tmp, v)
    (tmp / "empty.jsonl").write_text("")
    _broken_benchmark(tmp)
    return tmp


@pytest.fixture(scope="module")
def read_only_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory nobody may write into: mode 0555, or a sysfs path where we are root (root ignores modes)."""
    if os.geteuid() == 0:
        return Path("/sys/codesieve-read-only")
    ro = tmp_path_factory.mktemp("ro")
    ro.chmod(0o555)
    return ro


def _fill(text: str, tmp: Path, ro: Path, case_id: str) -> str:
    return text.replace("{tmp}", str(tmp)).replace("{ro}", str(ro)).replace("{out}", str(tmp / "out" / case_id))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_command_line_gets_one_error_line(case: Case, scratch: Path, read_only_dir: Path) -> None:
    argv = [_fill(a, scratch, read_only_dir, case.id) for a in case.argv]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESIEVE_")}
    env.update(PYTHONPATH=str(REPO), CODESIEVE_DATA_DIR=str(scratch / "default-data"), HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "codesieve.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=scratch,
        timeout=120,
    )
    assert proc.returncode != 0, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert PASSWORD not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    if case.message:
        assert _fill(case.message, scratch, read_only_dir, case.id) in lines[0]
    if case.output is not None:
        assert not Path(_fill(case.output, scratch, read_only_dir, case.id)).exists()
