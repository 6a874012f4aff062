"""The SQL path (PostgreSQL, aggregation in SQL) equals the Parquet path on the same telemetry."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, create_engine, text
from typer.testing import CliRunner

from codesieve.cli import build_app
from codesieve.core.telemetry.tables import Base, ExperimentRecord
from experiments.ab.analysis import AbReportConfig
from experiments.ab.metrics import DEFAULT_METRICS, assign_roles
from experiments.ab.parquet_export import load_summary
from experiments.ab.queries import copy_export_frame, fetch_experiment_start, fetch_summary
from experiments.ab.results import NO_CUPED_NO_START_MESSAGE, NO_PRE_PERIOD_MESSAGE
from experiments.ab.simulation import simulate_export_frame

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

START = datetime(2026, 11, 2, tzinfo=UTC)
EXPERIMENT = "fim-template-v2"
# What a Parquet export can compute (no elapsed_ms, completion lengths or activity: no CAR/wCAR/PCW)
EXPORT_SECONDARY = (
    *(f"persistence_rate_{s}s" for s in (15, 30, 120, 300, 600)),
    "retained_chars_per_unit",
    "shown_per_unit",
)
EXPORT_METRICS = assign_roles(DEFAULT_METRICS, secondary=EXPORT_SECONDARY)


@pytest.fixture(scope="module")
def seeded(pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Path, str]]:
    frame = simulate_export_frame(
        np.random.default_rng(42),
        n_units=1500,
        experiment=EXPERIMENT,
        start=np.datetime64("2026-11-02T00:00:00"),
        days=5,
        effect_relative=0.30,
    )
    # a second experiment's rows in the same tables must not leak into the report
    other = simulate_export_frame(
        np.random.default_rng(43), n_units=200, experiment="other", start=np.datetime64("2026-11-02T00:00:00"), days=5
    )
    for col in ("id", "completion_id", "unit_id"):
        other[col] = "o" + other[col].astype(str)
    engine = create_engine(pg_database)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    copy_export_frame(engine, frame)
    copy_export_frame(engine, other)
    path = tmp_path_factory.mktemp("ab") / "events.parquet"
    import pandas as pd

    pd.concat([frame, other], ignore_index=True).to_parquet(path)
    yield engine, path, pg_database
    engine.dispose()


def _close(a: Any, b: Any, path: str = "") -> None:
    """Recursive equality with a float tolerance (SQL and numpy sum in different orders)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float) and not (math.isnan(a) and math.isnan(b)):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-9), path
    else:
        assert a == b, path


def test_sql_moments_equal_parquet_moments(seeded: tuple[Engine, Path, str]) -> None:
    engine, path, _ = seeded
    cfg = AbReportConfig(experiment=EXPERIMENT, start=START, metrics=EXPORT_METRICS)
    sql, pq = fetch_summary(engine, cfg), load_summary(path, cfg)
    assert sql.with_cuped and pq.with_cuped
    assert sorted(sql.moments_by_arm) == ["control", "treatment"]
    _close(sql.moments_by_arm, pq.moments_by_arm)
    _close(sql.descriptive, pq.descriptive)
    assert sql.moments_by_arm["control"]["n"] + sql.moments_by_arm["treatment"]["n"] == 1500
    assert sql.moments_by_arm["control"]["sum__pre_n_shown"] > 0  # the pre-period was found
    # the cumulative series: window functions in SQL == numpy over per-(unit, day) rows
    assert sql.cumulative is not None and pq.cumulative is not None
    assert [d for d, _ in sql.cumulative["control"]] == [d for d, _ in pq.cumulative["control"]]
    assert len(sql.cumulative["control"]) >= 5
    _close(
        {k: [list(p) for p in v] for k, v in sql.cumulative.items()},
        {k: [list(p) for p in v] for k, v in pq.cumulative.items()},
    )
    last = sql.cumulative["treatment"][-1][1]
    assert last["n"] == sql.moments_by_arm["treatment"]["n"]  # every unit counted by the end
    assert last["sum__n_shown"] == sql.moments_by_arm["treatment"]["sum__n_shown"]


def test_the_gateway_export_feeds_the_parquet_path(seeded: tuple[Engine, Path, str], tmp_path: Path) -> None:
    """`codesieve telemetry export` (gateway) writes what the report reads: same moments as SQL."""
    from gateway.telemetry.export import export_parquet

    engine, _, _ = seeded
    cfg = AbReportConfig(experiment=EXPERIMENT, start=START, metrics=EXPORT_METRICS)
    full = tmp_path / "all.parquet"
    export_parquet(engine, full)
    _close(fetch_summary(engine, cfg).moments_by_arm, load_summary(full, cfg).moments_by_arm)
    # an export of the experiment alone has no pre-period: CUPED says so instead of pretending
    only = tmp_path / "only.parquet"
    export_parquet(engine, only, experiment=EXPERIMENT)
    assert NO_PRE_PERIOD_MESSAGE in load_summary(only, cfg).notices


