"""CAR, wCAR, PCW, segments and first exposure in SQL, against a plain-Python twin on the same rows.

The rows are built here (completions with languages and clients, shown events with `elapsed_ms`,
accepts, 600 s persistence checks, `activity` events, `assignments`), and the expected per-unit
columns are computed from those rows in Python, independently of the SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, create_engine

from codesieve.core.telemetry.tables import ActivityRecord, AssignmentRecord, Base, CompletionRecord, EventRecord
from experiments.ab.analysis import AbReportConfig, run_report_analysis
from experiments.ab.metrics import CAR_MIN_VISIBLE_MS, DEFAULT_METRICS, UNIT_COLUMNS, assign_roles, compute_moments
from experiments.ab.queries import fetch_summary

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

EXPERIMENT = "car-exp"
T0 = datetime(2026, 11, 2, tzinfo=UTC)
NEW_COLUMNS = UNIT_COLUMNS[UNIT_COLUMNS.index("n_suggested") :]  # CAR, wCAR and PCW sums
ALL = assign_roles(DEFAULT_METRICS)


def _build_rows(rng: np.random.Generator, n_units: int = 300) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for u in range(n_units):
        unit, arm = f"u{u:04d}", ("treatment" if rng.random() < 0.5 else "control")
        first_seen = T0 + timedelta(seconds=int(rng.integers(0, 2 * 86400)))
        rows["assignments"].append({"experiment": EXPERIMENT, "unit_id": unit, "arm": arm, "first_seen_at": first_seen})
        client = str(rng.choice(["openai", "tabby"]))
        langs = ["python", "go", "rust"][: 1 + int(rng.integers(0, 3))]
        p_accept = 0.2 + 0.3 * rng.random() + (0.1 if arm == "treatment" else 0.0)
        for j in range(1 + int(rng.poisson(6))):
            cid = f"{unit}-c{j}"
            t = first_seen + timedelta(seconds=int(rng.integers(1, 3 * 86400)))
            chars = int(rng.integers(5, 300))
            rows["completions"].append(
                {
                    "id": cid,
                    "created_at": t,
                    "unit_id": unit,
                    "experiment": EXPERIMENT,
                    "arm": arm,
                    "model": "m",
                    "language": str(rng.choice(langs)),
                    "request_shape": client,
                    "n_choices": 1,
                    "completion_chars": chars,
                    "latency_ms": float(rng.lognormal(5.5, 0.3)),
                    "filter_action": "none",
                    "is_error": False,
                }
            )
            base = {"completion_id": cid, "unit_id": unit, "experiment": EXPERIMENT, "arm": arm, "choice_index": 0}
            elapsed = float(rng.choice([120.0, 749.0, 750.0, 2400.0]))
            rows["events"].append(
                {**base, "client_event_id": f"{cid}-s", "created_at": t + timedelta(seconds=1), "kind": "shown"}
                | {"elapsed_ms": elapsed}
            )
            if rng.random() < p_accept:
                rows["events"].append(
                    {**base, "client_event_id": f"{cid}-a", "created_at": t + timedelta(seconds=2)}
                    | {"kind": "accepted", "accepted_chars": chars}
                )
                kept = bool(rng.random() < 0.8)
                rows["events"].append(
                    {**base, "client_event_id": f"{cid}-p", "created_at": t + timedelta(seconds=602)}
                    | {
                        "kind": "persisted",
                        "after_s": 600,
                        "is_persisted": kept,
                        "retained_chars": chars if kept else 0,
                    }
                )
        if rng.random() < 0.8:  # some plugins send no activity
            for k in range(int(rng.poisson(4))):
                rows["activity"].append(
                    {
                        "client_event_id": f"{unit}-act{k}",
                        "created_at": first_seen + timedelta(seconds=int(rng.integers(0, 3 * 86400))),
                        "unit_id": unit,
                        "chars_typed": int(rng.integers(0, 800)),
                        "chars_pasted": int(rng.integers(0, 2000)),
                        "period_s": 300,
                    }
                )
    return rows


def _expected_unit_columns(rows: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The per-unit columns by their written definitions, in plain Python (keyed by unit)."""
    arm = {a["unit_id"]: a["arm"] for a in rows["assignments"]}
    comp = {c["id"]: c for c in rows["completions"]}
    per_choice: dict[str, dict[str, Any]] = defaultdict(lambda: {"visible": 0.0, "accepted": False, "retained": 0.0})
    for e in rows["events"]:
        ch = per_choice[e["completion_id"]]
        ch["unit"] = e["unit_id"]
        ch["first"] = min(ch.get("first", e["created_at"]), e["created_at"])
        ch["visible"] = max(ch["visible"], e.get("elapsed_ms") or 0.0)
        if e["kind"] == "accepted":
            ch["accepted"] = True
            ch["accepted_chars"] = e["accepted_chars"]
        if e["kind"] == "persisted" and e["is_persisted"]:
            ch["retained"] += e["retained_chars"]
    unit: dict[str, dict[str, Any]] = {u: dict.fromkeys(NEW_COLUMNS, 0.0) | {"arm": a} for u, a in arm.items()}
    day: dict[tuple[str, Any], dict[str, float]] = defaultdict(lambda: {"retained": 0.0, "typed": 0.0, "acc": 0.0})
    language: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: {"n_suggested": 0.0, "n_acc": 0.0})
    for cid, ch in per_choice.items():
        suggested = ch["visible"] >= CAR_MIN_VISIBLE_MS or ch["accepted"]
        chars = float(comp[cid]["completion_chars"])
        u = unit[ch["unit"]]
        u["n_suggested"] += suggested
        u["n_suggested_accepted"] += ch["accepted"]
        u["suggested_chars"] += chars if suggested else 0.0
        u["suggested_accepted_chars"] += chars if ch["accepted"] else 0.0
        d = day[(ch["unit"], ch["first"].date())]
        d["retained"] += ch["retained"]
        d["acc"] += ch.get("accepted_chars", 0)
        seg = language[(ch["unit"], comp[cid]["language"])]
        seg["n_suggested"] += suggested
        seg["n_acc"] += ch["accepted"]
    active_days = set()
    for a in rows["activity"]:
        day[(a["unit_id"], a["created_at"].date())]["typed"] += a["chars_typed"]
        active_days.add((a["unit_id"], a["created_at"].date()))
    for key in active_days:
        unit[key[0]]["pcw_ai_chars"] += day[key]["retained"]
        unit[key[0]]["new_chars"] += day[key]["typed"] + day[key]["acc"]
    for (u, lang), seg in language.items():
        unit[u].setdefault("language", {})[lang] = seg
    return unit


