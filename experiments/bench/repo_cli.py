"""`codesieve eval repo mine|run|samples`: repository-level evaluation; parse options, call, print one line.

Bad input is one `error: ...` line on stderr and exit code 2, never a traceback; outputs are written
whole or not at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from codesieve.cli_io import cli_error

__all__ = ["repo_app"]

repo_app = typer.Typer(
    help="Repository-level evaluation: tasks mined from a repository, judged by its own tests in the sandbox.",
    no_args_is_help=True,
)

EnvOpt = typer.Option(
    None,
    "--env",
    help="site-packages folder(s) with pytest, coverage and the tests' dependencies, mounted read-only "
    "in the sandbox (default: this interpreter's)",
)


def _env_paths(env: list[Path] | None) -> tuple[str, ...]:
    from experiments.bench.repo.executor import default_env_paths

    if not env:
        return default_env_paths()
    missing = [str(p) for p in env if not p.is_dir()]
    if missing:
        raise cli_error(f"--env: not a folder: {', '.join(missing)}")
    return tuple(str(p.resolve()) for p in env)


@repo_app.command("mine")
def mine(
    repo: Path = typer.Option(..., "--repo", help="the repository (a git work tree or a plain folder)"),
    test_cmd: str = typer.Option("python -m pytest -q", "--test-cmd", help="its pytest command line"),
    output: Path = typer.Option(..., "--output", help="tasks file to write (JSONL); a journal goes beside it"),
    seed: int = typer.Option(0, help="the selection's seed: the same seed gives the same tasks"),
    max_tasks: int = typer.Option(100, min=1, max=100_000, help="stop after this many tasks"),
    max_candidates: int | None = typer.Option(None, min=1, help="functions examined at most (default 3x max-tasks)"),
    min_body_lines: int = typer.Option(1, min=1, help="shortest body (lines)"),
    max_body_lines: int = typer.Option(30, min=1, help="longest body (lines)"),
    max_test_s: float = typer.Option(5.0, min=0.01, help="slower tests (at HEAD) are not oracles"),
    max_oracle_tests: int = typer.Option(20, min=1, max=1000, help="covering tests tried per function"),
    suite_timeout: float = typer.Option(300.0, min=1.0, max=86_400.0, help="seconds for one whole-suite run"),
    env: list[Path] | None = EnvOpt,
    workers: int | None = typer.Option(None, min=1, help="parallel sandboxes (default: CPU cores)"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Mine one fill-in-the-middle task per function the repository's tests exercise."""
    from codesieve.cli_io import OutputError, probe_output_file
    from experiments.bench.repo.mine import MineConfig, mine_tasks
    from experiments.bench.sandbox import SandboxError, check_sandbox_available

    if min_body_lines > max_body_lines:
        raise cli_error("--min-body-lines is larger than --max-body-lines")
    cfg = MineConfig(
        repo=repo.resolve(),
        test_cmd=test_cmd,
        output=output,
        seed=seed,
        max_tasks=max_tasks,
        max_candidates=max_candidates,
        min_body_lines=min_body_lines,
        max_body_lines=max_body_lines,
        max_test_s=max_test_s,
        max_oracle_tests=max_oracle_tests,
        suite_timeout_s=suite_timeout,
        env_paths=_env_paths(env),
        workers=workers or os.cpu_count() or 1,
        progress=progress,
    )
    try:
        probe_output_file(output)
        check_sandbox_available()
        result = mine_tasks(cfg)
    except (OutputError, SandboxError, ValueError, OSError) as exc:
        raise cli_error(str(exc)) from None
    typer.echo(
        json.dumps(
            {
                "tasks": len(result.tasks),
                "repo_version": result.repo_version,
                "stable_tests": result.stable_tests,
                "candidates": result.candidates,
                "examined": result.examined,
                "rejected": result.rejected,
                "output": str(output),
            }
        )
    )


