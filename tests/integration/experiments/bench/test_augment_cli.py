"""Test augmentation end to end on a tiny MBPP-format benchmark: real sandbox, real reference runs.

`eval augment` writes EvalPlus-format tasks from the asserts' inputs; `eval run --tests FILE` and
`eval run --plus` judge with them: a sample that passes the base asserts but is wrong elsewhere fails,
the correct one passes, and inputs the reference raises on or answers differently twice are dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesieve.cli import build_app
from experiments.bench import wire

pytestmark = pytest.mark.integration

runner = CliRunner()

TASKS = [
    {  # the largest element; base asserts only use lists of 2-3 elements
        "task_id": 1,
        "text": "Write a function to find the largest number in a list.",
        "code": "def largest(xs):\n    return max(xs)\n",
        "test_list": ["assert largest([1, 5, 3]) == 5", "assert largest([7, 2]) == 7", "assert largest([4, 6]) == 6"],
        "test_setup_code": "",
        "challenge_test_list": [],
    },
    {  # the reference raises on 5 and answers at random on 3: those inputs must be dropped
        "task_id": 2,
        "text": "Write a function to invert a number.",
        "code": (
            "import random\n"
            "def inv(n):\n"
            "    if n == 3:\n"
            "        return random.random()\n"
            "    if n == 5:\n"
            "        raise ValueError(n)\n"
            "    return 12 // n\n"
        ),
        "test_list": ["assert inv(1) == 12", "assert inv(2) == 6", "assert inv(4) == 3"],
        "test_setup_code": "",
        "challenge_test_list": [],
    },
]
SAMPLES = [
    {"task_id": "MBPP/1", "completion": "def largest(xs):\n    return max(xs)\n"},
    # right on every base assert (the answer is among the first two), wrong on longer lists
    {"task_id": "MBPP/1", "completion": "def largest(xs):\n    return max(xs[:2]) if len(xs) < 3 else xs[1]\n"},
    {"task_id": "MBPP/2", "completion": "def inv(n):\n    return 12 // n\n"},
]


def _invoke(*args: str) -> object:
    return runner.invoke(build_app(), ["eval", *args])


def _verdicts(run: Path) -> list[bool]:
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    return [r["passed"] for r in sorted(rows, key=lambda r: (r["task_id"], r["sample_idx"]))]


def test_augment_then_judge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESIEVE_DATA_DIR", str(tmp_path / "data"))
    bench = tmp_path / "tiny.jsonl"
    bench.write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(s) + "\n" for s in SAMPLES))

    tests = tmp_path / "augmented.jsonl"
    args = ["augment", "--benchmark", str(bench), "--num-inputs", "20", "--seed", "3", "--workers", "2"]
    result = _invoke(*args, "--output", str(tests))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in tests.read_text().splitlines()]
    assert [r["task_id"] for r in rows] == ["MBPP/1", "MBPP/2"]
    largest, inv = ({k: [wire.decode_value(a) for a in r[k]] for k in ("base_input", "plus_input")} for r in rows)
    assert largest["base_input"] == [[[1, 5, 3]], [[7, 2]], [[4, 6]]]
    assert len(largest["plus_input"]) == 20
    assert all(
        type(args[0]) is list and args[0] and all(type(x) is int for x in args[0]) for args in largest["plus_input"]
    )
    assert any(len(args[0]) > 3 for args in largest["plus_input"])
    assert inv["plus_input"] and [5] not in inv["plus_input"] and [3] not in inv["plus_input"]
    assert rows[1]["augment"]["dropped"]["non-deterministic"] == 1
    assert rows[1]["augment"]["dropped"]["reference failed"] >= 1

    # the same seed gives the same file (here from the cache), another seed other inputs
    again = tmp_path / "again.jsonl"
    assert _invoke(*args, "--output", str(again)).exit_code == 0
    assert again.read_text() == tests.read_text()

    run = tmp_path / "run-tests"
    common = ["--benchmark", str(bench), "--samples", str(samples), "--workers", "2"]
    result = _invoke("run", *common, "--tests", str(tests), "--output", str(run))
    assert result.exit_code == 0, result.output
    assert _verdicts(run) == [True, False, True]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["pass_at_k_base"]["pass@1"] == 100.0  # the wrong sample passes the base inputs
    failure = next(f for f in summary["failures"] if f["task_id"] == "MBPP/1")
    assert failure["detail"].startswith("plus input #")

    run = tmp_path / "run-plus"
    result = _invoke("run", *common, "--plus", "--augment-inputs", "20", "--output", str(run))
    assert result.exit_code == 0, result.output
    assert _verdicts(run) == [True, False, True]


def test_augment_refuses_a_benchmark_without_base_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESIEVE_DATA_DIR", str(tmp_path / "data"))
    bench = tmp_path / "bad.jsonl"
    bench.write_text(json.dumps({**TASKS[0], "test_list": ["assert largest(xs) == 5"]}) + "\n")
    result = _invoke("augment", "--benchmark", str(bench), "--output", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 2
    assert "no literal base inputs" in result.output
    assert not (tmp_path / "out.jsonl").exists()


def test_run_refuses_tests_that_do_not_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODESIEVE_DATA_DIR", str(tmp_path / "data"))
    bench = tmp_path / "tiny.jsonl"
    bench.write_text(json.dumps(TASKS[0]) + "\n")
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps(SAMPLES[0]) + "\n")
    common = ["run", "--benchmark", str(bench), "--samples", str(samples), "--output", str(tmp_path / "run")]

    result = _invoke(*common, "--plus", "--tests", str(bench))
    assert result.exit_code == 2 and "at most one of --plus or --tests" in result.output

    result = _invoke(*common, "--tests", str(bench))  # MBPP rows: no base_input / plus_input
    assert result.exit_code == 2 and "not EvalPlus-format" in result.output

    other = tmp_path / "other.jsonl"
    row = {"task_id": "Other/1", "prompt": "", "entry_point": "f", "canonical_solution": "def f(x):\n    return x\n"}
    other.write_text(json.dumps({**row, "test": "", "base_input": [[1]], "plus_input": [], "atol": 0}) + "\n")
    result = _invoke(*common, "--tests", str(other))
    assert result.exit_code == 2 and "tasks not in" in result.output and "Other/1" in result.output
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_augment_drops_answers_outside_the_base_answers_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MBPP 807's shape: the reference answers -1 where there is no odd number, which no base assert
    asks about; those inputs (the empty list among them) are dropped, the others kept."""
    monkeypatch.setenv("CODESIEVE_DATA_DIR", str(tmp_path / "data"))
    task = {
        "task_id": 7,
        "text": "Write a function to find the first odd number in a list.",
        "code": "def first_odd(xs):\n    return next((x for x in xs if x % 2), -1)\n",
        "test_list": [
            "assert first_odd([1, 3, 5]) == 1",
            "assert first_odd([2, 4, 1, 3]) == 1",
            "assert first_odd([8, 9, 1]) == 9",
        ],
        "test_setup_code": "",
        "challenge_test_list": [],
    }
    bench = tmp_path / "odd.jsonl"
    bench.write_text(json.dumps(task) + "\n")
    tests = tmp_path / "augmented.jsonl"
    result = _invoke("augment", "--benchmark", str(bench), "--num-inputs", "30", "--seed", "1", "--output", str(tests))
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in tests.read_text().splitlines()]
    plus = [wire.decode_value(a) for a in row["plus_input"]]
    assert len(plus) >= 10
    assert all(any(x % 2 for x in xs) for (xs,) in plus)  # every kept list has an odd number
    assert row["augment"]["dropped"]["answer out of the base answers' range"] >= 1