def test_report_json_is_the_same_from_db_and_parquet(seeded: tuple[Engine, Path, str]) -> None:
    _, path, url = seeded
    runner = CliRunner()
    common = ["ab", "report", "--experiment", EXPERIMENT, "--format", "json", "--start", START.isoformat()]
    common += ["--secondary", ",".join(EXPORT_SECONDARY)]
    from_db = runner.invoke(build_app(), [*common, "--db", url])
    from_pq = runner.invoke(build_app(), [*common, "--events", str(path)])
    assert from_db.exit_code == 0, from_db.output
    assert from_pq.exit_code == 0, from_pq.output
    db_json, pq_json = json.loads(from_db.stdout), json.loads(from_pq.stdout)
    _close(db_json, pq_json)
    comp = db_json["comparisons"][0]
    acceptance = comp["metrics"][0]
    assert acceptance["metric"] == "acceptance_rate"
    assert acceptance["relative"]["ci_low"] > 0  # the planted +30 % is found
    assert any(m["is_cuped"] for m in comp["metrics"])
    assert len(comp["cumulative"]) >= 5  # one point per day
    assert [m["role"] for m in comp["metrics"][:2]] == ["decision", "secondary"]


def test_parquet_leaves_out_what_it_cannot_compute(seeded: tuple[Engine, Path, str]) -> None:
    _, path, _ = seeded
    summary = load_summary(path, AbReportConfig(experiment=EXPERIMENT))
    assert summary.unavailable_metrics == ("car", "wcar", "pcw")
    assert any("car, wcar, pcw" in n for n in summary.notices)
    res = CliRunner().invoke(
        build_app(), ["ab", "report", "--experiment", EXPERIMENT, "--events", str(path), "--decision-metric", "car"]
    )
    assert res.exit_code == 2
    assert "cannot be computed from this source" in res.stderr


def test_without_a_start_cuped_is_off_and_said(seeded: tuple[Engine, Path, str]) -> None:
    engine, _, _ = seeded
    assert fetch_experiment_start(engine, EXPERIMENT) is None  # no experiments row
    summary = fetch_summary(engine, AbReportConfig(experiment=EXPERIMENT))
    assert not summary.with_cuped
    assert NO_CUPED_NO_START_MESSAGE in summary.notices
    assert not any(k.startswith("sum__pre_") for k in summary.moments_by_arm["control"])


def test_start_is_read_from_the_experiments_table(seeded: tuple[Engine, Path, str]) -> None:
    engine, _, _ = seeded
    table = ExperimentRecord.__table__
    with engine.begin() as conn:
        conn.execute(
            table.insert().values(name=EXPERIMENT, definition="{}", source="file", start_at=START, updated_at=START)
        )
    try:
        assert fetch_experiment_start(engine, EXPERIMENT) == START
        summary = fetch_summary(engine, AbReportConfig(experiment=EXPERIMENT))
        assert summary.with_cuped and not summary.notices
    finally:
        with engine.begin() as conn:
            conn.execute(table.delete().where(table.c.name == EXPERIMENT))


def test_a_database_without_the_experiments_table(seeded: tuple[Engine, Path, str]) -> None:
    engine, _, _ = seeded
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE experiments RENAME TO experiments_hidden"))
    try:
        assert fetch_experiment_start(engine, EXPERIMENT) is None
        assert NO_CUPED_NO_START_MESSAGE in fetch_summary(engine, AbReportConfig(experiment=EXPERIMENT)).notices
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE experiments_hidden RENAME TO experiments"))


def test_unknown_experiment_and_bad_url_are_clear_errors(seeded: tuple[Engine, Path, str]) -> None:
    _, _, url = seeded
    runner = CliRunner()
    res = runner.invoke(build_app(), ["ab", "report", "--experiment", "nope", "--db", url])
    assert res.exit_code == 2
    assert "No telemetry found for experiment 'nope'" in res.stderr
    bad = url.rsplit("/", 1)[0] + "/codesieve_no_such_db"
    res = runner.invoke(build_app(), ["ab", "report", "--experiment", EXPERIMENT, "--db", bad])
    assert res.exit_code == 2
    assert "database query failed" in res.stderr
    assert "Traceback" not in res.output
