"""Repository-level evaluation on three real projects: mining speed, a full n=1 run, and the pass rates.

    .venv/bin/python benchmarks/repo_eval.py [--projects toolz,more-itertools,cachetools] [--max-tasks 60]
        [--workers 2] [--tiny-model]

Projects: the sdists of three pure-Python PyPI packages that ship their pytest suites, pinned by
version and sha256, downloaded once with pip into <data dir>/cache/repo_eval (offline afterwards)
and unpacked into --work-dir (a folder the sandbox's unprivileged user can enter). Per project:
1. `eval repo mine` from scratch (the journal is removed first): tasks per minute of mining;
2. `eval repo run` with the original bodies (a full n=1 run: tasks per minute), must be 100%;
3. `raise NotImplementedError` (must be 0%) and swapped bodies (close to 0%, reported);
4. with --tiny-model: the test suite's tiny model behind vLLM and the gateway (started the way
   tests/services.py does), n=1 greedy, its prompt windowed to its 512-token context.
Prints one table; the load average beside the timings, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: the repository's packages first

from experiments.bench.config import BenchSettings  # noqa: E402
from experiments.bench.generate import GenerationConfig  # noqa: E402
from experiments.bench.repo.executor import default_env_paths  # noqa: E402
from experiments.bench.repo.generate import PromptWindow  # noqa: E402
from experiments.bench.repo.mine import MineConfig, mine_tasks  # noqa: E402
from experiments.bench.repo.references import reference_samples  # noqa: E402
from experiments.bench.repo.run import RepoRunConfig, run_repo_eval  # noqa: E402
from experiments.bench.repo.tasks import read_tasks  # noqa: E402


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    sha256: str  # of the sdist, as PyPI lists it
    test_cmd: str = "python -m pytest -q"

    @property
    def sdist(self) -> str:
        return f"{self.name}-{self.version}.tar.gz"


PROJECTS = {
    p.name: p
    for p in (
        Project("toolz", "1.0.0", "2c86e3d9a04798ac556793bced838816296a2f085017664e4995cb40a1047a02"),
        Project("more-itertools", "10.5.0", "5482bfef7849c25dc3c6dd53a6173ae4795da2a41a80faea6700d9f5846c5da6"),
        Project("cachetools", "5.5.0", "2cc24fb4cbe39633fb7badd9db9ca6295d766d9c2995f245725a46715d050f2a"),
    )
}


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def fetch(project: Project, cache: Path, work: Path) -> Path:
    """The project's sdist (downloaded once, sha256-checked), unpacked under `work`."""
    cache.mkdir(parents=True, exist_ok=True)
    sdist = cache / project.sdist
    if not sdist.is_file():
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               f"{project.name}=={project.version}", "-d", str(cache)]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True)
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != project.sha256:
        raise SystemExit(f"{sdist}: sha256 {digest}, expected {project.sha256}")
    dest = work / f"{project.name}-{project.version}"
    if not dest.is_dir():
        with tarfile.open(sdist) as tar:
            tar.extractall(work, filter="data")
        for path in [dest, *dest.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


def _run(tasks: Path, out: Path, workers: int, samples: Path | None = None, gen: GenerationConfig | None = None,
         window: PromptWindow | None = None) -> tuple[float, float, dict]:  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)
    cfg = RepoRunConfig(tasks_file=tasks, output_dir=out, samples_file=samples, generation=gen,
                        env_paths=default_env_paths(), workers=workers, window=window or PromptWindow())  # fmt: skip
    started = time.monotonic()
    summary = run_repo_eval(cfg)
    return summary["pass_at_k"]["pass@1"], time.monotonic() - started, summary


def _write_samples(tasks: Path, kind: str, out: Path) -> Path:
    rows = reference_samples(read_tasks(tasks), kind)  # type: ignore[arg-type]
    out.write_text("".join(json.dumps({"task_id": s.task_id, "completion": s.completion}) + "\n" for s in rows))
    return out


