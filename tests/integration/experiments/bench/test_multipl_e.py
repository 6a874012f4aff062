"""MultiPL-E languages in the real sandbox with their real toolchains: hand-written solutions.

The data ships no reference solutions, so each language gets correct and incorrect completions of
two tasks (HumanEval_23_strlen, HumanEval_53_add) and one that exits with status 0 from inside the
function, which must not count as a pass (the completion marker is missing).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import pytest

from codesieve.core.benchmarks import load_benchmark
from experiments.bench.sandbox import SandboxConfig
from experiments.bench.toolchains import LANGUAGES, judge_multipl_e, missing_toolchains

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# language -> [(task id, completion, expected category)]. Completions stop where MultiPL-E's stop
# tokens stop them: cpp/java/rs/sh tests begin with the function's closing brace, the rest do not.
CASES: dict[str, list[tuple[str, str, str]]] = {
    "js": [
        ("HumanEval_23_strlen", "  return string.length;\n}\n", "passed"),
        ("HumanEval_53_add", "  return x + y;\n}\n", "passed"),
        ("HumanEval_53_add", "  return x * y;\n}\n", "assertion"),
        ("HumanEval_53_add", "  process.exit(0);\n}\n", "early_exit"),
    ],
    "ts": [
        ("HumanEval_23_strlen", "  return string.length;\n}\n", "passed"),
        ("HumanEval_53_add", "  return x + y;\n}\n", "passed"),
        ("HumanEval_53_add", "  return x - y;\n}\n", "assertion"),
        ("HumanEval_53_add", "  return x + undefinedName;\n}\n", "syntax_error"),
    ],
    "cpp": [
        ("HumanEval_23_strlen", "  return string.size();\n", "passed"),
        ("HumanEval_53_add", "  return x * y;\n", "assertion"),
        ("HumanEval_53_add", "  exit(0);\n", "early_exit"),
    ],
    "java": [
        ("HumanEval_23_strlen", "        return string.length();\n", "passed"),
        ("HumanEval_53_add", "        return x + y;\n", "passed"),
        ("HumanEval_53_add", "        return x * y;\n", "assertion"),
        ("HumanEval_53_add", "        System.exit(0); return 0l;\n", "early_exit"),
    ],
    "rs": [
        ("HumanEval_23_strlen", "    string.len() as isize\n", "passed"),
        ("HumanEval_53_add", "    x + y\n", "passed"),
        ("HumanEval_53_add", "    x * y\n", "assertion"),
        ("HumanEval_53_add", "    std::process::exit(0)\n", "early_exit"),
    ],
    "go": [
        ("HumanEval_23_strlen", "    return len(myString)\n}\n", "passed"),
        ("HumanEval_53_add", "    return x + y\n}\n", "passed"),
        ("HumanEval_53_add", "    return x * y\n}\n", "assertion"),
        ("HumanEval_53_add", "    return x +\n}\n", "syntax_error"),
    ],
    "sh": [
        ("HumanEval_23_strlen", '    echo -n "$1" | wc -c\n', "passed"),
        ("HumanEval_53_add", "    echo $(( $1 + $2 ))\n", "passed"),
        ("HumanEval_53_add", "    echo $(( $1 * $2 ))\n", "assertion"),
        # `exit 0` leaves only the $(...) subshell: the test sees empty output and fails.
        ("HumanEval_53_add", "    exit 0\n", "assertion"),
    ],
    "pl": [
        ("HumanEval_23_strlen", "    return length($string);\n}\n", "passed"),
        ("HumanEval_53_add", "    return $x + $y;\n}\n", "passed"),
        ("HumanEval_53_add", "    return $x * $y;\n}\n", "assertion"),
        ("HumanEval_53_add", "    exit 0;\n}\n", "early_exit"),
    ],
}


def _judge(args: tuple[str, str, str]) -> tuple[str, str]:
    language, task_id, completion = args
    bench = load_benchmark(f"humaneval-{language}")
    problem = next(p for p in bench.problems if p.task_id == task_id)
    verdict = judge_multipl_e(problem, completion, SandboxConfig())
    return verdict.category, verdict.detail


def test_every_language_has_its_toolchain() -> None:
    assert {lang: missing_toolchains(lang) for lang in LANGUAGES} == {lang: [] for lang in LANGUAGES}


def test_hand_written_solutions_are_judged_correctly_in_every_language() -> None:
    jobs = [(lang, task, completion) for lang, cases in CASES.items() for task, completion, _ in cases]
    expected = [category for cases in CASES.values() for _, _, category in cases]
    # The slow compilers (g++ with bits/stdc++.h, tsc, go test) first, two sandboxes at a time.
    order = sorted(range(len(jobs)), key=lambda i: jobs[i][0] not in ("cpp", "ts", "go"))
    with ProcessPoolExecutor(max_workers=2) as pool:
        got = dict(zip(order, pool.map(_judge, [jobs[i] for i in order]), strict=True))
    mismatches = [(jobs[i][:2], expected[i], got[i]) for i in range(len(jobs)) if got[i][0] != expected[i]]
    assert mismatches == []
