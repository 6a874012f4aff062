"""`codesieve eval repo run`: samples for repository tasks -> the task's oracle tests in the sandbox -> pass@k.

The same outputs as `eval run` (so `eval compare` works on two repo runs), in the same layout:
config.json, samples.jsonl, results.jsonl (one verdict per sample, with its failure category),
summary.json / summary.md (pass@k, failure modes, per task), plus a per-file breakdown. Resumable: a
rerun skips what is in results.jsonl. One sandbox per sample (executor.py), `workers` at a time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from codesieve.core.benchmarks import Benchmark, Problem
from experiments.bench.generate import GenerationConfig, Sample
from experiments.bench.harness import SampleVerdict
from experiments.bench.repo.executor import ExecLimits, TestRun, check_mountable, run_tests
from experiments.bench.repo.generate import PromptWindow, generate_repo_samples
from experiments.bench.repo.source import repo_version as current_version
from experiments.bench.repo.source import validate_repo
from experiments.bench.repo.tasks import RepoTask, read_tasks
from experiments.bench.run import (
    BenchConfig,
    EvalInterrupted,
    _append,
    _read_jsonl_tolerant,
    _row,
    build_summary,
    read_samples,
    render_markdown,
    resume_verdicts,
)
from experiments.bench.sandbox import check_sandbox_available

__all__ = ["REPO_HARNESS_VERSION", "RepoRunConfig", "judge_repo_sample", "run_repo_eval"]

logger = logging.getLogger(__name__)
REPO_HARNESS_VERSION = "codesieve-repo/1"  # bump when a change to judging can change a verdict
_EXC = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")


@dataclass(frozen=True)
class RepoRunConfig:
    tasks_file: Path
    output_dir: Path
    samples_file: Path | None = None
    generation: GenerationConfig | None = None
    repo: Path | None = None  # where the repository is now (default: where it was mined)
    env_paths: tuple[str, ...] = ()
    workers: int = 1
    timeout_s: float | None = None  # per sample; default 30 s + 5x the oracle's time at HEAD
    limit: int | None = None
    window: PromptWindow = field(default_factory=PromptWindow)  # generation only
    progress: bool = True

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if data["generation"] is not None:
            data["generation"].pop("api_key", None)  # never written to disk
        plain: dict[str, Any] = json.loads(json.dumps(data, default=str))
        return plain


def _category(run: TestRun, oracle: tuple[str, ...]) -> tuple[str, str]:
    if run.status in ("timeout", "cpu_limit"):
        return "timeout", run.status
    if run.status == "memory_limit":
        return "memory", "over the sandbox's memory cap"
    if run.status == "output_limit":
        return "sandbox_violation", "output limit exceeded"
    if run.status != "ok":
        return "crash", f"{run.status}: {run.tail.strip()[-200:]}"
    if run.passed(oracle):
        return "passed", ""
    failed = [(n, run.tests[n]) for n in oracle if run.tests.get(n, {}).get("outcome") == "failed"]
    if not failed:
        return "crash", f"pytest exit {run.exit}, oracle tests not all reported: {run.tail.strip()[-200:]}"
    node, row = failed[0]
    error = str(row.get("error", ""))
    match = _EXC.match(error)
    if error.startswith("assert") or match is None or match.group(1) in ("AssertionError", "Failed"):
        return "assertion", f"{node}: {error}"[:300]
    return f"exception:{match.group(1).rsplit('.', 1)[-1]}", f"{node}: {error}"[:300]


def judge_repo_sample(
    task: RepoTask, completion: str, repo: Path, env_paths: tuple[str, ...], timeout_s: float | None
) -> SampleVerdict:
    """Splice `completion` into the task's file and run its oracle tests on a copy of `repo`."""
    body = completion if completion.endswith("\n") or not completion else completion + "\n"
    text = task.prefix + body + task.suffix
    try:
        compile(text, task.path, "exec")  # compiled only: nothing of the sample runs here
    except (SyntaxError, ValueError) as exc:
        return SampleVerdict(False, "syntax_error", str(exc)[:300], 0.0)
    limits = ExecLimits(timeout_s=timeout_s or 30.0 + 5 * task.oracle_time_s)
    args = [*task.test_args, *task.oracle]
    run = run_tests(repo, args, env_paths=env_paths, overrides={task.path: text}, limits=limits)
    category, detail = _category(run, task.oracle)
    return SampleVerdict(category == "passed", category, detail, run.duration_s)


def _benchmark(tasks: list[RepoTask], tasks_file: Path) -> Benchmark:
    digest = hashlib.sha256(tasks_file.read_bytes()).hexdigest()[:16]
    problems = tuple(Problem(t.task_id, t.prefix, "", t.qualname) for t in tasks)
    name = f"repo:{Path(tasks[0].repo).name}"
    return Benchmark(name, f"{tasks[0].repo_version};tasks:{digest}", str(tasks_file), problems)