def bench_project(project: Project, args: argparse.Namespace, work: Path, cache: Path, gateway: tuple | None) -> dict:
    repo = fetch(project, cache, work)
    tasks = work / f"{project.name}.tasks.jsonl"
    tasks.with_name(tasks.name + ".journal").unlink(missing_ok=True)  # measure mining from scratch
    cfg = MineConfig(repo=repo, test_cmd=project.test_cmd, output=tasks, seed=args.seed, max_tasks=args.max_tasks,
                     env_paths=default_env_paths(), workers=args.workers)  # fmt: skip
    load0 = _load()
    started = time.monotonic()
    mined = mine_tasks(cfg)
    mine_s = time.monotonic() - started
    row = {
        "project": f"{project.name} {project.version}",
        "tests": mined.stable_tests,
        "tasks": len(mined.tasks),
        "examined": mined.examined,
        "mine_s": round(mine_s, 1),
        "mine_tasks_per_min": round(60 * len(mined.tasks) / mine_s, 1),
        "load_mine": f"{load0} -> {_load()}",
    }
    load0 = _load()
    rate, run_s, _ = _run(tasks, work / f"{project.name}-original", args.workers,
                          _write_samples(tasks, "original", work / f"{project.name}-original.jsonl"))  # fmt: skip
    row.update(original=rate, run_s=round(run_s, 1), run_tasks_per_min=round(60 * len(mined.tasks) / run_s, 1),
               load_run=f"{load0} -> {_load()}")  # fmt: skip
    for kind in ("notimpl", "swap"):
        samples = _write_samples(tasks, kind, work / f"{project.name}-{kind}.jsonl")
        row[kind] = _run(tasks, work / f"{project.name}-{kind}", args.workers, samples)[0]
    if gateway is not None:
        url, key, model = gateway
        gen = GenerationConfig(endpoint=url, model=model, n=1, temperature=0.0, max_tokens=64, api_key=key,
                               concurrency=2)  # fmt: skip
        rate, _, summary = _run(tasks, work / f"{project.name}-tiny", args.workers, gen=gen,
                                window=PromptWindow(prefix_chars=600, suffix_chars=150))  # fmt: skip
        row["tiny_model"] = rate
        row["tiny_blocked"] = summary["blocked"]
        row["tiny_failure_modes"] = dict(list(summary["failure_modes"].items())[:3])
    return row


def _start_gateway(tmp: Path) -> tuple[tuple[str, str, str], list]:
    from codesieve.testing.services import create_key, start_gateway, start_vllm  # the tests' way, tiny model
    from training.tiny_model import TinyModelConfig, build_tiny_model

    cached = sorted((REPO / ".pytest_cache" / "codesieve").glob("tiny-model-*/config.json"))
    model_dir = cached[-1].parent if cached else build_tiny_model(tmp / "tiny", TinyModelConfig.preset("test"))
    vllm, vllm_proc = start_vllm(model_dir, tmp / "vllm.log", served_model_name="tiny-code")
    db_url = f"sqlite:///{tmp / 'gw.db'}"
    key = create_key(db_url, user="bench")
    unlimited = {"CODESIEVE_RATE_LIMIT_PER_S": "100000", "CODESIEVE_RATE_LIMIT_BURST": "100000"}
    gw = start_gateway(tmp / "gw", db_url=db_url, upstream=vllm.url, env=unlimited)
    return (gw.url, key, "tiny-code"), [gw.proc, vllm_proc]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projects", default=",".join(PROJECTS))
    ap.add_argument("--max-tasks", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "codesieve-repo-eval")
    ap.add_argument("--tiny-model", action="store_true", help="also the tiny model through the gateway")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    unknown = set(args.projects.split(",")) - set(PROJECTS)
    if unknown:
        raise SystemExit(f"unknown projects {sorted(unknown)}; known: {', '.join(PROJECTS)}")
    args.work_dir.mkdir(parents=True, exist_ok=True)
    args.work_dir.chmod(0o755)
    cache = BenchSettings().cache_dir / "repo_eval"
    procs: list = []
    gateway = None
    tmp = Path(tempfile.mkdtemp(prefix="cs-repo-bench-"))
    try:
        if args.tiny_model:
            gateway, procs = _start_gateway(tmp)
        rows = []
        for name in args.projects.split(","):
            rows.append(bench_project(PROJECTS[name], args, args.work_dir, cache, gateway))
            if args.json:  # row by row: a later project's failure keeps the figures measured so far
                args.json.write_text(json.dumps(rows, indent=2) + "\n")
    finally:
        if procs:
            from codesieve.testing.services import stop_process_group

            for proc in procs:
                stop_process_group(proc)
    cols = ["project", "tests", "tasks", "examined", "mine_tasks_per_min", "run_tasks_per_min", "original", "notimpl",
            "swap", "tiny_model", "load_mine", "load_run"]  # fmt: skip
    print(" | ".join(cols))
    for row in rows:
        print(" | ".join(str(row.get(c, "-")) for c in cols))
    print(f"workers={args.workers}, cores={os.cpu_count()}, seed={args.seed}, max_tasks={args.max_tasks}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
