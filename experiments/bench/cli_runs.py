"""What the eval commands share for a run: generation options, a run into its folder, atomic outputs.

Used by cli.py (`eval run`, `security`, ...) and repo_cli.py (`eval repo ...`), which cli.py mounts, so
neither imports the other's helpers.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from codesieve.cli_io import cli_error


def remove_if_unused(output: Path) -> None:
    """Remove a run folder this invocation created when it holds no samples and no results."""
    if any((output / name).is_file() and (output / name).stat().st_size for name in ("samples.jsonl", "results.jsonl")):
        return  # resumable progress: keep it
    shutil.rmtree(output, ignore_errors=True)


def run_or_fail(
    run: Callable[[], dict[str, Any]], *, output: Path, created: bool, endpoint: str | None
) -> dict[str, Any]:
    """Run an evaluation into `output`; a failure is one error line (exit 2), Ctrl-C exit 130.

    A run folder this invocation created is removed again when the run failed before it wrote
    anything resumable.
    """
    import httpx

    from experiments.bench.run import EvalInterrupted
    from experiments.bench.sandbox import SandboxError

    try:
        return run()
    except EvalInterrupted as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=130) from None
    except (ValueError, OSError, SandboxError, RuntimeError, httpx.HTTPError) as exc:
        if created:
            remove_if_unused(output)
        if isinstance(exc, httpx.HTTPError):
            raise cli_error(f"generation failed at {endpoint}: {type(exc).__name__}: {exc}") from None
        raise cli_error(str(exc)) from None


def generation_config(
    endpoint: str | None,
    model: str | None,
    n: int,
    temperature: float,
    top_p: float,
    max_tokens: int,
    seed: int,
    api_key: str | None,
) -> Any:
    """The generation options of `eval run` / `eval repo run` as a GenerationConfig (None without --endpoint)."""
    from experiments.bench.generate import GenerationConfig

    if endpoint is None:
        return None
    if not model:
        raise cli_error("--endpoint needs --model")
    if n < 1:
        raise cli_error("-n must be at least 1")
    return GenerationConfig(
        endpoint=endpoint,
        model=model,
        n=n,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        seed=seed,
        api_key=api_key,
    )