def _samples(cfg: RepoRunConfig, tasks: list[RepoTask], out_dir: Path) -> list[Sample]:
    known = {t.task_id for t in tasks}
    if cfg.samples_file is not None:
        samples = read_samples(cfg.samples_file)
        unknown = sorted({s.task_id for s in samples} - known)
        if unknown and cfg.limit is None:
            raise ValueError(f"samples for tasks not in {cfg.tasks_file}: {unknown[:5]}")
        return [s for s in samples if s.task_id in known]
    assert cfg.generation is not None
    path = out_dir / "samples.jsonl"
    have = [
        Sample(r["task_id"], r["sample_idx"], r["completion"], r.get("blocked", False), tuple(r.get("filters", ())))
        for r in _read_jsonl_tolerant(path)
    ]
    done = {(s.task_id, s.sample_idx) for s in have}
    for sample in generate_repo_samples(tasks, cfg.generation, window=cfg.window, done=done):
        _append(path, [asdict(sample)])
        have.append(sample)
    return have


def _judge_all(
    cfg: RepoRunConfig, repo: Path, tasks: dict[str, RepoTask], samples: list[Sample], out_dir: Path
) -> list[dict[str, Any]]:
    results_path = out_dir / "results.jsonl"
    rows, todo = resume_verdicts(results_path, samples)
    logger.info("judging %d samples (%d already done) with %d workers", len(todo), len(rows), cfg.workers)

    def job(s: Sample) -> tuple[Sample, SampleVerdict]:
        return s, judge_repo_sample(tasks[s.task_id], s.completion, repo, cfg.env_paths, cfg.timeout_s)

    bar = tqdm(total=len(todo), desc="judge", unit="sample", disable=not cfg.progress)
    pool = ThreadPoolExecutor(max_workers=max(1, cfg.workers))
    try:
        for sample, verdict in pool.map(job, todo):
            row = _row(sample, verdict)
            _append(results_path, [row])
            rows.append(row)
            bar.update(1)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)  # running sandboxes end at their deadline
        raise EvalInterrupted(results_path, len(rows)) from None
    finally:
        bar.close()
        pool.shutdown(wait=True, cancel_futures=True)
    return rows


def _per_file(tasks: dict[str, RepoTask], rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    acc: dict[str, dict[str, Any]] = defaultdict(lambda: {"tasks": set(), "samples": 0, "passed": 0})
    for row in rows:
        entry = acc[tasks[row["task_id"]].path]
        entry["tasks"].add(row["task_id"])
        entry["samples"] += 1
        entry["passed"] += int(bool(row["passed"]))
    return {
        path: {
            "tasks": len(e["tasks"]),
            "samples": e["samples"],
            "passed": e["passed"],
            "pass_rate": round(100.0 * e["passed"] / e["samples"], 2),
        }
        for path, e in sorted(acc.items())
    }


def _render(summary: dict[str, Any]) -> str:
    lines = [render_markdown(summary), "| file | tasks | samples | passed (%) |", "| --- | --- | --- | --- |"]
    lines += [f"| {p} | {e['tasks']} | {e['samples']} | {e['pass_rate']:.2f} |" for p, e in summary["per_file"].items()]
    return "\n".join(lines) + "\n"


def _check_repo(cfg: RepoRunConfig, tasks: list[RepoTask]) -> Path:
    repo = (cfg.repo or Path(tasks[0].repo)).resolve()
    files = validate_repo(repo)
    for path in (repo, *map(Path, cfg.env_paths)):
        check_mountable(path)
    now = current_version(repo, files)
    if now != tasks[0].repo_version:
        raise ValueError(
            f"{repo} is at {now}, the tasks were mined at {tasks[0].repo_version}: mine again or check that version out"
        )
    return repo


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def run_repo_eval(cfg: RepoRunConfig) -> dict[str, Any]:
    """Run (or resume) one repository evaluation and write its results; returns the summary."""
    if (cfg.samples_file is None) == (cfg.generation is None):
        raise ValueError("give exactly one of: pre-generated samples, or an endpoint to sample from")
    check_sandbox_available()
    all_tasks = read_tasks(cfg.tasks_file)
    tasks = all_tasks[: cfg.limit] if cfg.limit else all_tasks
    repo = _check_repo(cfg, tasks)
    bench = _benchmark(all_tasks, cfg.tasks_file)
    out_dir = cfg.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = out_dir / "config.json"
    if config_path.exists():
        previous = json.loads(config_path.read_text())
        same = (previous.get("benchmark_version"), previous.get("harness_version"))
        if same != (bench.version, REPO_HARNESS_VERSION):
            raise ValueError(f"{out_dir} holds a run of other tasks or another harness version; use a new --output")
    config = {"config": cfg.to_json(), "benchmark_version": bench.version, "harness_version": REPO_HARNESS_VERSION}
    _write(config_path, json.dumps(config, indent=2) + "\n")
    samples = _samples(cfg, tasks, out_dir)
    if not samples:
        raise ValueError("no samples to judge")
    by_id = {t.task_id: t for t in tasks}
    rows = _judge_all(cfg, repo, by_id, samples, out_dir)
    bench_cfg = BenchConfig(
        benchmark=bench.name,
        output_dir=out_dir,
        samples_file=cfg.samples_file,
        generation=cfg.generation,
        limit=cfg.limit,
        workers=cfg.workers,
    )
    summary = build_summary(bench_cfg, bench, rows)
    summary["harness_version"] = REPO_HARNESS_VERSION
    summary["verdicts"] = (
        "in-process: the repository's tests run in the candidate's process (as in its own CI); "
        "a pass needs pytest's exit 0 and every oracle test reported passed"
    )
    summary["repository"] = {"path": str(repo), "version": tasks[0].repo_version}
    summary["per_file"] = _per_file(by_id, rows)
    _write(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    _write(out_dir / "summary.md", _render(summary))
    return summary
