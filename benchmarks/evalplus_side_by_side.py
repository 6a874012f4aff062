"""HumanEval+ judged by EvalPlus's own evaluator and by codesieve, side by side on the same samples.

    .venv/bin/python benchmarks/evalplus_side_by_side.py [--workers 2] [--tasks 41,82,164] [--rounds 1]

EvalPlus: `evalplus.evaluate` 0.3.1 from PyPI in its own virtual environment (its pins clash with
ours; install it with `make evalplus-tool`, i.e. `python3 -m venv .tools/evalplus &&
.tools/evalplus/bin/pip install evalplus==0.3.1`), run offline: HUMANEVAL_OVERRIDE_PATH points it at
the mirror's HumanEvalPlus-v0.1.10.jsonl.gz (or, for the first N tasks, a file of those rows: its
evaluator refuses samples that do not cover every task), XDG_CACHE_HOME at a fresh directory (its
ground-truth pickle, keyed by the dataset file's md5). `--parallel W`, base + plus, fast check.
codesieve: `codesieve eval run --benchmark humaneval+ --limit N --workers W` (mirror: the shared data).
Samples: the 164 published Qwen2.5-Coder-1.5B greedy HumanEval generations (reference-generations/).

Each tool first runs once per task count to build its cache of expected outputs (EvalPlus's
pickle, our per-task reference files); then the measured runs alternate EvalPlus, codesieve,
EvalPlus, ... Each run's process tree sits in a fresh cgroup: CPU from cpuacct (v1) or cpu.stat
(v2), which counts sandboxes nobody waited for; peak memory as the cgroup's watermark (page cache
included) and as the peak of anon + shmem (sampled every 50 ms; tmpfs files inside a sandbox are
shmem). Wall time: EvalPlus's process also waits up to 20 s for its stuck-sample watchdog thread
(`time.sleep(20)` in a non-daemon thread) after writing its results, so its wall time to the result
file is shown beside its wall time to exit.
Prints per-task verdict agreement (base_status and plus_status, EvalPlus vs codesieve and each vs
the publisher), CPU seconds and the ratio (goal: codesieve <= 1.5x EvalPlus on HumanEval+).
Needs root (or a delegated cgroup) for the cgroups. A shared machine: report the load average.

Measured (2 workers, the shared 2-core machine):
- `--tasks 164 --rounds 2`, load average 11-13: CPU EvalPlus 30.6 / 26.9 s, codesieve 20.7 / 20.6 s
  (best of 2: 0.77x); base and plus verdicts agree on 164/164 tasks, each also with the publisher's;
  wall EvalPlus 122 / 91 s (115 / 76 s to its result file), codesieve 39 / 59 s.
- `--tasks 41,82,164 --rounds 1`, load average 11-17: CPU EvalPlus 6.9 / 10.0 / 31.6 s, codesieve
  7.9 / 13.2 / 29.0 s (1.14x / 1.32x / 0.92x); peak memory (cgroup watermark) EvalPlus 719 / 663 /
  1,883 MB, codesieve 477 / 505 / 516 MB. EvalPlus's plus verdict on HumanEval/147 (an input near
  its time limit) differed from the publisher's in that run; codesieve's matched on every task.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_BENCHMARKS = REPO.parent / "shared" / "data" / "benchmarks"
DATASET = SHARED_BENCHMARKS / "humanevalplus" / "HumanEvalPlus-v0.1.10.jsonl.gz"
REFERENCE = SHARED_BENCHMARKS / "reference-generations" / "qwen2.5-coder-1.5b-base" / "humaneval"
EVALPLUS = REPO / ".tools" / "evalplus" / "bin" / "evalplus.evaluate"
EVALPLUS_VERSION = "0.3.1"
CGROUP = Path("/sys/fs/cgroup")
CPU_RATIO_GOAL = 1.5


class RunCgroup:
    """Fresh CPU and memory cgroups for one run (v1 cpuacct + memory, or one v2 directory)."""

    def __init__(self) -> None:
        name = f"codesieve-sbs-{uuid.uuid4().hex[:8]}"
        if (CGROUP / "cpuacct").is_dir():  # v1: one directory per controller
            own_memory = _own_v1_path("memory")
            self.cpu = CGROUP / "cpuacct" / name
            self.memory = CGROUP / "memory" / own_memory.lstrip("/") / name
            self.version = 1
        else:
            self.cpu = self.memory = CGROUP / name
            self.version = 2
        for d in {self.cpu, self.memory}:
            d.mkdir()
        self.anon_peak = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def join_self(self) -> None:
        """Called in the child between fork and exec: everything it starts is counted."""
        for d in {self.cpu, self.memory}:
            (d / "cgroup.procs").write_text(str(os.getpid()))

    def start_sampling(self) -> None:
        self._sampler.start()

    def _sample(self) -> None:
        keys = ("total_rss", "total_shmem") if self.version == 1 else ("anon", "shmem")
        while not self._stop.wait(0.05):
            try:
                stat = dict(line.split() for line in (self.memory / "memory.stat").read_text().splitlines())
            except (OSError, ValueError):
                continue
            self.anon_peak = max(self.anon_peak, sum(int(stat.get(k, 0)) for k in keys))

    def cpu_s(self) -> float:
        if self.version == 1:
            return int((self.cpu / "cpuacct.usage").read_text()) / 1e9
        stat = dict(line.split() for line in (self.cpu / "cpu.stat").read_text().splitlines())
        return int(stat["usage_usec"]) / 1e6

    def peak_bytes(self) -> int:
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        return int((self.memory / name).read_text())

    def close(self) -> None:
        self._stop.set()
        if self._sampler.is_alive():
            self._sampler.join()
        deadline = time.monotonic() + 10.0  # processes of the run may still be exiting
        for d in {self.cpu, self.memory}:
            # codesieve's sandbox makes its own memory cgroups under the one it runs in: leaves first
            for sub, _, _ in os.walk(d, topdown=False):
                while True:
                    try:
                        os.rmdir(sub)
                        break
                    except OSError as exc:
                        if time.monotonic() > deadline:
                            print(f"warning: could not remove {sub}: {exc}", file=sys.stderr)
                            break
                        time.sleep(0.1)


def _own_v1_path(controller: str) -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    raise OSError(f"no cgroup v1 {controller} hierarchy")


@dataclass
class Measure:
    tool: str
    tasks: int
    wall_s: float
    cpu_s: float
    peak_mb: float
    anon_peak_mb: float
    wall_to_result_s: float | None = None
    verdicts: dict[str, tuple[str, str]] = field(default_factory=dict)


def measured_run(
    cmd: list[str],
    env: dict[str, str],
    log_path: Path,
    result: Path,
    read: Callable[[Path], dict[str, tuple[str, str]]],
) -> tuple[float, float, float, float, float | None, dict[str, tuple[str, str]]]:
    """Run `cmd` in a fresh cgroup: (wall, CPU, peak MB, anon+shmem peak MB, wall to `result`, verdicts)."""
    group = RunCgroup()
    try:
        started = time.perf_counter()
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=group.join_self)
            group.start_sampling()
            to_result = None
            while proc.poll() is None:
                if to_result is None and result.exists():
                    to_result = time.perf_counter() - started
                time.sleep(0.05)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            tail = log_path.read_text()[-2000:]
            sys.exit(f"error: {' '.join(cmd[:3])} ... exited {proc.returncode}: {tail}")
        cpu, peak = group.cpu_s(), group.peak_bytes()
    finally:
        group.close()
    return wall, cpu, peak / 2**20, group.anon_peak / 2**20, to_result, read(result)


def _read_evalplus(path: Path) -> dict[str, tuple[str, str]]:
    data = json.loads(path.read_text())["eval"]
    return {t: (rows[0]["base_status"], rows[0]["plus_status"]) for t, rows in data.items()}


def _read_codesieve(path: Path) -> dict[str, tuple[str, str]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line]
    return {r["task_id"]: (r["base_status"], r["plus_status"]) for r in rows}


class SideBySide:
    """Files and commands for one task count; `run_evalplus` / `run_codesieve` measure one run each."""

    def __init__(self, work: Path, tasks: int, workers: int, all_rows: list[dict], all_samples: list[dict]) -> None:
        self.work, self.tasks, self.workers = work, tasks, workers
        ids = [r["task_id"] for r in all_rows[:tasks]]
        self.dataset = work / f"HumanEvalPlus-first{tasks}.jsonl.gz"
        if tasks == len(all_rows):
            self.dataset = DATASET
        else:
            with gzip.open(self.dataset, "wt") as fh:
                fh.writelines(json.dumps(r) + "\n" for r in all_rows[:tasks])
        self.samples = work / f"samples-first{tasks}.jsonl"
        keep = set(ids)
        self.samples.write_text("".join(json.dumps(s) + "\n" for s in all_samples if s["task_id"] in keep))
        self.runs = 0

    def _fresh(self, tool: str) -> Path:
        self.runs += 1
        d = self.work / f"{tool}-{self.tasks}-{self.runs}"
        d.mkdir()
        return d

    def run_evalplus(self) -> Measure:
        d = self._fresh("evalplus")
        samples = d / "samples.jsonl"  # its result file goes beside the samples; a fresh one each run
        samples.write_bytes(self.samples.read_bytes())
        env = {**os.environ, "HUMANEVAL_OVERRIDE_PATH": str(self.dataset), "XDG_CACHE_HOME": str(self.work / "xdg")}
        cmd = [str(EVALPLUS), "--dataset", "humaneval", "--samples", str(samples), "--parallel", str(self.workers)]
        got = measured_run(cmd, env, d / "log.txt", d / "samples_eval_results.json", _read_evalplus)
        return Measure("EvalPlus", self.tasks, *got[:4], wall_to_result_s=got[4], verdicts=got[5])

    def run_codesieve(self) -> Measure:
        d = self._fresh("codesieve")
        env = {
            **os.environ,
            "CODESIEVE_BENCHMARK_MIRROR": str(SHARED_BENCHMARKS),
            "CODESIEVE_DATA_DIR": str(self.work / "data"),
        }
        cmd = [sys.executable, "-m", "codesieve.cli", "eval", "run", "--benchmark", "humaneval+"]
        cmd += ["--samples", str(self.samples), "--limit", str(self.tasks), "--workers", str(self.workers)]
        cmd += ["--output", str(d / "run")]
        got = measured_run(cmd, env, d / "log.txt", d / "run" / "results.jsonl", _read_codesieve)
        return Measure("codesieve", self.tasks, *got[:4], verdicts=got[5])


def _agreement(a: dict[str, tuple[str, str]], b: dict[str, tuple[str, str]], split: int) -> tuple[int, list[str]]:
    """(tasks agreeing, 'task: a's status / b's status' for the others)."""
    other = {t: b.get(t, ("missing", "missing"))[split] for t in a}
    differ = sorted(f"{t}: {a[t][split]} / {other[t]}" for t in a if a[t][split] != other[t])
    return len(a) - len(differ), differ


def _load() -> tuple[list[dict], list[dict]]:
    with gzip.open(DATASET, "rt") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    samples = [json.loads(line) for line in (REFERENCE / "generated.jsonl").read_text().splitlines() if line]
    return rows, samples


def _print_run(m: Measure) -> None:
    extra = f" (to its result file {m.wall_to_result_s:.1f} s)" if m.wall_to_result_s is not None else ""
    print(
        f"  {m.tool:9s} {m.tasks:3d} tasks: CPU {m.cpu_s:6.1f} s  wall {m.wall_s:6.1f} s{extra}  "
        f"peak {m.peak_mb:6.0f} MB (anon+shmem {m.anon_peak_mb:5.0f} MB)  load {os.getloadavg()[0]:.2f}",
        flush=True,
    )


def _report(runs: list[Measure], publisher: dict[str, tuple[str, str]]) -> None:
    full = max(m.tasks for m in runs)
    ep = [m for m in runs if m.tool == "EvalPlus" and m.tasks == full]
    cs = [m for m in runs if m.tool == "codesieve" and m.tasks == full]
    print(f"\nverdicts on {full} tasks (last measured run of each):")
    for split, name in ((0, "base_status"), (1, "plus_status")):
        for label, a, b in (
            ("codesieve vs EvalPlus", cs[-1].verdicts, ep[-1].verdicts),
            ("EvalPlus vs publisher", ep[-1].verdicts, publisher),
            ("codesieve vs publisher", cs[-1].verdicts, publisher),
        ):
            same, differ = _agreement(a, b, split)
            print(f"  {name} {label:24s} {same}/{len(a)} agree  {differ}")
    ep_cpu = min(m.cpu_s for m in ep)
    cs_cpu = min(m.cpu_s for m in cs)
    ratio = cs_cpu / ep_cpu
    verdict = "met" if ratio <= CPU_RATIO_GOAL else "NOT met"
    print(f"\nCPU on {full} tasks (best of {len(ep)}): EvalPlus {ep_cpu:.1f} s, codesieve {cs_cpu:.1f} s")
    print(f"CPU ratio codesieve / EvalPlus: {ratio:.2f}x (goal <= {CPU_RATIO_GOAL}x: {verdict})")
    print("\npeak memory vs tasks (max over runs; cgroup watermark incl. page cache / anon+shmem):")
    for tool in ("EvalPlus", "codesieve"):
        cells = []
        for n in sorted({m.tasks for m in runs}):
            mine = [m for m in runs if m.tool == tool and m.tasks == n]
            cells.append(f"{n}: {max(m.peak_mb for m in mine):.0f}/{max(m.anon_peak_mb for m in mine):.0f} MB")
        print(f"  {tool:9s} " + "   ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tasks", default="41,82,164", help="task counts (first N tasks), comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="measured EvalPlus/codesieve pairs per task count")
    args = parser.parse_args()
    if not EVALPLUS.exists():
        sys.exit(
            f"error: {EVALPLUS} not found; install EvalPlus {EVALPLUS_VERSION} with `make evalplus-tool` "
            f"(python3 -m venv .tools/evalplus && .tools/evalplus/bin/pip install evalplus=={EVALPLUS_VERSION})"
        )
    rows, samples = _load()
    counts = sorted({min(len(rows), int(n)) for n in args.tasks.split(",")})
    publisher = {
        t: (v[0]["base_status"], v[0]["plus_status"])
        for t, v in json.loads((REFERENCE / "generated_eval_results.json").read_text())["eval"].items()
    }
    runs: list[Measure] = []
    with tempfile.TemporaryDirectory(prefix="codesieve-sbs-") as tmp:
        try:
            RunCgroup().close()
        except OSError as exc:
            sys.exit(f"error: cannot create a cgroup to account CPU and memory ({exc}); run as root")
        print(f"workers: {args.workers}, EvalPlus {EVALPLUS_VERSION}, task counts {counts}, rounds {args.rounds}")
        for n in counts:
            case = SideBySide(Path(tmp), n, args.workers, rows, samples)
            print(f"{n} tasks, cache-building runs (not counted):")
            _print_run(case.run_evalplus())
            _print_run(case.run_codesieve())
            print(f"{n} tasks, measured (interleaved):")
            for _ in range(args.rounds):
                for run in (case.run_evalplus, case.run_codesieve):
                    runs.append(run())
                    _print_run(runs[-1])
    _report(runs, publisher)


if __name__ == "__main__":
    main()
