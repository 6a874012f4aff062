"""The tasks file: one JSON line per RepoTask, as `eval repo mine` writes and `eval repo run` reads.

A task is one function of the repository: the file's text before the body (`prefix`) and after it
(`suffix`), the original body (`canonical_solution`, the reference a model is not shown), the
cross-file `context`, and the `oracle`: the pytest node ids that pass with the original body and
fail without it. Every task carries the repository's path, version and test command.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from codesieve.core.benchmarks import Problem, read_jsonl

__all__ = ["RepoTask", "as_problems", "read_tasks", "tasks_jsonl"]


@dataclass(frozen=True)
class RepoTask:
    task_id: str  # "<path>::<qualname>"
    path: str  # file, relative to the repository
    qualname: str
    prefix: str
    suffix: str
    canonical_solution: str  # the original body (whole lines)
    indent: str  # the body's indentation
    def_line: int  # 1-based line of the function's `def` (decorators excluded)
    body_start: int  # 1-based line of the body's first line in the original file
    body_end: int
    context: str  # signatures imported from other files (context.py)
    oracle: tuple[str, ...]  # pytest node ids
    oracle_time_s: float  # their summed duration at HEAD
    repo: str  # absolute path at mining time
    repo_version: str
    test_args: tuple[str, ...]  # pytest arguments of the test command (without node ids)

    @property
    def function_source(self) -> str:
        """The whole function as in the repository: what decontamination looks for."""
        lines = self.prefix.splitlines(keepends=True)
        return "".join(lines[self.def_line - 1 :]) + self.canonical_solution

    def to_json(self) -> dict[str, Any]:
        """The task's fields, and `function` (the whole function) for `dedup decontaminate --tasks`."""
        return {**asdict(self), "function": self.function_source}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> RepoTask:
        names = {f.name for f in fields(cls)}
        missing = sorted(names - row.keys())
        if missing:
            raise ValueError(f"not a repository task (missing {', '.join(missing)})")
        data = {k: row[k] for k in names}
        path = Path(str(data["path"]))
        if path.is_absolute() or ".." in path.parts or path.suffix != ".py":
            raise ValueError(f"task path {data['path']!r} is not a .py file inside the repository")
        data["oracle"] = tuple(str(x) for x in data["oracle"])
        data["test_args"] = tuple(str(x) for x in data["test_args"])
        return cls(**data)


def tasks_jsonl(tasks: list[RepoTask]) -> str:
    return "".join(json.dumps(t.to_json()) + "\n" for t in tasks)


def read_tasks(path: Path) -> list[RepoTask]:
    """Read a tasks file; one repository and version per file.

    Raises:
        ValueError: not JSON, not tasks, empty, or tasks of several repositories.
    """
    tasks = []
    try:
        for n, row in enumerate(read_jsonl(path), 1):
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{n}: not a repository task (not a JSON object)")
            try:
                tasks.append(RepoTask.from_json(row))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: {exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a tasks file (not UTF-8 JSONL)") from None
    if not tasks:
        raise ValueError(f"{path}: no tasks")
    if len({(t.repo, t.repo_version) for t in tasks}) > 1:
        raise ValueError(f"{path}: tasks of more than one repository or version")
    if len({t.task_id for t in tasks}) < len(tasks):
        raise ValueError(f"{path}: duplicate task ids")
    return tasks


def as_problems(tasks: list[RepoTask]) -> list[Problem]:
    """Tasks as benchmark problems whose text is the whole function (`eval contamination` looks for it)."""
    return [Problem(t.task_id, t.function_source, "", t.qualname) for t in tasks]
