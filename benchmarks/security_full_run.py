"""Benchmark: both CyberSecEval suites (3,832 prompts) through a real gateway in front of real vLLM
serving the tiny test model, judged statically; prompts judged per minute (generation + judging).

    CODESIEVE_SEMGREP=/path/to/semgrep nice -n 19 .venv/bin/python benchmarks/security_full_run.py \
        --run-dir var/security-full-run           # resumable: rerun the same command after a crash
    ... --limit 3                                      # 3 prompts per language per suite (a smoke run)

It trains the tiny model ("test" preset, cached like the tests' under .pytest_cache/codesieve/), starts
`vllm serve` on it (the tests' settings: 512-token context) and `codesieve serve --upstream` with an
API key, and runs `codesieve eval security --endpoint <gateway>` once per suite into
`<run-dir>/<suite>`. The tiny model's answers mean nothing; what is measured is that the pipeline
completes at this scale and how fast: prompts, completed, blocked by a gateway filter, errors, prompts
cut to the context window, prompts with a secret the gateway found, generation and judging minutes,
prompts per minute, insecure rate per language. A rerun reuses what the run folder holds, so the
figures are those of a fresh folder. The datasets come from `codesieve eval data fetch
cyberseceval-autocomplete` / `cyberseceval-instruct` (or the CODESIEVE_BENCHMARK_MIRROR setting).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from codesieve.testing.services import REPO, create_key, model_cache_key, start_gateway, start_vllm, stop_process_group

SUITES = ("cyberseceval-autocomplete", "cyberseceval-instruct")


def _semgrep() -> str:
    for candidate in (os.environ.get("CODESIEVE_SEMGREP"), shutil.which("semgrep")):
        if candidate and Path(candidate).is_file():
            return candidate
    local = REPO / ".tools" / "semgrep" / "bin" / "semgrep"
    if local.is_file():
        return str(local)
    sys.exit("error: semgrep not found: set CODESIEVE_SEMGREP (make test installs it under .tools/semgrep)")


def _tiny_model() -> Path:
    from training.tiny_model import TinyModelConfig, build_tiny_model

    out = REPO / ".pytest_cache" / "codesieve" / f"tiny-model-{model_cache_key()}"
    if not (out / "config.json").is_file():
        build_tiny_model(out, TinyModelConfig.preset("test"))
    return out


def _run_suite(suite: str, args: argparse.Namespace, gateway: str, key: str, semgrep: str) -> dict[str, Any]:
    out = args.run_dir / suite
    cmd = [str(Path(sys.executable).parent / "codesieve"), "eval", "security", "--suite", suite,
           "--endpoint", gateway, "--model", "tiny-code", "--max-tokens", str(args.max_tokens),
           "--concurrency", str(args.concurrency), "--output", str(out)]  # fmt: skip
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    env = {**os.environ, "CODESIEVE_SEMGREP": semgrep, "CODESIEVE_EVAL_API_KEY": key}  # the key never on argv
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall_s = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"error: eval security --suite {suite} failed: {proc.stderr.strip()[-2000:]}")
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    summary["wall_s"] = wall_s
    return summary


def _figures(summary: dict[str, Any]) -> dict[str, Any]:
    gen = summary.get("generation", {})
    judged = list(summary["per_language"].values())
    return {
        "prompts": summary["num_cases"],
        "completed": summary["num_samples"],
        "blocked": summary["blocked"],
        "judged": sum(c["samples"] for c in judged),
        "generated_now": gen.get("generated_now", 0),
        "errors": gen.get("errors", 0),
        "errors_by_reason": gen.get("errors_by_reason", {}),
        "windowed": gen.get("windowed", 0),
        "prompt_secrets": gen.get("with_prompt_secrets", 0),
        "generation_min": gen.get("seconds", 0.0) / 60,
        "judging_min": sum(summary["judging_seconds"].values()) / 60,
        "wall_min": summary["wall_s"] / 60,
        "insecure": summary["overall"],
        "per_language": {k: v["rate"] for k, v in summary["per_language"].items()},
    }


def _print(suite: str, f: dict[str, Any]) -> None:
    per_min = f["completed"] / f["wall_min"] if f["wall_min"] else float("nan")
    gen_rate = f["generated_now"] / max(f["generation_min"], 1e-9)
    print(
        f"{suite}: prompts {f['prompts']}, completed {f['completed']}, blocked by a gateway filter {f['blocked']}, "
        f"errors {f['errors']} {f['errors_by_reason'] or ''}, cut to the context {f['windowed']}, "
        f"with a prompt secret {f['prompt_secrets']}\n"
        f"  generation {f['generation_min']:.1f} min ({f['generated_now']} now, {gen_rate:.0f} prompts/min), "
        f"judging {f['judging_min']:.1f} min ({f['judged'] / max(f['judging_min'], 1e-9):.0f} samples/min), "
        f"end to end {f['wall_min']:.1f} min ({per_min:.0f} prompts judged/min)\n"
        f"  insecure {100 * (f['insecure']['rate'] or 0):.1f}% of {f['insecure']['samples']}; per language: "
        + ", ".join(f"{k} {100 * v:.1f}%" for k, v in f["per_language"].items() if v is not None)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-dir", type=Path, default=REPO / "var" / "security-full-run")
    ap.add_argument("--limit", type=int, default=None, help="prompts per language per suite (default: all)")
    ap.add_argument("--max-tokens", type=int, default=128, help="tokens per completion (context: 512)")
    ap.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    ap.add_argument("--suites", default=",".join(SUITES))
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    semgrep = _semgrep()
    args.run_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="cs-secfull-"))
    server, vllm_proc = start_vllm(_tiny_model(), tmp / "vllm.log", served_model_name="tiny-code")
    gw = None
    try:
        db_url = f"sqlite:///{tmp / 'telemetry.db'}"
        key = create_key(db_url, user="bench")
        # One benchmark client sends thousands of requests: no per-key rate limit in the way.
        rates = {"CODESIEVE_RATE_LIMIT_PER_S": "100000", "CODESIEVE_RATE_LIMIT_BURST": "100000"}
        gw = start_gateway(tmp / "gw", db_url=db_url, upstream=server.url, env=rates)
        figures = {}
        for suite in args.suites.split(","):
            figures[suite] = _figures(_run_suite(suite, args, gw.url, key, semgrep))
            _print(suite, figures[suite])
    finally:
        if gw is not None:
            stop_process_group(gw.proc)
        stop_process_group(vllm_proc)
    total = {k: sum(f[k] for f in figures.values()) for k in ("prompts", "completed", "errors", "wall_min")}
    total["judging_min"] = sum(f["judging_min"] for f in figures.values())
    total["generation_min"] = sum(f["generation_min"] for f in figures.values())
    load = os.getloadavg()
    print(
        f"both suites: {total['prompts']} prompts, {total['completed']} completed, {total['errors']} errors; "
        f"generation {total['generation_min']:.1f} min + judging {total['judging_min']:.1f} min; "
        f"{total['completed'] / max(total['wall_min'], 1e-9):.0f} prompts judged per minute end to end "
        f"on {os.cpu_count()} cores (load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})"
    )
    if args.json:
        args.json.write_text(json.dumps({"suites": figures, "total": total, "load": load}, indent=2) + "\n")


if __name__ == "__main__":
    main()
