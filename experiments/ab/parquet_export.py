"""Parquet adapter: reads the telemetry export and computes the same per-arm moments as queries.py.

Export format (written by `codesieve telemetry export`; one row per record):

| column              | type                 | completion rows            | event rows                         |
|---------------------|----------------------|----------------------------|------------------------------------|
| record_type         | string               | "completion"               | "event"                            |
| id                  | string               | completion id              | event id                           |
| completion_id       | string               | = id                       | the completion it is about         |
| experiment, arm     | string (nullable)    | as recorded                | as recorded                        |
| unit_id             | string               | pseudonymous unit          | pseudonymous unit                  |
| created_at          | timestamp[UTC]       | request time               | event time                         |
| kind                | string (nullable)    | null                       | shown/accepted/dismissed/persisted |
| accepted_chars      | int64 (nullable)     | null                       | accepted events                    |
| accepted_lines      | int64 (nullable)     | null                       | accepted events                    |
| after_s             | int64 (nullable)     | null                       | persisted: 15/30/120/300/600       |
| edit_distance_ratio | float64 (nullable)   | null                       | persisted events                   |
| is_persisted        | bool (nullable)      | null                       | persisted events                   |
| retained_chars      | int64 (nullable)     | null                       | persisted events                   |
| latency_ms          | float64 (nullable)   | end-to-end latency         | null                               |
| filter_action       | string (nullable)    | none/annotated/redacted/blocked | null                          |
| is_error            | bool (nullable)      | failed request             | null                               |

Per-unit definitions are the SQL ones (metrics.UNIT_COLUMNS); the integration test holds the two
paths equal on the same data. The export has no `elapsed_ms`, no completion lengths and no activity,
so CAR, wCAR and PCW are left out here (with a notice), and it has no assignments: a unit counts from
its first event. Each completion's events are dated by its first event, as in SQL.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from codesieve.core.telemetry.export_schema import SCHEMA as EXPORT_SCHEMA
from experiments.ab.analysis import (
    AbReportConfig,
    DailyRows,
    TelemetrySummary,
    build_cumulative,
)
from experiments.ab.metrics import (
    PERSISTENCE_AFTER_S,
    RETAINED_AFTER_S,
    MetricSpec,
    compute_moments,
    decision_metric,
    required_moments,
)
from experiments.ab.results import NO_CUPED_NO_START_MESSAGE, NO_PRE_PERIOD_MESSAGE, UNAVAILABLE_METRICS_MESSAGE

logger = logging.getLogger(__name__)

# The gateway's exporter owns the format; the report reads exactly its columns.
EXPORT_COLUMNS: tuple[str, ...] = tuple(EXPORT_SCHEMA.names)
MISSING_COLUMNS_MESSAGE = "Parquet export lacks columns: {missing}"


class ExportFormatError(ValueError):
    """The file is not a telemetry export (missing columns)."""


def read_export(path: Path) -> pd.DataFrame:
    """The export as a DataFrame (created_at as UTC timestamps)."""
    schema_names = set(pq.read_schema(path).names)
    missing = [c for c in EXPORT_COLUMNS if c not in schema_names]
    if missing:
        raise ExportFormatError(MISSING_COLUMNS_MESSAGE.format(missing=", ".join(missing)))
    frame = pq.read_table(path, columns=list(EXPORT_COLUMNS)).to_pandas()
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    return frame


def _event_unit_columns(ev: pd.DataFrame, keys: list[str], prefix: str = "") -> pd.DataFrame:
    persisted = (ev["kind"] == "persisted") & ev["is_persisted"].fillna(False).astype(bool)
    cols = {f"{prefix}n_shown": (ev["kind"] == "shown").astype(float)}
    if not prefix:
        cols["n_accepted"] = (ev["kind"] == "accepted").astype(float)
        for s in PERSISTENCE_AFTER_S:
            cols[f"n_persisted_{s}s"] = (persisted & (ev["after_s"] == s)).astype(float)
    at_retained = persisted & (ev["after_s"] == RETAINED_AFTER_S)
    cols[f"{prefix}retained_chars"] = np.where(at_retained, ev["retained_chars"].fillna(0).astype(float), 0.0)
    frame = pd.DataFrame(cols, index=ev.index)
    frame[keys] = ev[keys]
    return frame.groupby(keys, sort=False).sum()


def compute_unit_frame(frame: pd.DataFrame, experiment: str, *, start: datetime | None, pre_days: int) -> pd.DataFrame:
    """Per-(unit, arm) columns of metrics.UNIT_COLUMNS (+ PRE_COLUMNS), as build_unit_query."""
    in_exp = frame[(frame["experiment"] == experiment) & frame["arm"].notna()]
    keys = ["unit_id", "arm"]
    ev = in_exp[in_exp["record_type"] == "event"]
    co = in_exp[in_exp["record_type"] == "completion"]
    co_cols = pd.DataFrame(
        {
            "n_completions": 1.0,
            "latency_ms_sum": co["latency_ms"].fillna(0).astype(float),
            "n_blocked": (co["filter_action"] == "blocked").astype(float),
            "n_redacted": (co["filter_action"] == "redacted").astype(float),
            "n_errors": co["is_error"].fillna(False).astype(bool).astype(float),
        },
        index=co.index,
    )
    co_cols[keys] = co[keys]
    unit = (
        _event_unit_columns(ev, keys)
        .join(co_cols.groupby(keys, sort=False).sum(), how="outer")
        .fillna(0.0)
        .reset_index()
    )
    if start is not None:
        all_ev = frame[frame["record_type"] == "event"]
        window = all_ev[
            (all_ev["created_at"] >= pd.Timestamp(start - timedelta(days=pre_days)))
            & (all_ev["created_at"] < pd.Timestamp(start))
        ]
        pre = _event_unit_columns(window, ["unit_id"], prefix="pre_").reset_index()
        unit = unit.merge(pre, on="unit_id", how="left").fillna({"pre_n_shown": 0.0, "pre_retained_chars": 0.0})
    return unit


def load_summary(path: Path, cfg: AbReportConfig) -> TelemetrySummary:
    """Everything the report needs from a Parquet export (same numbers as queries.fetch_summary)."""
    frame = read_export(path)
    notices: list[str] = []
    start = cfg.start if cfg.enable_cuped else None
    if cfg.enable_cuped and start is None:
        notices.append(NO_CUPED_NO_START_MESSAGE)
    unit = compute_unit_frame(frame, cfg.experiment, start=start, pre_days=cfg.pre_period_days)
    if start is not None and not unit.empty and float(unit["pre_n_shown"].sum()) == 0.0:
        notices.append(NO_PRE_PERIOD_MESSAGE)
    available = tuple(m for m in cfg.metrics if _computable(m, unit.columns))
    unavailable = tuple(m.name for m in cfg.metrics if m not in available)
    if unavailable:
        notices.append(UNAVAILABLE_METRICS_MESSAGE.format(metrics=", ".join(unavailable)))
    columns, products = required_moments(available, with_cuped=start is not None)
    moments = {
        str(arm): compute_moments({c: g[c].to_numpy() for c in g.columns}, columns, products)
        for arm, g in unit.groupby("arm", sort=True)
    }
    in_exp = frame[(frame["experiment"] == cfg.experiment) & frame["arm"].notna()]
    daily = _daily(in_exp)
    decision = decision_metric(available)
    cumulative = None
    if daily is not None and decision is not None and _computable(decision, daily.values.keys()):
        cumulative = build_cumulative(daily, decision)
    return TelemetrySummary(
        moments_by_arm=moments,
        cumulative=cumulative,
        descriptive=_descriptive(in_exp),
        notices=notices,
        with_cuped=start is not None,
        unavailable_metrics=unavailable,
    )


def _computable(spec: MetricSpec, columns: object) -> bool:
    return all(c in columns for c in (spec.numerator, spec.denominator) if c is not None)  # type: ignore[operator]


def _daily(in_exp: pd.DataFrame) -> DailyRows | None:
    ev = in_exp[in_exp["record_type"] == "event"]
    if ev.empty:
        return None
    # a completion's events are dated by its first event (as the SQL path's choice table)
    first = ev.groupby("completion_id", sort=False)["created_at"].transform("min")
    day = first.dt.tz_convert("UTC").dt.strftime("%Y-%m-%d")
    cols = pd.DataFrame(
        {
            "n_shown": (ev["kind"] == "shown").astype(float),
            "n_accepted": (ev["kind"] == "accepted").astype(float),
            "unit_id": ev["unit_id"],
            "arm": ev["arm"],
            "day": day,
        }
    )
    g = cols.groupby(["unit_id", "arm", "day"], sort=False).sum().reset_index()
    return DailyRows(
        arm=g["arm"].to_numpy(dtype=str),
        unit=g["unit_id"].to_numpy(dtype=str),
        day=g["day"].to_numpy(dtype=str),
        values={"n_shown": g["n_shown"].to_numpy(float), "n_accepted": g["n_accepted"].to_numpy(float)},
    )


def _descriptive(in_exp: pd.DataFrame) -> dict[str, dict[str, float]]:
    co = in_exp[in_exp["record_type"] == "completion"]
    out = {}
    for arm, g in co.groupby("arm", sort=True):
        lat = g["latency_ms"].astype(float)
        # linear interpolation = PostgreSQL percentile_cont
        out[str(arm)] = {
            "completions": float(len(g)),
            "latency_p50_ms": float(lat.quantile(0.5)),
            "latency_p95_ms": float(lat.quantile(0.95)),
        }
    return out
