"""The `codesieve` console script: one entry point, sub-commands owned by each package.

Each package keeps its own Typer app in its `cli.py`; this module only mounts them. Heavy imports
(torch, vLLM, Spark) stay inside the command functions, so `codesieve serve --help` is instant.

Errors: commands report what they expect as one `error: ...` line and a non-zero exit themselves.
`main` makes the rest one line too: usage errors (exit 2) instead of a framed box, and, as a last
resort, any unexpected exception as `error: <type>: <message>` (exit 1); `CODESIEVE_DEBUG=1` shows
the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

try:  # typer >= 0.20 ships its own copy of click, and raises that copy's exceptions
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer runs on click itself
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

# name -> "module:attribute" of a Typer sub-app (a command group)
_GROUPS: dict[str, str] = {
    "keys": "gateway.cli:keys_app",
    "telemetry": "gateway.cli:telemetry_app",
    "index": "dedup.index_cli:index_app",
    "dedup": "dedup.cli:dedup_app",
    "train": "training.cli:train_app",
    "ab": "experiments.ab.cli:ab_app",
    "eval": "experiments.bench.cli:eval_app",
}
# name -> "module:function" of a single top-level command
_COMMANDS: dict[str, str] = {
    "serve": "codesieve.app:serve",
    "scan": "gateway.scan_cli:scan",
}


def _resolve(target: str) -> object | None:
    module_name, attr = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # A package whose CLI is not written yet contributes no commands; any other import error
        # (a missing dependency inside an existing module) is a real fault and propagates.
        if exc.name is not None and module_name.startswith(exc.name):
            return None
        raise
    return getattr(module, attr, None)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="codesieve",
        help="Privacy-and-telemetry gateway for AI code completion, and the jobs behind it.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    for name, target in _COMMANDS.items():
        func = _resolve(target)
        if callable(func):
            app.command(name)(func)
    for name, target in _GROUPS.items():
        sub = _resolve(target)
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=name)
    return app


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every failure ends as one `error:` line on stderr and a non-zero exit status."""
    try:
        rv = build_app()(args=argv, standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError as exc:
        exc.show()  # the group's help, as `no_args_is_help` intends
        sys.exit(exc.exit_code)
    except click_exceptions.ClickException as exc:  # bad options and arguments
        typer.echo(f"error: {_one_line(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("CODESIEVE_DEBUG", "").lower() in ("1", "true", "yes"):
            raise
        detail = _one_line(str(exc))[:500]
        typer.echo(f"error: {type(exc).__name__}{': ' + detail if detail else ''}", err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
