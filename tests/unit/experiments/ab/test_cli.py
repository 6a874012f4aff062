"""`codesieve ab report|plan` on a Parquet export: outputs, and clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from codesieve.cli import build_app
from experiments.ab.parquet_export import MISSING_COLUMNS_MESSAGE
from experiments.ab.results import NO_CUPED_NO_START_MESSAGE
from experiments.ab.simulation import simulate_export_frame

runner = CliRunner()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = simulate_export_frame(
        np.random.default_rng(8),
        n_units=800,
        experiment="exp",
        start=np.datetime64("2026-11-02T00:00:00"),
        days=4,
        effect_relative=0.3,
    )
    path = tmp_path_factory.mktemp("ab_cli") / "events.parquet"
    frame.to_parquet(path)
    return path


def _report(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(build_app(), ["ab", "report", *args])
    return res.exit_code, res.stdout, res.stderr


def test_markdown_shows_srm_first_and_a_verdict(export: Path) -> None:
    code, out, _ = _report("--experiment", "exp", "--events", str(export))
    assert code == 0
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert lines[1].startswith("**Sample ratio check:**")
    assert "**Verdict: " in out
    assert NO_CUPED_NO_START_MESSAGE in out  # no --start: said, not silently skipped


def test_json_and_html_outputs(export: Path, tmp_path: Path) -> None:
    code, out, _ = _report("--experiment", "exp", "--events", str(export), "--format", "json", "--start", "2026-11-02")
    assert code == 0
    data = json.loads(out)
    assert data["srm"]["units"]["control"] + data["srm"]["units"]["treatment"] == 800
    assert data["config"]["start"] == "2026-11-02T00:00:00+00:00"
    assert data["config"]["versions"]["statsmodels"] != "not installed"
    assert data["comparisons"][0]["cumulative"]
    html_path = tmp_path / "r.html"
    code, _, _ = _report("--experiment", "exp", "--events", str(export), "--format", "html", "--output", str(html_path))
    assert code == 0
    html = html_path.read_text()
    assert html.count("data:image/png;base64,") == 3  # srm, forest, cumulative
    assert not (tmp_path / "r.html.tmp").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--experiment", "exp"], "exactly one of --db URL or --events"),
        (["--experiment", "exp", "--events", "/nonexistent.parquet"], "no such file"),
        (["--experiment", "missing", "--events", "{export}"], "No telemetry found"),
        (["--experiment", "exp", "--events", "{export}", "--format", "pdf"], "--format"),
        (["--experiment", "exp", "--events", "{export}", "--weights", "a,b"], "--weights"),
        (["--experiment", "exp", "--events", "{export}", "--weights", "1,1,1"], "3 values"),
        (["--experiment", "exp", "--events", "{export}", "--control", "x"], "Control arm 'x'"),
        (["--experiment", "exp", "--events", "{export}", "--start", "yesterday"], "ISO"),
        (["--experiment", "exp", "--events", "{export}", "--db", "postgresql://x/y"], "exactly one"),
        (["--experiment", "exp", "--db", "sqlite:///unused.db"], "targets PostgreSQL"),
    ],
)
def test_bad_input_is_a_clear_error(export: Path, args: list[str], message: str) -> None:
    code, out, err = _report(*[a.replace("{export}", str(export)) for a in args])
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err


def test_a_parquet_that_is_not_an_export(tmp_path: Path) -> None:
    import pandas as pd

    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"x": [1]}).to_parquet(bad)
    code, _, err = _report("--experiment", "exp", "--events", str(bad))
    assert code == 2
    assert MISSING_COLUMNS_MESSAGE.split(":")[0] in err
    not_parquet = tmp_path / "x.parquet"
    not_parquet.write_text("hello")
    code, _, err = _report("--experiment", "exp", "--events", str(not_parquet))
    assert code == 2 and "not a readable Parquet export" in err


def test_plan_from_history(export: Path) -> None:
    res = runner.invoke(
        build_app(), ["ab", "plan", "--experiment", "exp", "--events", str(export), "--mde", "0.1", "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    plan = json.loads(res.stdout)
    assert plan["design_effect"] > 1
    assert plan["power"] == pytest.approx(0.8, abs=0.01)
    res = runner.invoke(
        build_app(),
        ["ab", "plan", "--experiment", "exp", "--events", str(export), "--units-per-arm", "1000", "--mde", "0.1"],
    )
    assert res.exit_code == 0
    assert "units per arm: 1000" in res.stdout and "design effect" in res.stdout


def test_metric_roles_on_the_command_line_and_in_the_report(export: Path) -> None:
    """Issue 20: roles are explicit, stated with their definitions, and chosen on the command line."""
    code, out, _ = _report("--experiment", "exp", "--events", str(export))
    assert code == 0
    assert "### Decision metric" in out and "### Secondary metrics (holm-adjusted among themselves" in out
    assert "| acceptance_rate | decision |" in out
    assert "Not computable from this source, left out: car, wcar, pcw." in out  # a Parquet export
    code, out, _ = _report(
        "--experiment", "exp", "--events", str(export), "--format", "json", "--decision-metric", "persistence_rate_30s"
    )
    assert code == 0
    metrics = json.loads(out)["comparisons"][0]["metrics"]
    assert metrics[0]["metric"] == "persistence_rate_30s" and metrics[0]["role"] == "decision"
    assert {m["metric"]: m["role"] for m in metrics}["acceptance_rate"] == "secondary"
    code, out, _ = _report("--experiment", "exp", "--events", str(export), "--format", "json", "--secondary", "")
    assert code == 0
    assert [m["role"] for m in json.loads(out)["comparisons"][0]["metrics"]].count("secondary") == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--decision-metric", "nope"), "unknown metric 'nope'"),
        (("--secondary", "acceptance_rate"), "only one role"),
        (("--guardrails", "car"), "no non-inferiority margin"),
        (("--decision-metric", "car"), "cannot be computed from this source"),
    ],
)
def test_bad_metric_roles_are_one_clear_line(export: Path, args: tuple[str, ...], message: str) -> None:
    code, out, err = _report("--experiment", "exp", "--events", str(export), *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err


def test_plan_is_for_the_decision_metric(export: Path) -> None:
    base = ["ab", "plan", "--experiment", "exp", "--events", str(export), "--format", "json"]
    acc = json.loads(runner.invoke(build_app(), base).stdout)
    res = runner.invoke(build_app(), [*base, "--metric", "persistence_rate_30s"])
    assert res.exit_code == 0, res.output
    persistence = json.loads(res.stdout)
    assert persistence["baseline_mean"] > 0.5 > acc["baseline_mean"]  # ~93 % persist vs ~24 % accepted
    res = runner.invoke(build_app(), [*base, "--metric", "car"])
    assert res.exit_code == 2 and "cannot be computed from this source" in res.stderr