@pytest.fixture(scope="module")
def seeded(pg_database: str) -> Iterator[tuple[Engine, dict[str, list[dict[str, Any]]]]]:
    rows = _build_rows(np.random.default_rng(2026))
    engine = create_engine(pg_database)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    _insert(engine, rows)
    yield engine, rows
    engine.dispose()


def _insert(engine: Engine, rows: dict[str, list[dict[str, Any]]]) -> None:
    tables = {
        "assignments": AssignmentRecord,
        "completions": CompletionRecord,
        "events": EventRecord,
        "activity": ActivityRecord,
    }
    with engine.begin() as conn:
        for name, record in tables.items():
            by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
            for r in rows.get(name, []):
                by_keys[tuple(sorted(r))].append(r)
            for values in by_keys.values():
                conn.execute(record.__table__.insert(), values)  # type: ignore[attr-defined]


def _moments_by_arm(unit: dict[str, dict[str, Any]], columns: tuple[str, ...]) -> dict[str, dict[str, float]]:
    products = [("n_suggested_accepted", "n_suggested"), ("suggested_accepted_chars", "suggested_chars")]
    products.append(("pcw_ai_chars", "new_chars"))
    out = {}
    for arm in ("control", "treatment"):
        values = {c: np.array([u[c] for u in unit.values() if u["arm"] == arm], dtype=float) for c in columns}
        out[arm] = compute_moments(values, list(columns), products)
    return out


def test_car_wcar_pcw_moments_equal_their_definitions(seeded: tuple[Engine, Any]) -> None:
    engine, rows = seeded
    summary = fetch_summary(engine, AbReportConfig(experiment=EXPERIMENT, enable_cuped=False, metrics=ALL))
    expected = _moments_by_arm(_expected_unit_columns(rows), NEW_COLUMNS)
    for arm, exp in expected.items():
        got = summary.moments_by_arm[arm]
        for key, value in exp.items():
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), (arm, key)
    # the data exercise the definitions: short views dropped, accepts counted, pastes left out
    total = summary.moments_by_arm["control"]
    assert 0 < total["sum__n_suggested_accepted"] < total["sum__n_suggested"] < total["sum__n_shown"]
    assert 0 < total["sum__pcw_ai_chars"] < total["sum__new_chars"]
    report = run_report_analysis(AbReportConfig(experiment=EXPERIMENT, enable_cuped=False, metrics=ALL), summary)
    by = {m.metric: m for m in report.comparisons[0].metrics}
    for name in ("car", "wcar", "pcw"):
        assert by[name].error_message is None, name
        assert by[name].role == "secondary"
    assert 0 < by["car"].control.mean < 1 and 0 < by["pcw"].control.mean < 1


