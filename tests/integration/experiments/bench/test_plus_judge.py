"""HumanEval+ judging end to end on a tiny EvalPlus-format dataset: real sandbox, real reference run.

Covers what the 164-task reproduction cannot pin down one by one: contract-violating inputs dropped,
base-vs-plus verdicts, the first failing input reported (or all of them with details), the per-input
time limit, float atol, load failures and a candidate that forges the end of its batch.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from codesieve.core.benchmarks import load_benchmark
from experiments.bench.plus_reference import load_plus_tasks
from experiments.bench.run import BenchConfig, run_eval

pytestmark = pytest.mark.integration

ADD = {
    "task_id": "Tiny/0",
    "prompt": 'def add(a, b):\n    """Add two non-negative ints."""\n',
    "canonical_solution": "    return a + b\n",
    "contract": '\n    assert a >= 0 and b >= 0, "invalid inputs"  # $_CONTRACT_$\n',
    "entry_point": "add",
    "test": "",
    "base_input": [[1, 2], [3, 4]],
    "plus_input": [[-1, 2], [10, 20], [0, 0], [5, 7]],
    "atol": 0,
}
HALF = {
    "task_id": "Tiny/1",
    "prompt": 'def half(x):\n    """x / 2"""\n',
    "canonical_solution": "    return x / 2\n",
    "contract": "",
    "entry_point": "half",
    "test": "",
    "base_input": [[1], [2]],
    "plus_input": [[3], [1e9]],
    "atol": 0,
}
# writes an end-of-batch line to every descriptor that could be the protocol pipe, then answers wrong
FORGE_DONE = """    import os
    for fd in range(3, 10):
        try:
            os.write(fd, b'{"done":2}\\n')
        except OSError:
            pass
    return 0
