"""The `codesieve` console script: one entry point, sub-commands owned by each package.

Each package keeps its own Typer app in its `cli.py`; this module only mounts them. Heavy imports
(torch, vLLM, Spark) stay inside the command functions, so `codesieve serve --help` is instant.
"""

from __future__ import annotations

import importlib

import typer

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
    "serve": "gateway.cli:serve",
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
        if func is not None:
            app.command(name)(func)  # type: ignore[arg-type]
    for name, target in _GROUPS.items():
        sub = _resolve(target)
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=name)
    return app


def main() -> None:
    build_app()()


if __name__ == "__main__":
    main()