@repo_app.command("run")
def run(
    tasks: Path = typer.Option(..., "--tasks", help="a tasks file from `eval repo mine`"),
    output: Path = typer.Option(..., "--output", help="run directory (resumed when it exists)"),
    samples: Path | None = typer.Option(None, help="pre-generated samples: JSONL of task_id/completion (the body)"),
    endpoint: str | None = typer.Option(None, help="gateway base URL (OpenAI /v1/completions with suffix)"),
    model: str | None = typer.Option(None, help="model name to request"),
    n: int = typer.Option(1, "-n", help="samples per task"),
    temperature: float = typer.Option(0.2),
    top_p: float = typer.Option(0.95),
    max_tokens: int = typer.Option(256),
    seed: int = typer.Option(1234),
    api_key: str | None = typer.Option(None, help="bearer token for the gateway (not stored)"),
    repo: Path | None = typer.Option(None, "--repo", help="where the repository is now (default: where it was mined)"),
    env: list[Path] | None = EnvOpt,
    workers: int | None = typer.Option(None, min=1, help="parallel sandboxes (default: CPU cores)"),
    timeout: float | None = typer.Option(None, min=1.0, max=3600.0, help="seconds per sample (default 30 + 5x oracle)"),
    limit: int | None = typer.Option(None, min=1, help="only the first N tasks"),
    prefix_chars: int = typer.Option(8000, min=1, help="generation: characters of context + prefix sent"),
    suffix_chars: int = typer.Option(2000, min=0, help="generation: characters of suffix sent"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Generate (or read) completions, judge each with its task's oracle tests in the sandbox, write pass@k."""

    from codesieve.cli_io import OutputError, prepare_output_dir
    from experiments.bench.cli_runs import generation_config, run_or_fail
    from experiments.bench.repo.generate import PromptWindow
    from experiments.bench.repo.run import RepoRunConfig, run_repo_eval

    if (samples is None) == (endpoint is None):
        raise cli_error("give exactly one of --samples FILE or --endpoint URL --model NAME")
    for path, what in ((tasks, "tasks"), (samples, "samples")):
        if path is not None and not path.is_file():
            raise cli_error(f"{what} file not found: {path}")
    gen = generation_config(endpoint, model, n, temperature, top_p, max_tokens, seed, api_key)
    cfg = RepoRunConfig(
        tasks_file=tasks,
        output_dir=output,
        samples_file=samples,
        generation=gen,
        repo=repo,
        env_paths=_env_paths(env),
        workers=workers or os.cpu_count() or 1,
        timeout_s=timeout,
        limit=limit,
        window=PromptWindow(prefix_chars, suffix_chars),
        progress=progress,
    )
    try:
        created = prepare_output_dir(output)
    except OutputError as exc:
        raise cli_error(str(exc)) from None
    summary = run_or_fail(lambda: run_repo_eval(cfg), output=output, created=created, endpoint=endpoint)
    typer.echo(
        json.dumps(
            {
                "benchmark": summary["benchmark"]["name"],
                **summary["pass_at_k"],
                "samples": summary["num_samples"],
                "categories": summary["categories"],
                "output": str(output),
            }
        )
    )


@repo_app.command("samples")
def reference(
    tasks: Path = typer.Option(..., "--tasks", help="a tasks file from `eval repo mine`"),
    kind: str = typer.Option(..., help="original | notimpl | swap"),
    output: Path = typer.Option(..., "--output", help="samples JSONL to write (for `eval repo run --samples`)"),
) -> None:
    """Reference completions: the original bodies (100%), NotImplementedError (0%), swapped bodies (~0%)."""
    from dataclasses import asdict

    from codesieve.cli_io import OutputError, probe_output_file
    from codesieve.core.atomic_files import write_text_atomic
    from experiments.bench.repo.references import REFERENCE_KINDS, reference_samples
    from experiments.bench.repo.tasks import read_tasks

    if kind not in REFERENCE_KINDS:
        raise cli_error(f"unknown --kind {kind!r}; known: {', '.join(REFERENCE_KINDS)}")
    try:
        probe_output_file(output)
        rows = reference_samples(read_tasks(tasks), kind)  # type: ignore[arg-type]
        write_text_atomic(output, "".join(json.dumps(asdict(s)) + "\n" for s in rows))
    except (OutputError, ValueError, OSError) as exc:
        raise cli_error(str(exc)) from None
    typer.echo(json.dumps({"kind": kind, "samples": len(rows), "output": str(output)}))
