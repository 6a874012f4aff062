"""semgrep is called offline: a local rule file, no metrics, no version check, a cleared environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.bench.semgrep_runner import SemgrepMissing, run_semgrep, semgrep_command, semgrep_env


def test_command_is_offline() -> None:
    argv = semgrep_command("/opt/semgrep", Path("/rules/python.json"), Path("/tmp/samples"), jobs=2)
    assert argv[:4] == ["/opt/semgrep", "scan", "--config", "/rules/python.json"]
    assert {"--metrics=off", "--disable-version-check", "--oss-only"} <= set(argv)
    assert argv.count("--config") == 1  # no registry pack beside the local file
    assert argv[-1] == "/tmp/samples"


def test_env_is_cleared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SEMGREP_APP_TOKEN", "should-not-pass")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:1")
    env = semgrep_env(tmp_path)
    assert set(env) == {"PATH", "HOME", "LANG", "SEMGREP_ENABLE_VERSION_CHECK", "SEMGREP_SEND_METRICS"}
    assert env["HOME"] == str(tmp_path) and env["SEMGREP_SEND_METRICS"] == "off"


def test_missing_semgrep_is_a_clear_error(tmp_path: Path) -> None:
    rules = tmp_path / "r.json"
    rules.write_text('{"rules": []}')
    with pytest.raises(SemgrepMissing, match="semgrep not found .*CODESIEVE_SEMGREP"):
        run_semgrep(str(tmp_path / "no-semgrep"), rules, tmp_path)