def test_segments_by_language_and_client(seeded: tuple[Engine, Any]) -> None:
    engine, rows = seeded
    cfg = AbReportConfig(
        experiment=EXPERIMENT, enable_cuped=False, metrics=assign_roles(DEFAULT_METRICS, decision="car")
    )
    summary = fetch_summary(engine, cfg)
    assert summary.segments is not None
    assert set(summary.segments) == {"language", "client"}
    assert set(summary.segments["language"]) == {"python", "go", "rust"}
    assert set(summary.segments["client"]) == {"openai", "tabby"}
    unit = _expected_unit_columns(rows)
    for lang in ("python", "go", "rust"):
        for arm in ("control", "treatment"):
            segs = [u["language"][lang] for u in unit.values() if u["arm"] == arm and lang in u.get("language", {})]
            got = summary.segments["language"][lang][arm]
            assert got["n"] == len(segs)  # a unit is in every language it used
            assert got["sum__n_suggested"] == sum(s["n_suggested"] for s in segs)
            assert got["sum__n_suggested_accepted"] == sum(s["n_acc"] for s in segs)
    report = run_report_analysis(cfg, summary)
    comp = report.comparisons[0]
    assert len(comp.segments) == 5
    assert all(s.result.metric == "car" and s.result.p_value_adjusted is not None for s in comp.segments)
    assert any("exploratory" in n for n in report.notices)


def test_events_before_first_exposure_count_for_no_metric(seeded: tuple[Engine, Any]) -> None:
    """Units count from their first assignment: earlier rows are pre-period, for every metric."""
    engine, rows = seeded
    cfg = AbReportConfig(experiment=EXPERIMENT, start=T0 - timedelta(days=1), metrics=ALL)
    before = fetch_summary(engine, cfg)
    early: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for i, a in enumerate(rows["assignments"][:60]):
        unit, arm, t = a["unit_id"], a["arm"], a["first_seen_at"] - timedelta(minutes=30)
        cid = f"early-{i}"
        early["completions"].append(
            {
                "id": cid,
                "created_at": t,
                "unit_id": unit,
                "experiment": EXPERIMENT,
                "arm": arm,
                "model": "m",
                "language": "python",
                "request_shape": "openai",
                "completion_chars": 50,
                "latency_ms": 9999.0,
                "filter_action": "blocked",
                "is_error": True,
            }
        )
        base = {"completion_id": cid, "unit_id": unit, "experiment": EXPERIMENT, "arm": arm}
        early["events"] += [
            base | {"client_event_id": f"{cid}-s", "created_at": t, "kind": "shown", "elapsed_ms": 5000.0},
            base | {"client_event_id": f"{cid}-a", "created_at": t, "kind": "accepted", "accepted_chars": 50},
            base
            | {"client_event_id": f"{cid}-p", "created_at": t + timedelta(seconds=600), "kind": "persisted"}
            | {"after_s": 600, "is_persisted": True, "retained_chars": 50},
        ]
        early["activity"].append(
            {"client_event_id": f"{cid}-act", "created_at": t, "unit_id": unit}
            | {"chars_typed": 700, "chars_pasted": 0, "period_s": 60}
        )
    _insert(engine, early)
    after = fetch_summary(engine, cfg)
    for arm, moments in before.moments_by_arm.items():
        for key, value in moments.items():
            if key.startswith(("sum__pre_", "sumsq__pre_", "prod__")) and "pre_" in key:
                continue  # the pre-period covariate is where they belong
            assert after.moments_by_arm[arm][key] == pytest.approx(value, rel=1e-12), (arm, key)
    pre_before = sum(m["sum__pre_n_shown"] for m in before.moments_by_arm.values())
    pre_after = sum(m["sum__pre_n_shown"] for m in after.moments_by_arm.values())
    assert pre_after - pre_before == 60  # each early `shown` is in its unit's pre-period
    assert before.cumulative == after.cumulative


def test_roles_come_from_the_experiment_definition_unless_the_command_line_says(seeded: tuple[Engine, Any]) -> None:
    import json

    from typer.testing import CliRunner

    from codesieve.cli import build_app
    from codesieve.core.telemetry.tables import ExperimentRecord

    engine, _ = seeded
    definition = {"name": EXPERIMENT, "metrics": {"decision": "car", "secondary": ["wcar"], "guardrails": None}}
    table = ExperimentRecord.__table__
    with engine.begin() as conn:
        conn.execute(
            table.insert().values(name=EXPERIMENT, definition=json.dumps(definition), source="api", updated_at=T0)
        )
    url = engine.url.render_as_string(hide_password=False)
    base = ["ab", "report", "--experiment", EXPERIMENT, "--db", url, "--format", "json", "--no-cuped"]
    try:
        res = CliRunner().invoke(build_app(), base)
        assert res.exit_code == 0, res.output
        roles = [(m["metric"], m["role"]) for m in json.loads(res.stdout)["comparisons"][0]["metrics"]]
        assert roles[:2] == [("car", "decision"), ("wcar", "secondary")]
        assert {r for _, r in roles[2:]} == {"guardrail"}
        res = CliRunner().invoke(build_app(), [*base, "--decision-metric", "pcw"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["comparisons"][0]["metrics"][0]["metric"] == "pcw"
        res = CliRunner().invoke(
            build_app(), ["ab", "plan", "--experiment", EXPERIMENT, "--db", url, "--format", "json"]
        )
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["metric"] == "car"  # planned for the stored decision metric
    finally:
        with engine.begin() as conn:
            conn.execute(table.delete().where(table.c.name == EXPERIMENT))