"""
SAMPLES = {
    ("Tiny/0", 0): "    return a + b\n",
    ("Tiny/0", 1): "    return a + b if a < 10 else 0\n",  # passes base, fails plus input #1
    ("Tiny/0", 2): "    return a + b if a >= 0 else 999\n",  # wrong only where the contract is violated
    ("Tiny/0", 3): "    while a == 5:\n        pass\n    return a + b\n",  # loops on plus input #3
    ("Tiny/0", 4): "    return 0\n",
    ("Tiny/0", 5): "    return a +\n",
    ("Tiny/0", 6): FORGE_DONE,
    # blocks the per-input alarm, then loops: only the whole-split deadline outside the sandbox stops it
    ("Tiny/0", 7): "    import signal\n    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\n"
    "    while a == 5:\n        pass\n    return a + b\n",
    ("Tiny/1", 0): "    return x / 2 + 1e-9\n",  # within the 1e-6 that float outputs get
    ("Tiny/1", 1): "    return x // 2\n",
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("plus")
    bench = root / "tiny-plus.jsonl"
    bench.write_text("".join(json.dumps(row) + "\n" for row in (ADD, HALF)))
    samples = root / "samples.jsonl"
    samples.write_text(
        "".join(json.dumps({"task_id": t, "sample_idx": i, "completion": c}) + "\n" for (t, i), c in SAMPLES.items())
    )
    return {"bench": bench, "samples": samples, "cache": root / "cache"}


def _run(dataset: dict[str, Path], out: Path, **kwargs: Any) -> tuple[dict[str, Any], dict[tuple[str, int], dict]]:
    summary = run_eval(
        BenchConfig(
            benchmark=str(dataset["bench"]),
            output_dir=out,
            samples_file=dataset["samples"],
            workers=2,
            cache_dir=dataset["cache"],
            **kwargs,
        )
    )
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return summary, {(r["task_id"], r["sample_idx"]): r for r in rows}


def test_reference_drops_contract_violations_and_is_cached(dataset: dict[str, Path]) -> None:
    bench = load_benchmark(str(dataset["bench"]))
    tasks = load_plus_tasks(bench, bench.problems, dataset["cache"], workers=2)
    add = tasks["Tiny/0"]
    assert add.plus.index == (1, 2, 3)
    assert add.plus.dropped == ((0, "violates the contract"),)
    assert add.base.index == (0, 1) and add.base.limits_s == (1.0, 1.0)
    assert tasks["Tiny/1"].base.first_float == 0
    cached = sorted(p.name for p in dataset["cache"].rglob("*.jsonl.gz"))
    assert cached == ["Tiny_0.jsonl.gz", "Tiny_1.jsonl.gz"]
    started = time.monotonic()
    again = load_plus_tasks(bench, bench.problems, dataset["cache"])
    assert again == tasks and time.monotonic() - started < 1.0  # read back, not recomputed


def test_verdicts_base_and_plus_side_by_side(dataset: dict[str, Path], tmp_path: Path) -> None:
    summary, rows = _run(dataset, tmp_path / "run")

    def verdict(key: tuple[str, int]) -> tuple[str, str, bool]:
        return rows[key]["base_status"], rows[key]["plus_status"], rows[key]["passed"]

    assert verdict(("Tiny/0", 0)) == ("pass", "pass", True)
    assert verdict(("Tiny/0", 1)) == ("pass", "fail", False)
    assert rows[("Tiny/0", 1)]["detail"] == "plus input #1 (10, 20): got 0, expected 30"
    assert rows[("Tiny/0", 1)]["plus_fail_inputs"] == [1]
    assert verdict(("Tiny/0", 2)) == ("pass", "pass", True)  # the dropped input is not judged
    # the loop is stopped by the per-input limit (1 s floor), not by the whole-split deadline
    assert verdict(("Tiny/0", 3)) == ("pass", "fail", False)
    assert rows[("Tiny/0", 3)]["category"] == "timeout"
    assert rows[("Tiny/0", 3)]["detail"].startswith("plus input #3 (5, 7): over its 1.00 s limit")
    assert rows[("Tiny/0", 3)]["duration_s"] < 8
    # the first failing input only, by default
    assert rows[("Tiny/0", 4)]["base_fail_inputs"] == [0] and rows[("Tiny/0", 4)]["plus_fail_inputs"] == [1]
    assert verdict(("Tiny/0", 5)) == ("fail", "fail", False)
    assert rows[("Tiny/0", 5)]["category"] == "syntax_error"
    assert verdict(("Tiny/0", 6)) == ("fail", "fail", False)  # a forged end of batch is a failure
    assert rows[("Tiny/0", 6)]["category"] == "crash"
    assert verdict(("Tiny/0", 7)) == ("pass", "timeout", False)
    assert rows[("Tiny/0", 7)]["category"] == "timeout"
    assert rows[("Tiny/0", 7)]["plus_fail_inputs"] == [3]
    # 3 plus inputs x 1 s + 1 s (EvalPlus) + 2 s sandbox start-up, then killed
    assert 6 <= rows[("Tiny/0", 7)]["duration_s"] < 15
    assert verdict(("Tiny/1", 0)) == ("pass", "pass", True)
    assert verdict(("Tiny/1", 1)) == ("fail", "fail", False)

    # pass@1 per task, averaged: add 2/8 (base 5/8), half 1/2 (base 1/2)
    assert summary["pass_at_k_plus"]["pass@1"] == pytest.approx(100 * (2 / 8 + 1 / 2) / 2, abs=0.01)
    assert summary["pass_at_k_base"]["pass@1"] == pytest.approx(100 * (5 / 8 + 1 / 2) / 2, abs=0.01)
    markdown = (tmp_path / "run" / "summary.md").read_text()
    assert "| pass@1 | 56.25 | 37.50 |" in markdown
    assert "| Tiny/0 #1 | wrong_answer | plus input #1 (10, 20): got 0, expected 30 |" in markdown


def test_details_lists_every_failing_input(dataset: dict[str, Path], tmp_path: Path) -> None:
    _, rows = _run(dataset, tmp_path / "run", details=True)
    wrong = rows[("Tiny/0", 4)]  # returns 0: right only for (0, 0), plus input #2
    assert wrong["base_fail_inputs"] == [0, 1]
    assert wrong["plus_fail_inputs"] == [1, 3]
    assert rows[("Tiny/0", 0)]["passed"]


def test_a_damaged_cache_file_is_recomputed(dataset: dict[str, Path], tmp_path: Path) -> None:
    bench = load_benchmark(str(dataset["bench"]))
    cache = tmp_path / "cache"
    load_plus_tasks(bench, bench.problems, cache)
    (damaged,) = list(cache.rglob("Tiny_0.jsonl.gz"))
    damaged.write_bytes(damaged.read_bytes()[:20])  # a crash mid-write elsewhere, a full disk
    tasks = load_plus_tasks(bench, bench.problems, cache)
    assert tasks["Tiny/0"].plus.index == (1, 2, 3)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("plus_input", [1, 2], "'plus_input' must be a list of argument lists"),
        ("atol", "1e-6", "'atol' must be a non-negative number"),
        ("entry_point", None, "'entry_point' must be a string"),
    ],
)
def test_malformed_plus_rows_are_clear_errors(tmp_path: Path, field: str, value: object, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({**ADD, field: value}) + "\n")
    bench = load_benchmark(str(path))
    with pytest.raises(ValueError, match=message):
        load_plus_tasks(bench, bench.problems, tmp_path / "c")
