"""`codesieve eval repo mine`: a repository's tests -> one fill-in-the-middle task per function they exercise.

1. Baseline: the whole suite runs twice at HEAD in the sandbox, the first time under coverage with
   each line labelled by the test executing it. A suite that hangs, fails, or collects nothing is
   refused with one line. Tests that pass both times (and within `max_test_s`) are the stable ones.
2. Candidates: every function outside the test files whose body (`functions.py`) has between
   `min_body_lines` and `max_body_lines` lines and is executed by a stable test; shuffled with `seed`.
3. For each candidate, in that order and until `max_tasks` are kept (at most `max_candidates`
   examined): run its covering tests (the `max_oracle_tests` fastest) with the body replaced by
   `raise NotImplementedError`; the tests that fail are the oracle. Then the oracle alone runs on the
   original file, and must pass (tests that only pass in the whole suite's order are no oracle).
Every step's result is appended to a journal beside the output (`TASKS.jsonl.journal`): a rerun with
the same repository version and settings resumes where the last one stopped. The tasks file is
written whole at the end (temp file + rename).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from codesieve.core.atomic_files import write_text_atomic
from experiments.bench.repo.context import cross_file_context
from experiments.bench.repo.executor import (
    EXIT_FAILED,
    EXIT_NONE_COLLECTED,
    EXIT_OK,
    ExecLimits,
    TestRun,
    check_mountable,
    run_tests,
)
from experiments.bench.repo.functions import FunctionSpan, find_functions, split_at, stub_body
from experiments.bench.repo.source import RepoError, is_test_file, repo_version, validate_repo
from experiments.bench.repo.tasks import RepoTask, tasks_jsonl
from experiments.bench.repo.test_command import TestCommand, parse_test_cmd

__all__ = ["MineConfig", "MineResult", "mine_tasks"]

logger = logging.getLogger(__name__)
MINER_VERSION = "codesieve-repo-mine/1"  # bump when a change can change which tasks are mined


@dataclass(frozen=True)
class MineConfig:
    repo: Path
    test_cmd: str
    output: Path
    seed: int = 0
    max_tasks: int = 100
    max_candidates: int | None = None  # default: 3 x max_tasks
    min_body_lines: int = 1
    max_body_lines: int = 30
    max_test_s: float = 5.0  # tests slower than this at HEAD are not used as oracles
    max_oracle_tests: int = 20
    suite_timeout_s: float = 300.0  # one whole-suite run at HEAD
    context_chars: int = 2000
    env_paths: tuple[str, ...] = ()
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    progress: bool = True

    def key(self, version: str) -> str:
        """What a journal must match to be resumed: the repository version and every setting that
        decides which tasks come out (not workers, progress or the output path)."""
        data = {k: v for k, v in asdict(self).items() if k not in ("output", "workers", "progress", "repo")}
        data.update(version=version, miner=MINER_VERSION)
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MineResult:
    tasks: list[RepoTask]
    repo_version: str
    stable_tests: int
    candidates: int
    examined: int
    rejected: dict[str, int]


@dataclass(frozen=True)
class _Candidate:
    path: str
    span: FunctionSpan
    tests: tuple[str, ...]  # covering stable tests, fastest first
    unique_name: bool = True  # False: another function of the file has the same qualname

    @property
    def task_id(self) -> str:
        # a property's getter and setter (or a conditional definition) share a qualname: add the line
        at = "" if self.unique_name else f"@{self.span.def_line}"
        return f"{self.path}::{self.span.qualname}{at}"


class _Journal:
    """Append-only JSONL beside the output; the first line names the run it belongs to."""

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        rows = []
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a torn last line
        if rows and rows[0].get("key") == key:
            self.entries = {r["id"]: r for r in rows[1:] if "id" in r}
        else:
            path.write_text(json.dumps({"key": key}) + "\n", encoding="utf-8")

    def add(self, entry_id: str, row: dict[str, Any]) -> None:
        row = {"id": entry_id, **row}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        self.entries[entry_id] = row


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[-limit:]


def _baseline_error(run: TestRun, timeout_s: float) -> str | None:
    if run.status == "timeout":
        return f"the test command did not finish within {timeout_s:g} s at HEAD (a hanging test?)"
    if run.status != "ok":
        return f"the test command could not run at HEAD ({run.status}): {_one_line(run.tail)}"
    if run.exit == EXIT_NONE_COLLECTED or not run.tests:
        return "no Python tests: the test command collected no tests"
    if run.exit == EXIT_FAILED:
        failed = [n for n, r in run.tests.items() if r.get("outcome") == "failed"]
        return f"tests fail at HEAD: {len(failed)} failed, first {_one_line(run.first_error(), 200)}"
    if run.exit != EXIT_OK:
        return f"the test command failed at HEAD (pytest exit {run.exit}): {_one_line(run.tail, 200)}"
    return None


def _baseline(cfg: MineConfig, cmd: TestCommand, journal: _Journal, limits: ExecLimits) -> tuple[dict, dict]:
    """(stable tests {node id: duration}, coverage {file: {node id: lines}}), journaled."""
    runs = []
    for i in (1, 2):
        entry = journal.entries.get(f"baseline-{i}")
        if entry is None:
            run = run_tests(cfg.repo, cmd.suite_args(), env_paths=cfg.env_paths, coverage=i == 1, limits=limits)
            error = _baseline_error(run, cfg.suite_timeout_s)
            if error is not None:
                raise RepoError(error)
            if i == 1 and run.coverage is None:
                raise RepoError(f"no coverage data from the test run: {_one_line(run.tail)}")
            entry = {"tests": run.tests, "coverage": run.coverage}
            journal.add(f"baseline-{i}", entry)
        runs.append(entry)
    first, second = runs[0]["tests"], runs[1]["tests"]
    stable = {
        node: max(row["duration"], second[node]["duration"])
        for node, row in first.items()
        if row.get("outcome") == "passed" and second.get(node, {}).get("outcome") == "passed"
    }
    flaky = sum(1 for n, r in first.items() if r.get("outcome") != second.get(n, {}).get("outcome"))
    if flaky:
        logger.info("%d tests changed outcome between the two runs at HEAD: not used", flaky)
    return stable, runs[0]["coverage"] or {}


def _candidates(cfg: MineConfig, files: list[Path], stable: dict[str, float], coverage: dict) -> list[_Candidate]:
    usable = {n for n, d in stable.items() if d <= cfg.max_test_s}
    out = []
    for rel in files:
        if is_test_file(rel) or rel.name == "setup.py" or str(rel) not in coverage:
            continue
        try:
            spans = find_functions((cfg.repo / rel).read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        by_line: dict[int, set[str]] = {}
        for node, lines in coverage[str(rel)].items():
            if node in usable:
                for line in lines:
                    by_line.setdefault(line, set()).add(node)
        names = Counter(span.qualname for span in spans)
        for span in spans:
            if not cfg.min_body_lines <= span.body_lines <= cfg.max_body_lines:
                continue
            tests: set[str] = set()
            for line in range(span.body_start, span.end_line + 1):
                tests |= by_line.get(line, set())
            if tests:
                ordered = tuple(sorted(tests, key=lambda n: (stable[n], n)))
                out.append(_Candidate(str(rel), span, ordered, names[span.qualname] == 1))
    out.sort(key=lambda c: (c.task_id, c.span.body_start))
    random.Random(cfg.seed).shuffle(out)
    return out


def _examine(cfg: MineConfig, cmd: TestCommand, cand: _Candidate, stable: dict[str, float], version: str) -> dict:
    """{"task": {...}} or {"reason": why not}; two sandboxed runs."""
    source = (cfg.repo / cand.path).read_text(encoding="utf-8")
    prefix, body, suffix = split_at(source, cand.span)
    pool = list(cand.tests[: cfg.max_oracle_tests])
    budget = sum(stable[n] for n in pool)
    limits = ExecLimits(timeout_s=min(cfg.suite_timeout_s, 30.0 + 5 * budget))
    removed = run_tests(
        cfg.repo,
        cmd.node_args(pool),
        env_paths=cfg.env_paths,
        overrides={cand.path: prefix + stub_body(cand.span.indent) + suffix},
        limits=limits,
    )
    if removed.status != "ok":
        return {"reason": f"body removed: {removed.status}"}
    oracle = [n for n in pool if removed.tests.get(n, {}).get("outcome") == "failed"]
    if not oracle:
        return {"reason": "no test fails without the body"}
    again = run_tests(cfg.repo, cmd.node_args(oracle), env_paths=cfg.env_paths, limits=limits)
    if not again.passed(oracle):
        return {"reason": "oracle fails on its own at HEAD"}
    task = RepoTask(
        task_id=cand.task_id,
        path=cand.path,
        qualname=cand.span.qualname,
        prefix=prefix,
        suffix=suffix,
        canonical_solution=body,
        indent=cand.span.indent,
        def_line=cand.span.def_line,
        body_start=cand.span.body_start,
        body_end=cand.span.end_line,
        context=cross_file_context(cfg.repo, Path(cand.path), source, cfg.context_chars),
        oracle=tuple(oracle),
        oracle_time_s=round(sum(stable[n] for n in oracle), 4),
        repo=str(cfg.repo),
        repo_version=version,
        test_args=cmd.options,
    )
    return {"task": task.to_json()}


def _chunks(items: list[_Candidate], size: int) -> Iterator[list[_Candidate]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def mine_tasks(cfg: MineConfig) -> MineResult:
    """Mine (or resume mining) tasks from `cfg.repo` and write them to `cfg.output`.

    Raises:
        RepoError: the repository or its test command cannot be used (one line saying why).
        ValueError: a bad test command.
    """
    cmd = parse_test_cmd(cfg.test_cmd)
    files = validate_repo(cfg.repo)
    for path in (cfg.repo, *map(Path, cfg.env_paths)):
        check_mountable(path)
    version = repo_version(cfg.repo, files)
    journal = _Journal(cfg.output.with_name(cfg.output.name + ".journal"), cfg.key(version))
    limits = ExecLimits(timeout_s=cfg.suite_timeout_s)
    stable, coverage = _baseline(cfg, cmd, journal, limits)
    candidates = _candidates(cfg, files, stable, coverage)
    if not candidates:
        raise RepoError("no function of the repository is executed by a stable passing test")
    limit = cfg.max_candidates or 3 * cfg.max_tasks
    kept: list[RepoTask] = []
    reasons: Counter[str] = Counter()
    examined = 0
    bar = tqdm(total=min(cfg.max_tasks, limit, len(candidates)), desc="mine", unit="task", disable=not cfg.progress)
    with ThreadPoolExecutor(max_workers=max(1, cfg.workers)) as pool:
        for chunk in _chunks(candidates[:limit], max(1, cfg.workers) * 2):
            todo = [c for c in chunk if c.task_id not in journal.entries]
            done = pool.map(lambda c: (c, _examine(cfg, cmd, c, stable, version)), todo)
            for cand, row in done:
                journal.add(cand.task_id, row)
            for cand in chunk:  # in the seed's order, whatever finished first
                row = journal.entries[cand.task_id]
                examined += 1
                if "task" in row and len(kept) < cfg.max_tasks:
                    kept.append(RepoTask.from_json(row["task"]))
                    bar.update(1)
                elif "reason" in row:
                    reasons[row["reason"]] += 1
            bar.set_postfix(examined=examined)
            if len(kept) >= cfg.max_tasks:
                break
    bar.close()
    if not kept:
        why = ", ".join(f"{k}: {v}" for k, v in reasons.most_common(3))
        raise RepoError(f"no task: none of {examined} functions examined has an oracle ({why})")
    write_text_atomic(cfg.output, tasks_jsonl(kept))
    return MineResult(kept, version, len(stable), len(candidates), examined, dict(reasons.most_common()))
