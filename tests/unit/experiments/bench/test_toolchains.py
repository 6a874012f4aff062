"""MultiPL-E program assembly: the completion marker lands after the last assert in every language."""

from __future__ import annotations

import pytest

from codesieve.core.benchmarks import MULTIPL_E_LANGUAGES, load_benchmark
from experiments.bench.toolchains import LANGUAGES, build_program, build_sh_sample

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


IN_PROCESS_LANGUAGES = [lang for lang in MULTIPL_E_LANGUAGES if LANGUAGES[lang].marker_at != "isolated"]


@pytest.mark.parametrize("language", IN_PROCESS_LANGUAGES)
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


def test_bash_tests_and_secret_never_reach_the_candidates_program() -> None:
    """Issue 13: a bash sample grepped the completion marker out of its own program and printed it."""
    problem = next(p for p in load_benchmark("humaneval-sh").problems if p.task_id == "HumanEval_53_add")
    secret = "f" * 64
    files, stdin = build_sh_sample(problem, "<COMPLETION>", secret)
    candidate = files["cand.sh"].decode()
    assert list(files) == ["cand.sh"]  # the tests are no file in the sandbox
    assert "<COMPLETION>" in candidate and "candidate() {" in candidate
    assert secret not in candidate and "run_test" not in candidate and "[[" not in candidate
    tests = stdin.decode()
    # one { } group (parsed whole before it runs), then the secret for its first `read`
    assert tests.startswith("{\nread -r __codesieve_secret") and tests.endswith("}\n" + secret + "\n")
    assert tests.rindex("run_test") < tests.index("printf '%s\\n' \"$__codesieve_secret\"")
    assert tests.count(secret) == 1
