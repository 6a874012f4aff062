"""Run plumbing without the sandbox: reading samples, the summary and its Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codesieve.core.benchmarks import Benchmark
from experiments.bench.generate import GenerationConfig
from experiments.bench.run import BenchConfig, build_summary, read_samples, render_markdown


def test_read_samples_numbers_rows_per_task_and_accepts_solution(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    rows = [{"task_id": "A", "completion": "x"}, {"task_id": "B", "solution": "y"}, {"task_id": "A", "completion": "z"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    samples = read_samples(path)
    assert [(s.task_id, s.sample_idx, s.completion) for s in samples] == [("A", 0, "x"), ("B", 0, "y"), ("A", 1, "z")]


def test_read_samples_rejects_rows_without_completion(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"task_id": "A"}) + "\n")
    with pytest.raises(ValueError, match="needs task_id and completion"):
        read_samples(path)


def test_summary_records_provenance_and_pass_at_k(tmp_path: Path) -> None:
    gen = GenerationConfig(endpoint="http://x", model="tiny", n=10, temperature=0.8, seed=3, api_key="secret")
    cfg = BenchConfig(benchmark="humaneval", output_dir=tmp_path, generation=gen)
    bench = Benchmark(name="humaneval", version="v1", source="src", problems=())
    rows = [
        {
            "task_id": t,
            "sample_idx": i,
            "passed": t == "A" and i < 5,
            "category": "passed" if t == "A" and i < 5 else "assertion",
        }
        for t in ("A", "B")
        for i in range(10)
    ]
    summary = build_summary(cfg, bench, rows)
    assert summary["pass_at_k"] == {"pass@1": 25.0, "pass@10": 50.0}
    assert summary["model"] == "tiny" and summary["seed"] == 3
    assert summary["sampling"] == {"n": 10, "temperature": 0.8, "top_p": 0.95, "max_tokens": 512}
    assert summary["benchmark"]["version"] == "v1" and summary["harness_version"]
    assert summary["per_task"] == {"A": {"n": 10, "passed": 5}, "B": {"n": 10, "passed": 0}}
    assert summary["categories"] == {"assertion": 15, "passed": 5}
    assert summary["failure_modes"] == {"wrong_answer": 15}
    assert summary["protocol_warnings"] == ["pass@100 not estimated: pass@k needs n >= k samples per task (n=10)"]
    assert summary["quick_signal"] is None
    markdown = render_markdown(summary)
    assert "> warning: pass@100 not estimated" in markdown
    assert "| pass@10 | 50.00 |" in markdown
    assert "secret" not in json.dumps(cfg.to_json())  # the API key never reaches disk


def test_broken_problems_names_benchmarks_that_cannot_compile() -> None:
    """Issue 13: a benchmark whose prompt and test do not compile scored 0% instead of being refused."""
    from codesieve.core.benchmarks import Problem, load_benchmark
    from experiments.bench.run import broken_problems

    ok = Problem("T/0", "def f(x):\n    '''doc'''\n", "def check(c):\n    assert c(1) == 1\n", "f")
    bad_prompt = Problem("T/1", "def f(x:\n", "def check(c):\n    assert c(1) == 1\n", "f")
    bad_solution = Problem(
        "T/2", "def f(x):\n    '''doc'''\n", "def check(c):\n    pass\n", "f", canonical_solution="    return (\n"
    )
    bad_script = Problem("T/3", '"""say"""\n', "assert f(1) ==\n", "f", test_style="script")
    other_language = Problem("T/4", "function f(", "}", "f", language="js", test_style="program")
    got = broken_problems([ok, bad_prompt, bad_solution, bad_script, other_language])
    assert [g.split(":")[0] for g in got] == ["T/1", "T/2", "T/3"]
    assert "its prompt and test do not compile" in got[0]
    assert "its prompt and reference solution do not compile" in got[1]
    assert "its test does not compile" in got[2]
    assert broken_problems(load_benchmark("humaneval").problems) == []