def test_augment_keeps_an_mbpp_tasks_precondition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `contract` on an MBPP-format row (the per-task precondition hook) runs at the start of the
    tab-indented reference function: inputs it rejects are dropped, the others kept."""
    monkeypatch.setenv("CODESIEVE_DATA_DIR", str(tmp_path / "data"))
    task = {
        "task_id": 9,
        "text": "Write a function to divide 12 by a number that is not 3.",
        "code": "def inv(n):\r\n\treturn 12 // n\r\n",
        "contract": "    assert n != 3, 'invalid input'\n",
        "test_list": ["assert inv(1) == 12", "assert inv(2) == 6", "assert inv(4) == 3"],
        "test_setup_code": "",
        "challenge_test_list": [],
    }
    bench = tmp_path / "inv.jsonl"
    bench.write_text(json.dumps(task) + "\n")
    tests = tmp_path / "augmented.jsonl"
    result = _invoke("augment", "--benchmark", str(bench), "--num-inputs", "10", "--seed", "0", "--output", str(tests))
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in tests.read_text().splitlines()]
    plus = [wire.decode_value(a) for a in row["plus_input"]]
    assert len(plus) >= 5 and [3] not in plus
    assert row["augment"]["dropped"]["reference failed"] >= 1
    assert row["contract"] == task["contract"]
