"""`codesieve.cli.main`: the last-resort net turns any failure into one `error:` line (issue 13)."""

from __future__ import annotations

import pytest
import typer

from codesieve import cli


def _app_with(command: object) -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("boom")(command)  # type: ignore[arg-type]
    app.command("other")(lambda: None)
    return app


def _boom() -> None:
    raise RuntimeError("disk on fire\nsecond line")


def test_unexpected_exception_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "build_app", lambda: _app_with(_boom))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["boom"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == "error: RuntimeError: disk on fire second line\n"


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "build_app", lambda: _app_with(_boom))
    monkeypatch.setenv("CODESIEVE_DEBUG", "1")
    with pytest.raises(RuntimeError, match="disk on fire"):
        cli.main(["boom"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["boom", "--nope"], "error: No such option: --nope"),
        (["missing"], "error: No such command 'missing'."),
    ],
)
def test_usage_errors_are_one_line(
    argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "build_app", lambda: _app_with(_boom))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == message + "\n"


def test_exit_codes_of_commands_pass_through(monkeypatch: pytest.MonkeyPatch) -> None:
    def fails() -> None:
        raise typer.Exit(code=3)

    monkeypatch.setattr(cli, "build_app", lambda: _app_with(fails))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["boom"])
    assert exit_info.value.code == 3
    with pytest.raises(SystemExit) as ok:
        cli.main(["other"])
    assert ok.value.code == 0
