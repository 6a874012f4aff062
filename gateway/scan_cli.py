"""`codesieve scan [--json] [--index DIR] FILE...`: the gateway's filter chain on files (CI/audits).

Exit status: 1 when anything was found, 0 when clean, 2 on error (missing file, bad index).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from codesieve.cli_io import cli_error

__all__ = ["scan"]


def scan(
    files: Annotated[list[Path], typer.Argument(help="Files to scan.", show_default=False)],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a JSON array, one object per file: {path, findings}.")
    ] = False,
    index: Annotated[
        Path | None, typer.Option("--index", help="Reference index directory (enables the provenance check).")
    ] = None,
) -> None:
    """Scan files for secrets, licence text and (with --index) near-verbatim licensed code."""
    from codesieve.core.config_secrets import config_syntax
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
    chain = FilterChain(index=loaded)
    results = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise cli_error(f"cannot read {path}: {exc.strerror}") from None
        # Configuration files are read with their own syntax (unquoted values: YAML, .env, INI, ...).
        results.append((path, text, chain.scan(text, syntax=config_syntax(path.name))))
    if json_output:
        typer.echo(
            json.dumps(
                [{"path": str(p), "findings": [f.to_dict() for f in fs]} for p, _, fs in results],
                indent=2,
            )
        )
    else:
        for path, text, findings in results:
            for f in findings:
                line = text.count("\n", 0, f.start) + 1
                col = f.start - (text.rfind("\n", 0, f.start) + 1) + 1
                typer.echo(f"{path}:{line}:{col}: {f.reason} ({f.type}, {f.action})")
    if any(fs for _, _, fs in results):
        raise typer.Exit(code=1)
