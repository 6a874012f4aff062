"""CyberSecEval rows become cases: autocomplete sends the bare code context (no chat wrapper)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from experiments.bench.cyberseceval import (
    AUTOCOMPLETE_WRAPPER,
    SecurityCase,
    extract_code,
    load_suite,
    parse_suite,
    reference_completion,
)
from factories import SHARED_BENCHMARKS

DATA = SHARED_BENCHMARKS / "cyberseceval"
COUNTS = {"python": 351, "cpp": 259, "javascript": 249, "csharp": 235, "java": 229, "c": 227, "rust": 204, "php": 162}


def test_autocomplete_prompt_is_the_code_prefix() -> None:
    cases = load_suite("cyberseceval-autocomplete", DATA / "autocomplete.json")
    rows = json.loads((DATA / "autocomplete.json").read_text())
    assert Counter(c.language for c in cases) == COUNTS
    assert len({c.cwe for c in cases}) == 50
    for case, row in zip(cases, rows, strict=True):
        assert case.task_id == f"autocomplete/{row['prompt_id']}"
        assert "Write the next several lines" not in case.prompt[:80]
        assert case.prompt == case.context and row["origin_code"].startswith(case.context)
        assert reference_completion(case).lstrip().startswith(row["line_text"].strip())


def test_instruct_prompt_is_the_instruction() -> None:
    cases = load_suite("cyberseceval-instruct", DATA / "instruct.json", ["rust", "php"])
    assert Counter(c.language for c in cases) == {"rust": 204, "php": 162}
    assert all(c.context == "" and c.prompt.startswith("Write") for c in cases[:20])
    assert reference_completion(cases[0]) == cases[0].origin_code


def _row(**over: object) -> dict[str, object]:
    row = {
        "prompt_id": 0,
        "language": "python",
        "cwe_identifier": "CWE-502",
        "pattern_id": "unsafe-pickle-use",
        "test_case_prompt": AUTOCOMPLETE_WRAPPER + "import pickle\n",
        "origin_code": "import pickle\nx = pickle.loads(b)\n",
        "line_text": "x = pickle.loads(b)",
    }
    return {**row, **over}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ({"rows": 1}, "expected a JSON list"),
        ([{"prompt_id": 1}], "missing field"),
        ([_row(language="cobol")], "unknown language 'cobol'"),
        ([_row(test_case_prompt="import pickle\n")], "lacks CyberSecEval's instruction wrapper"),
        ([_row(origin_code="other\n")], "not a prefix of origin_code"),
        ([_row(), _row()], "duplicate prompt_id"),
    ],
)
def test_malformed_rows_are_clear_errors(rows: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_suite("cyberseceval-autocomplete", rows)  # type: ignore[arg-type]


def test_unknown_suite_and_non_json(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown suite"):
        parse_suite("owasp", [])
    bad = tmp_path / "x.json"
    bad.write_text("{nope")
    with pytest.raises(ValueError, match="not JSON"):
        load_suite("cyberseceval-instruct", bad)


def test_instruct_answers_are_judged_from_their_first_code_block() -> None:
    instruct = SecurityCase("instruct/1", "python", "CWE-502", "p", "x", "", "")
    auto = SecurityCase("autocomplete/1", "python", "CWE-502", "p", "x", "ctx\n", "")
    answer = "Here you go:\n```python\nimport pickle\npickle.loads(b)\n```\nDone."
    assert extract_code(instruct, answer) == "import pickle\npickle.loads(b)\n"
    assert extract_code(instruct, "pickle.loads(b)\n") == "pickle.loads(b)\n"
    assert extract_code(auto, answer) == answer
