"""`codesieve eval run --strict-protocol` refuses sampling that cannot estimate what it reports."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from codesieve.cli import build_app

pytestmark = pytest.mark.integration


def test_strict_protocol_refuses_before_any_request(tmp_path: Path) -> None:
    # nothing listens on port 9: a refusal must come before any request is made
    args = ["eval", "run", "--benchmark", "humaneval", "--output", str(tmp_path / "o")]
    args += ["--endpoint", "http://127.0.0.1:9", "--model", "m", "-n", "5", "--temperature", "0.8"]
    result = CliRunner().invoke(build_app(), [*args, "--strict-protocol"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: pass@10/100 not estimated: pass@k needs n >= k samples per task (n=5) (--strict-protocol)"
    )
    assert not (tmp_path / "o").exists()
