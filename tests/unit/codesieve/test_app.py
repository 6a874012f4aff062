"""codesieve.app: the top layer that hands the console experiments.ab's live report (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from uvicorn.importer import import_from_string

from codesieve import app as top
from codesieve.cli import build_app
from experiments.ab.live_report import POSTGRES_ONLY_MESSAGE, build_report
from factories import make_settings
from gateway.console.reports import no_live_report


def test_the_live_report_is_the_analysis_one_and_refuses_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'telemetry.db'}"
    assert top.live_report(url, "exp") == {"error": POSTGRES_ONLY_MESSAGE}
    assert build_report(url, "exp") == {"error": POSTGRES_ONLY_MESSAGE}


def test_the_app_is_the_gateways_with_the_live_report(tmp_path: Path) -> None:
    from gateway.main import create_app as gateway_app

    settings = make_settings(tmp_path)
    assert top.create_app(settings).state.console_report is top.live_report
    assert gateway_app(settings).state.console_report is None  # the console then uses no_live_report
    assert "without the A/B analysis" in no_live_report("sqlite://", "exp")["error"]


def test_codesieve_serve_runs_the_top_layers_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.cli

    started: list[str] = []
    monkeypatch.setattr(gateway.cli, "_serve_one", lambda _settings, _level, factory: started.append(factory))
    argv = ["serve", "--upstream", "http://127.0.0.1:9", "--data-dir", str(tmp_path / "data")]
    for command in (typer.main.get_command(build_app()), typer.main.get_command(_alone(gateway.cli.serve))):
        command.main(args=argv, standalone_mode=False)
    assert started == ["codesieve.app:create_app", "gateway.main:create_app"]
    assert import_from_string(started[0]) is top.create_app


def _alone(command: object) -> typer.Typer:
    app = typer.Typer()
    app.command("serve")(command)  # type: ignore[arg-type]
    app.command("other")(lambda: None)  # two commands: `serve` stays a sub-command
    return app
