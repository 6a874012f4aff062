"""MultiPL-E program assembly: the completion marker lands after the last assert in every language."""

from __future__ import annotations

import pytest

from experiments.bench.problems import MULTIPL_E_LANGUAGES, load_benchmark
from experiments.bench.toolchains import LANGUAGES, build_program

MARKER = "__codesieve_done_0123"
# The last test statement of HumanEval_53_add in each language, which must precede the marker.
LAST_ASSERT = {
    "js": "test();",
    "ts": "test();",
    "cpp": "assert(candidate((7), (5)) == (12));",
    "java": "assert(add((7l), (5l)) == (12l));",
    "rs": "assert_eq!(candidate(7, 5), 12);",
    "go": "func TestAdd(",
    "sh": "run_test",
    "pl": "testhumaneval();",
}


@pytest.mark.parametrize("language", MULTIPL_E_LANGUAGES)
def test_marker_follows_the_last_assert(language: str) -> None:
    problem = next(p for p in load_benchmark(f"humaneval-{language}").problems if p.task_id == "HumanEval_53_add")
    program = build_program(LANGUAGES[language], problem, "<COMPLETION>", MARKER)
    assert program.startswith(problem.prompt + "<COMPLETION>\n")
    assert program.count(MARKER) == 1
    assert program.rindex(LAST_ASSERT[language]) < program.index(MARKER)
    if LANGUAGES[language].marker_at != "end":
        # inside main(): at least one closing brace follows the marker
        assert "}" in program[program.index(MARKER) :]


def test_every_multipl_e_language_has_a_toolchain_spec() -> None:
    assert set(LANGUAGES) == set(MULTIPL_E_LANGUAGES)
