"""`codesieve scan [--json] [--index DIR] [--workers N] FILE...`: the gateway's filter chain on files (CI/audits).

Exit status: 1 when anything was found, 0 when clean, 2 on error (missing file, bad index).
Many files are scanned by forked worker processes (the chain is built once, before the fork):
scanning is pure CPU work per file, so N cores give close to N times the files per second
(benchmarks/secrets_cli.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from codesieve.cli_io import cli_error

if TYPE_CHECKING:
    from gateway.filters.base import Finding
    from gateway.filters.chain import FilterChain

__all__ = ["scan"]

# Below this many files per worker, forking costs more than it saves (a fork + pool start-up is
# ~50 ms; a file takes ~3 ms).
_FILES_PER_WORKER = 64
# Set in the parent before the fork: the workers inherit it (and the loaded index's pages).
_CHAIN: FilterChain | None = None


def _scan_one(path: Path) -> tuple[list[Finding], list[tuple[int, int]]] | str:
    """Findings of one file and each finding's (line, column); or the read error's message."""
    from codesieve.core.config_secrets import config_syntax

    assert _CHAIN is not None
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    # Configuration files are read with their own syntax (unquoted values: YAML, .env, INI, ...).
    findings = _CHAIN.scan(text, syntax=config_syntax(path.name))
    positions = [(text.count("\n", 0, f.start) + 1, f.start - (text.rfind("\n", 0, f.start) + 1) + 1) for f in findings]
    return findings, positions


def _usable_cpus() -> int:
    affinity = getattr(os, "sched_getaffinity", None)  # Linux; elsewhere every CPU
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _scan_all(files: list[Path], workers: int) -> list[tuple[list[Finding], list[tuple[int, int]]] | str]:
    workers = min(workers, len(files) // _FILES_PER_WORKER)
    if workers <= 1:
        return [_scan_one(p) for p in files]
    from multiprocessing import get_context

    with get_context("fork").Pool(workers) as pool:
        return pool.map(_scan_one, files, chunksize=max(1, min(32, len(files) // (workers * 8))))


def scan(
    files: Annotated[list[Path], typer.Argument(help="Files to scan.", show_default=False)],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a JSON array, one object per file: {path, findings}.")
    ] = False,
    index: Annotated[
        Path | None, typer.Option("--index", help="Reference index directory (enables the provenance check).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Processes to scan with (default: the CPUs this process may use)."),
    ] = None,
) -> None:
    """Scan files for secrets, licence text and (with --index) near-verbatim licensed code."""
    global _CHAIN
    from gateway.filters.chain import FilterChain

    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise cli_error(f"no such file: {', '.join(missing)}")
    loaded = None
    if index is not None:
        from codesieve.core.index_store import IndexFormatError, load_index

        try:
            loaded = load_index(index)
        except IndexFormatError as exc:
            raise cli_error(str(exc)) from None
    _CHAIN = FilterChain(index=loaded)
    scanned = _scan_all(files, workers or _usable_cpus())
    for outcome in scanned:
        if isinstance(outcome, str):
            raise cli_error(outcome)
    results = [(p, o) for p, o in zip(files, scanned, strict=True) if not isinstance(o, str)]
    if json_output:
        typer.echo(
            json.dumps(
                [{"path": str(p), "findings": [f.to_dict() for f in fs]} for p, (fs, _) in results],
                indent=2,
            )
        )
    else:
        for path, (findings, positions) in results:
            for f, (line, col) in zip(findings, positions, strict=True):
                typer.echo(f"{path}:{line}:{col}: {f.reason} ({f.type}, {f.action})")
    if any(fs for _, (fs, _) in results):
        raise typer.Exit(code=1)
