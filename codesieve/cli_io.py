"""What every command line shares: one error line for bad input, and refusing an unwritable --output
before any work starts.

Each command calls one of these on its output before it trains, samples or judges anything, so a path
nobody can write to is one clear error line (`cannot write ...`) instead of a traceback at the end of
the job. They probe by doing (creating the folder, or a temporary file beside the output) rather than
by `os.access`, which says yes to root on file systems that refuse it anyway.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer

__all__ = ["OutputError", "cli_error", "prepare_output_dir", "probe_output_file", "probe_output_parent"]


def cli_error(message: str, code: int = 2) -> typer.Exit:
    """Print `error: MESSAGE` on stderr and return the exit to raise (`raise cli_error(...) from None`)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=code)


class OutputError(ValueError):
    """The output path cannot be written; the message names the path and the reason."""


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def prepare_output_dir(path: Path) -> bool:
    """Create folder `path` (and its parents) if needed and check a file can be made in it.

    Returns:
        True when this call created the folder (the caller removes it if the job then fails early).
    Raises:
        OutputError: the folder cannot be created or written to.
    """
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".codesieve-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_reason(exc)}") from None
    return created


def probe_output_file(path: Path) -> None:
    """Check that file `path` can be written (its folder exists or can be made, and takes files).

    Raises:
        OutputError: it cannot; nothing is left behind but the parent folders made on the way.
    """
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory")
    probe_output_parent(path)


def probe_output_parent(path: Path) -> None:
    """Check that `path` can be created or replaced (a file or folder written beside it, then renamed).

    Raises:
        OutputError: its folder cannot be made or takes no files.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_reason(exc)}") from None
