"""`codesieve eval run` stops at once on Ctrl-C, keeps what it judged, and resumes from there (issue 13)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codesieve.core.benchmarks import load_benchmark

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[4]


def _eval_run(samples: Path, output: Path) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "codesieve.cli", "eval", "run", "--benchmark", "humaneval"]
    argv += ["--samples", str(samples), "--output", str(output), "--limit", "6", "--workers", "2"]
    argv += ["--timeout", "30"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_ctrl_c_stops_at_once_and_keeps_what_was_judged(tmp_path: Path) -> None:
    problems = load_benchmark("humaneval").problems[:6]
    samples = tmp_path / "samples.jsonl"
    # Two quick correct samples, then four that loop until their 30 s deadline.
    rows = [
        {"task_id": p.task_id, "completion": p.canonical_solution if i < 2 else "    while True:\n        pass\n"}
        for i, p in enumerate(problems)
    ]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    proc = _eval_run(samples, out)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not results.exists() or len(results.read_text().splitlines()) < 2):
        time.sleep(0.1)
    time.sleep(1.0)  # the looping samples are running now
    proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=10)  # not the 30 s the running samples had left
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("eval run did not stop on SIGINT")
    assert proc.returncode == 130
    assert stderr.count("\n") == 1 and stderr.startswith("error: interrupted: 2 judged samples kept in")
    kept = [json.loads(line) for line in results.read_text().splitlines()]  # whole rows only
    assert sorted(r["task_id"] for r in kept) == [p.task_id for p in problems[:2]]
    assert all(r["passed"] for r in kept)
    assert not (out / "summary.json").exists()
