"""SQL adapter: the report's only database access. Aggregates telemetry to per-arm moments in SQL.

One statement per need, built with SQLAlchemy Core over the gateway's schema (tables only):
per-unit sums (CTE) -> per-arm count, sums, sums of squares and cross-products. Python never sees
an event row, so 10M events cost one scan, not a transfer.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    and_,
    case,
    cast,
    column,
    create_engine,
    func,
    inspect,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.sql import ColumnElement, FromClause, Select

from codesieve.core.telemetry.tables import (
    ActivityRecord,
    AssignmentRecord,
    ChoiceFactRecord,
    CompletionRecord,
    EventRecord,
    ExperimentRecord,
)
from experiments.ab.analysis import AbReportConfig, Moments, TelemetrySummary
from experiments.ab.metrics import (
    CAR_MIN_VISIBLE_MS,
    PERSISTENCE_AFTER_S,
    RETAINED_AFTER_S,
    UNIT_COLUMNS,
    MetricSpec,
    decision_metric,
    prod_key,
    required_moments,
    sum_key,
    sumsq_key,
)
from experiments.ab.results import NO_CUPED_NO_START_MESSAGE

logger = logging.getLogger(__name__)

# Session work_mem for the report's statements (100k units x ~20 columns hash-aggregate in RAM).
REPORT_WORK_MEM = "256MB"

_COMPLETIONS = CompletionRecord.__table__
_EVENTS = EventRecord.__table__
_ACTIVITY = ActivityRecord.__table__
_C = CompletionRecord.__table__.c
_E = EventRecord.__table__.c
_A = AssignmentRecord.__table__.c
_ACT = ActivityRecord.__table__.c


def build_engine(url: str) -> Engine:
    """A synchronous engine; psycopg 3 for plain postgresql:// URLs."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return create_engine(url)


def _count_if(cond: ColumnElement[bool]) -> ColumnElement[Any]:
    """COUNT of rows matching `cond`, as double precision (integer sums, then one cast)."""
    return cast(func.sum(case((cond, 1), else_=0)), Float)


# Per-(unit, arm, day) columns of the unit_day table, from which the per-unit moments and the
# cumulative series are computed (events per completion choice, plus activity).
_EVENT_COLUMNS: tuple[str, ...] = UNIT_COLUMNS[UNIT_COLUMNS.index("n_shown") :]  # the completion columns come first
# Columns of the choice table that segments can break down (no activity: it has no language).
_CHOICE_METRIC_COLUMNS: tuple[str, ...] = _EVENT_COLUMNS[:-2]


def _exposure(experiment: str) -> Select[Any]:
    """Each unit's first exposure to the experiment (gateway `assignments`: one row per unit)."""
    return select(_A.unit_id, _A.arm, _A.first_seen_at).where(_A.experiment == experiment)


# Columns of one choice's events summed (from choice_facts, or grouped from events), plus the
# completion's, that build_choice_select derives the report's choice columns from.
_CHOICE_COUNTS: tuple[str, ...] = (
    "n_shown",
    "n_accepted",
    *(f"n_persisted_{s}s" for s in PERSISTENCE_AFTER_S),
    "retained_chars",
    "accepted_chars",
)
_CHOICE_COMPLETION: tuple[str, ...] = ("unit_id", "arm", "language", "client", "request_shape", "completion_chars")


def _choice_facts(experiment: str) -> FromClause:
    """The experiment's choices from `choice_facts` (kept by triggers on events: choice_facts.py)."""
    f = ChoiceFactRecord.__table__.c
    return (
        select(
            *[f[c] for c in _CHOICE_COMPLETION],
            f.n_choices,
            f.first_at,
            *[cast(f[c], Float).label(c) for c in _CHOICE_COUNTS],
            f.max_visible_ms,
        )
        .where(f.experiment == experiment)
        .subquery("choice_facts")
    )


def _choice_events(experiment: str) -> FromClause:
    """The same columns as _choice_facts, grouped from the raw events (the from-scratch definition).

    Read when the database has no choice_facts table (before migration 0007); the tests hold the two
    equal.
    """
    persisted = [
        _count_if(and_(_E.kind == "persisted", _E.after_s == s, _E.is_persisted.is_(True))).label(f"n_persisted_{s}s")
        for s in PERSISTENCE_AFTER_S
    ]
    retained = func.sum(
        case(
            (
                and_(_E.kind == "persisted", _E.after_s == RETAINED_AFTER_S, _E.is_persisted.is_(True)),
                cast(func.coalesce(_E.retained_chars, 0), Float),
            ),
            else_=0.0,
        )
    ).label("retained_chars")
    accepted_chars = func.sum(
        case((_E.kind == "accepted", cast(func.coalesce(_E.accepted_chars, 0), Float)), else_=0.0)
    ).label("accepted_chars")
    # Grouped by (completion, choice) alone: a narrow hash key; unit, arm and everything else come
    # from the completion (events take their unit and arm from it at intake).
    grouped = (
        select(
            _E.completion_id,
            _E.choice_index,
            func.min(_E.created_at).label("first_at"),
            _count_if(_E.kind == "shown").label("n_shown"),
            _count_if(_E.kind == "accepted").label("n_accepted"),
            *persisted,
            retained,
            accepted_chars,
            func.max(_E.elapsed_ms).label("max_visible_ms"),
        )
        .where(_E.experiment == experiment, _E.arm.is_not(None))
        .group_by(_E.completion_id, _E.choice_index)
        .subquery("choice_events")
    )
    g = grouped.c
    return (
        select(
            *[_C[c] for c in _CHOICE_COMPLETION],
            _C.n_choices,
            g.first_at,
            *[g[c] for c in _CHOICE_COUNTS],
            g.max_visible_ms,
        )
        # the experiment filter lets the hash side skip other experiments' and pre-period completions
        .select_from(grouped.join(_COMPLETIONS, and_(_C.id == g.completion_id, _C.experiment == experiment)))
        .subquery("choice_raw")
    )


def build_choice_select(experiment: str, *, from_events: bool = False) -> Select[Any]:
    """The experiment's events summed per completion choice (unit, arm, completion, choice).

    First exposure: a choice whose first event precedes its unit's `assignments.first_seen_at` is
    pre-period and left out with all its events (a unit without an assignment row counts from its
    first event). Each choice is dated by its first event; its language, client and presented
    characters come from its completion. Read from `choice_facts`, or with `from_events` grouped
    from the raw events (the same numbers).
    """
    exp = _exposure(experiment).subquery("exposure")
    source = _choice_events(experiment) if from_events else _choice_facts(experiment)
    g = source.c
    is_accepted = g.n_accepted > 0
    suggested = or_(g.max_visible_ms >= CAR_MIN_VISIBLE_MS, is_accepted)
    presented = cast(func.coalesce(g.completion_chars, 0), Float) / func.greatest(func.coalesce(g.n_choices, 1), 1)
    return (
        select(
            g.unit_id,
            g.arm,
            cast(func.date_trunc("day", g.first_at), Date).label("day"),
            func.coalesce(g.language, "unknown").label("language"),
            # the plugin's own name when it sent one, else the request shape (openai | tabby)
            func.coalesce(g.client, g.request_shape, "unknown").label("client"),
            g.n_shown,
            g.n_accepted,
            *[g[f"n_persisted_{s}s"] for s in PERSISTENCE_AFTER_S],
            g.retained_chars,
            cast(case((suggested, 1), else_=0), Float).label("n_suggested"),
            cast(case((is_accepted, 1), else_=0), Float).label("n_suggested_accepted"),
            case((suggested, presented), else_=0.0).label("suggested_chars"),
            case((is_accepted, presented), else_=0.0).label("suggested_accepted_chars"),
            g.accepted_chars,
        )
        .select_from(source.outerjoin(exp, exp.c.unit_id == g.unit_id))
        # a choice first seen before its unit's exposure is pre-period, later events included
        .where(or_(exp.c.first_seen_at.is_(None), g.first_at >= exp.c.first_seen_at))
    )


def build_unit_day_segment_select(experiment: str, *, from_events: bool = False) -> Select[Any]:
    """The choice columns summed per (unit, arm, day, language, client): what unit_day and segments read.

    Materialised instead of the choices themselves: one row per unit-day-language-client is ~6x
    fewer rows to write and read back than one per completion choice.
    """
    choice = build_choice_select(experiment, from_events=from_events).subquery("choice")
    keys = (choice.c.unit_id, choice.c.arm, choice.c.day, choice.c.language, choice.c.client)
    sums = [func.sum(choice.c[c]).label(c) for c in (*_CHOICE_METRIC_COLUMNS, "accepted_chars")]
    return select(*keys, *sums).group_by(*keys)


def build_unit_day_select(experiment: str, choice: FromClause, *, with_activity: bool = True) -> Select[Any]:
    """Per (unit, arm, UTC day): the choice columns summed, plus activity (PCW); session in UTC.

    Activity has no arm: it takes its unit's arm from `assignments`, from the first exposure on.
    PCW's columns count only unit-days with activity (a plugin that sends none adds nothing).
    """
    exp = _exposure(experiment).subquery("exposure")
    zero = cast(0.0, Float)
    from_choice = select(
        choice.c.unit_id,
        choice.c.arm,
        choice.c.day,
        *[choice.c[c] for c in _CHOICE_METRIC_COLUMNS],
        choice.c.accepted_chars,
        zero.label("typed_chars"),
        zero.label("n_activity"),
    )
    from_activity = (
        select(
            _ACT.unit_id,
            exp.c.arm,
            cast(func.date_trunc("day", _ACT.created_at), Date).label("day"),
            *[zero.label(c) for c in _CHOICE_METRIC_COLUMNS],
            zero.label("accepted_chars"),
            cast(_ACT.chars_typed, Float).label("typed_chars"),
            cast(1.0, Float).label("n_activity"),
        )
        .select_from(_ACTIVITY.join(exp, exp.c.unit_id == _ACT.unit_id))
        .where(_ACT.created_at >= exp.c.first_seen_at)
    )
    rows = (from_choice.union_all(from_activity) if with_activity else from_choice).subquery("unit_day_rows")
    r = rows.c
    has_activity = func.sum(r.n_activity) > 0
    return select(
        r.unit_id,
        r.arm,
        r.day,
        *[func.sum(r[c]).label(c) for c in _CHOICE_METRIC_COLUMNS],
        case((has_activity, func.sum(r.retained_chars)), else_=0.0).label("pcw_ai_chars"),
        case((has_activity, func.sum(r.typed_chars) + func.sum(r.accepted_chars)), else_=0.0).label("new_chars"),
    ).group_by(r.unit_id, r.arm, r.day)


def _unit_events(unit_day: FromClause) -> Select[Any]:
    return select(
        unit_day.c.unit_id, unit_day.c.arm, *[func.sum(unit_day.c[c]).label(c) for c in _EVENT_COLUMNS]
    ).group_by(unit_day.c.unit_id, unit_day.c.arm)


def _unit_completions(experiment: str) -> Select[Any]:
    """Per-unit completion columns, from the unit's first exposure on (as events)."""
    exp = _exposure(experiment).subquery("exposure")
    return (
        select(
            _C.unit_id,
            _C.arm,
            func.count().label("n_completions"),
            func.sum(cast(_C.latency_ms, Float)).label("latency_ms_sum"),
            _count_if(_C.filter_action == "blocked").label("n_blocked"),
            _count_if(_C.filter_action == "redacted").label("n_redacted"),
            _count_if(_C.is_error.is_(True)).label("n_errors"),
        )
        .select_from(_COMPLETIONS.outerjoin(exp, exp.c.unit_id == _C.unit_id))
        .where(
            _C.experiment == experiment,
            _C.arm.is_not(None),
            or_(exp.c.first_seen_at.is_(None), _C.created_at >= exp.c.first_seen_at),
        )
        .group_by(_C.unit_id, _C.arm)
    )


def _unit_pre(experiment: str, start: datetime, days: int) -> Select[Any]:
    """Each unit's events in the `days` before its first exposure, whatever experiment they belong to.

    The pre-period ends at the unit's `assignments.first_seen_at`, or at the experiment start for a
    unit without one. Exposures happen after the start, so events before start - days never count.
    """
    exp = _exposure(experiment).subquery("exposure")
    end = func.coalesce(exp.c.first_seen_at, start)
    retained = func.sum(
        case(
            (
                and_(_E.kind == "persisted", _E.after_s == RETAINED_AFTER_S, _E.is_persisted.is_(True)),
                cast(func.coalesce(_E.retained_chars, 0), Float),
            ),
            else_=0.0,
        )
    )
    return (
        select(_E.unit_id, _count_if(_E.kind == "shown").label("pre_n_shown"), retained.label("pre_retained_chars"))
        .select_from(_EVENTS.outerjoin(exp, exp.c.unit_id == _E.unit_id))
        .where(
            _E.created_at >= start - timedelta(days=days),
            _E.created_at < end,
            _E.created_at >= end - timedelta(days=days),
        )
        .group_by(_E.unit_id)
    )


def build_unit_query(experiment: str, unit_day: FromClause, *, start: datetime | None, pre_days: int) -> Select[Any]:
    """Per-(unit, arm) columns of metrics.UNIT_COLUMNS (+ PRE_COLUMNS when start is given).

    Units are those exposed (`assignments`) or with completions or events; a unit with no rows of
    one kind is kept with zeros.
    """
    ev = _unit_events(unit_day).cte("unit_events")
    co = _unit_completions(experiment).cte("unit_completions")
    exposed = select(_A.unit_id, _A.arm).where(_A.experiment == experiment)
    keys = (
        select(ev.c.unit_id, ev.c.arm)
        .union(select(co.c.unit_id, co.c.arm), exposed)  # type: ignore[arg-type]
        .cte("unit_keys")
    )
    cols: list[ColumnElement[Any]] = [keys.c.unit_id, keys.c.arm]
    for name in ("n_completions", "latency_ms_sum", "n_blocked", "n_redacted", "n_errors"):
        cols.append(cast(func.coalesce(co.c[name], 0), Float).label(name))
    for name in _EVENT_COLUMNS:
        cols.append(cast(func.coalesce(ev.c[name], 0), Float).label(name))
    query = (
        select(*cols)
        .select_from(keys)
        .outerjoin(ev, and_(ev.c.unit_id == keys.c.unit_id, ev.c.arm == keys.c.arm))
        .outerjoin(co, and_(co.c.unit_id == keys.c.unit_id, co.c.arm == keys.c.arm))
    )
    if start is not None:
        pre = _unit_pre(experiment, start, pre_days).cte("unit_pre")
        query = query.add_columns(
            cast(func.coalesce(pre.c.pre_n_shown, 0), Float).label("pre_n_shown"),
            cast(func.coalesce(pre.c.pre_retained_chars, 0), Float).label("pre_retained_chars"),
        ).outerjoin(pre, pre.c.unit_id == keys.c.unit_id)
    return query


def build_moments_query(
    experiment: str, unit_day: FromClause, specs: tuple[MetricSpec, ...], *, start: datetime | None, pre_days: int
) -> Select[Any]:
    """Per arm: n units, and the sums, sums of squares and products of required_moments."""
    unit = build_unit_query(experiment, unit_day, start=start, pre_days=pre_days).cte("unit")
    columns, products = required_moments(specs, with_cuped=start is not None)
    aggs: list[ColumnElement[Any]] = [unit.c.arm, func.count().label("n")]
    for col in columns:
        aggs.append(func.sum(unit.c[col]).label(sum_key(col)))
        aggs.append(func.sum(unit.c[col] * unit.c[col]).label(sumsq_key(col)))
    for a, b in products:
        aggs.append(func.sum(unit.c[a] * unit.c[b]).label(prod_key(a, b)))
    return select(*aggs).group_by(unit.c.arm).order_by(unit.c.arm)


def build_cumulative_query(unit_day: FromClause, spec: MetricSpec) -> Select[Any]:
    """Per (arm, UTC day): moments of the decision metric over each unit's sums up to that day.

    daily sums per (unit, arm, day) -> running sums per unit (window) -> each running sum repeated
    on every day of [day, next_day) (generate_series, not a join of every row with every day) that
    is a day of the data -> count, sums, squares, products. A unit counts from its first day with
    an event. `spec` must be a metric of event columns.
    """
    names = [c for c in (spec.numerator, spec.denominator) if c is not None]
    daily = unit_day
    # Byte order for the partition sort: the same partitions (equality does not depend on the
    # collation), but PostgreSQL sorts "C" strings with abbreviated keys, several times faster
    # than a libc locale's strcoll on 1M+ unit-days.
    partition = (daily.c.unit_id.collate("C"), daily.c.arm.collate("C"))
    window = {"partition_by": partition, "order_by": daily.c.day}
    last = select(func.max(daily.c.day)).scalar_subquery()
    running = select(
        daily.c.arm,
        daily.c.day,
        func.lead(daily.c.day).over(**window).label("next_day"),  # type: ignore[arg-type]
        *[func.sum(daily.c[c]).over(**window).label(c) for c in names],  # type: ignore[arg-type]
    ).subquery("running")
    until = func.coalesce(running.c.next_day - 1, last)
    spread = select(
        running.c.arm,
        cast(
            func.generate_series(cast(running.c.day, DateTime), cast(until, DateTime), text("interval '1 day'")), Date
        ).label("d"),
        *[running.c[c] for c in names],
    ).subquery("spread")
    days = select(daily.c.day.label("d")).distinct().subquery("days")
    columns, products = required_moments((spec,), with_cuped=False)
    aggs: list[ColumnElement[Any]] = [
        spread.c.arm,
        func.to_char(spread.c.d, "YYYY-MM-DD").label("day"),
        func.count().label("n"),
    ]
    for col in columns:
        aggs.append(func.sum(spread.c[col]).label(sum_key(col)))
        aggs.append(func.sum(spread.c[col] * spread.c[col]).label(sumsq_key(col)))
    for a, b in products:
        aggs.append(func.sum(spread.c[a] * spread.c[b]).label(prod_key(a, b)))
    return (
        select(*aggs)
        .select_from(spread.join(days, days.c.d == spread.c.d))
        .group_by(spread.c.arm, spread.c.d)
        .order_by(spread.c.arm, spread.c.d)
    )


def build_descriptive_query(experiment: str) -> Select[Any]:
    return (
        select(
            _C.arm,
            func.count().label("completions"),
            func.percentile_cont(0.5).within_group(_C.latency_ms).label("latency_p50_ms"),
            func.percentile_cont(0.95).within_group(_C.latency_ms).label("latency_p95_ms"),
        )
        .where(_C.experiment == experiment, _C.arm.is_not(None))
        .group_by(_C.arm)
    )


def fetch_experiment_start(engine: Engine, experiment: str) -> datetime | None:
    """The experiment's `start_at` from the experiments table, if the database has one and a row."""
    if not inspect(engine).has_table(ExperimentRecord.__tablename__):
        return None  # a database from before the experiments migration
    table = ExperimentRecord.__table__
    with engine.connect() as conn:
        start = conn.execute(select(table.c.start_at).where(table.c.name == experiment)).scalar_one_or_none()
    return start if isinstance(start, datetime) else None


def fetch_experiment_metrics(engine: Engine, experiment: str) -> dict[str, Any] | None:
    """The `metrics` block (metric roles) of the experiment's stored definition, if any."""
    import json

    if not inspect(engine).has_table(ExperimentRecord.__tablename__):
        return None
    table = ExperimentRecord.__table__
    with engine.connect() as conn:
        raw = conn.execute(select(table.c.definition).where(table.c.name == experiment)).scalar_one_or_none()
    try:
        block = json.loads(raw).get("metrics") if isinstance(raw, str) else None
    except (ValueError, AttributeError):
        return None
    return block if isinstance(block, dict) else None


_CHOICE_TEMP = "codesieve_report_unit_day_segment"
_UNIT_DAY_TEMP = "codesieve_report_unit_day"
# Segments: at most this many values per dimension (the ones with the most units), so a long tail
# of rare languages does not dilute the exploratory family.
MAX_SEGMENT_VALUES = 12


def _materialize(conn: Connection, name: str, select_: Select[Any]) -> FromClause:
    """`select_` as a temporary table (computed once, read by several statements).

    At 10M events the scan of `events` and its aggregates are most of the report's time; as
    temporary tables they run once, not once per statement. A hot standby cannot create temporary
    tables: there it stays a CTE.
    """
    if conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one():
        return select_.cte(name)
    conn.execute(text(f"DROP TABLE IF EXISTS pg_temp.{name}"))
    compiled = select_.compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} AS {compiled}", compiled.params)
    conn.execute(text(f"ANALYZE pg_temp.{name}"))
    return table(name, *[column(c.name, c.type) for c in select_.selected_columns])


def build_segment_query(choice: FromClause, spec: MetricSpec, dimension: str) -> Select[Any]:
    """Per (segment value, arm): moments of `spec` over each unit's choices in that segment.

    A unit active in two languages is a unit of both segments (its choices split between them).
    """
    names = [c for c in (spec.numerator, spec.denominator) if c is not None]
    per_unit = (
        select(
            choice.c[dimension].label("segment"),
            choice.c.arm,
            *[func.sum(choice.c[c]).label(c) for c in names],
        )
        .group_by(choice.c[dimension], choice.c.arm, choice.c.unit_id)
        .cte(f"segment_{dimension}")
    )
    columns, products = required_moments((spec,), with_cuped=False)
    aggs: list[ColumnElement[Any]] = [per_unit.c.segment, per_unit.c.arm, func.count().label("n")]
    for col in columns:
        aggs.append(func.sum(per_unit.c[col]).label(sum_key(col)))
        aggs.append(func.sum(per_unit.c[col] * per_unit.c[col]).label(sumsq_key(col)))
    for a, b in products:
        aggs.append(func.sum(per_unit.c[a] * per_unit.c[b]).label(prod_key(a, b)))
    return select(*aggs).group_by(per_unit.c.segment, per_unit.c.arm)


def _fetch_segments(conn: Connection, choice: FromClause, spec: MetricSpec) -> dict[str, Any]:
    """dimension -> value -> arm -> moments, for the MAX_SEGMENT_VALUES largest values."""
    out: dict[str, Any] = {}
    for dimension in ("language", "client"):
        by_value: dict[str, dict[str, dict[str, float]]] = {}
        for r in conn.execute(build_segment_query(choice, spec, dimension)).mappings():
            moments = {k: float(v or 0.0) for k, v in r.items() if k not in ("segment", "arm")}
            by_value.setdefault(str(r["segment"]), {})[str(r["arm"])] = moments
        largest = sorted(by_value, key=lambda v: -sum(m["n"] for m in by_value[v].values()))[:MAX_SEGMENT_VALUES]
        if len(largest) > 1:  # one value is the whole experiment again, not a breakdown
            out[dimension] = {v: by_value[v] for v in largest}
    return out


def fetch_summary(engine: Engine, cfg: AbReportConfig, *, from_events: bool = False) -> TelemetrySummary:
    """Everything the report needs from PostgreSQL, aggregated in SQL.

    Choices come from `choice_facts` (kept by triggers as events are written); `from_events`, or a
    database from before migration 0007, groups them from the raw events instead (same numbers).
    """
    notices: list[str] = []
    start = cfg.start or (fetch_experiment_start(engine, cfg.experiment) if cfg.enable_cuped else None)
    if cfg.enable_cuped and start is None:
        notices.append(NO_CUPED_NO_START_MESSAGE)
    start = start if cfg.enable_cuped else None
    decision = decision_metric(cfg.metrics)
    # a database from before migration 0004 has no activity table: PCW is then 0 / 0 (not analysable)
    with_activity = inspect(engine).has_table(ActivityRecord.__tablename__)
    from_events = from_events or not inspect(engine).has_table(ChoiceFactRecord.__tablename__)
    with engine.connect() as conn:
        conn.execute(text("SET TIME ZONE 'UTC'"))  # days are UTC days
        # per-unit hash aggregates of 100k units fit in memory instead of spilling to disk
        conn.execute(text(f"SET work_mem = '{REPORT_WORK_MEM}'"))
        # JIT compilation cost ~4 s per statement at 10M events and bought nothing on these one-pass
        # aggregates (EXPLAIN ANALYZE, benchmarks/ab_report.py)
        conn.execute(text("SET jit = off"))
        choice = _materialize(
            conn, _CHOICE_TEMP, build_unit_day_segment_select(cfg.experiment, from_events=from_events)
        )
        unit_day = _materialize(
            conn, _UNIT_DAY_TEMP, build_unit_day_select(cfg.experiment, choice, with_activity=with_activity)
        )
        moments_q = build_moments_query(
            cfg.experiment, unit_day, cfg.metrics, start=start, pre_days=cfg.pre_period_days
        )
        rows = conn.execute(moments_q).mappings().all()
        moments = {str(r["arm"]): {k: float(v or 0.0) for k, v in r.items() if k != "arm"} for r in rows}
        cum_rows: list[Any] = []
        segments: dict[str, Any] | None = None
        if decision is not None and _of_columns(decision, _EVENT_COLUMNS):
            cum_rows = list(conn.execute(build_cumulative_query(unit_day, decision)).mappings().all())
        if cfg.segments and decision is not None and _of_columns(decision, _CHOICE_METRIC_COLUMNS):
            segments = _fetch_segments(conn, choice, decision) or None
        desc_rows = conn.execute(build_descriptive_query(cfg.experiment)).mappings().all()
        conn.rollback()  # read-only report: nothing to keep
    logger.info("aggregated experiment=%s arms=%d cumulative_points=%d", cfg.experiment, len(moments), len(cum_rows))
    cumulative: dict[str, list[tuple[str, Moments]]] = {}
    for r in cum_rows:
        cumulative.setdefault(str(r["arm"]), []).append(
            (str(r["day"]), {k: float(v or 0.0) for k, v in r.items() if k not in ("arm", "day")})
        )
    descriptive = {str(r["arm"]): {k: float(v) for k, v in r.items() if k != "arm"} for r in desc_rows}
    return TelemetrySummary(
        moments_by_arm=moments,
        cumulative=cumulative or None,
        descriptive=descriptive,
        notices=notices,
        with_cuped=start is not None,
        segments=segments,
    )


def _of_columns(spec: MetricSpec, columns: tuple[str, ...]) -> bool:
    return all(c in columns for c in (spec.numerator, spec.denominator) if c is not None)


__all__ = ["build_engine", "fetch_experiment_metrics", "fetch_experiment_start", "fetch_summary"]


# --- seeding (tests and benchmarks only): an export-format frame -> completions + events -------

_COMPLETION_COPY_COLUMNS = (
    "id",
    "created_at",
    "unit_id",
    "experiment",
    "arm",
    "model",
    "request_shape",
    "n_choices",
    "prompt_chars",
    "suffix_chars",
    "completion_chars",
    "latency_ms",
    "filter_action",
    "is_error",
)
_EVENT_COPY_COLUMNS = (
    "client_event_id",
    "completion_id",
    "created_at",
    "unit_id",
    "experiment",
    "arm",
    "kind",
    "choice_index",
    "accepted_chars",
    "accepted_lines",
    "after_s",
    "edit_distance_ratio",
    "is_persisted",
    "retained_chars",
)


def copy_export_frame(engine: Engine, frame: Any, *, chunk_rows: int = 500_000) -> int:
    """Insert an export-format DataFrame into completions and events with PostgreSQL COPY.

    For seeding tests and benchmarks with simulated telemetry; the gateway writes real rows. The
    optional columns of `simulate_export_frame(client_signals=True)` (language, client,
    completion_chars, elapsed_ms) are copied when present. Returns the number of rows copied.
    """
    import pandas as pd

    signals = "language" in frame.columns
    comp = frame[frame["record_type"] == "completion"].assign(
        model="sim",
        request_shape=(lambda f: f["client"]) if signals else "openai",
        n_choices=1,
        prompt_chars=0,
        suffix_chars=0,
        completion_chars=(lambda f: f["completion_chars"]) if signals else 0,
        is_error=lambda f: f["is_error"].fillna(False).astype(bool),
    )
    ev = frame[frame["record_type"] == "event"].assign(client_event_id=lambda f: f["id"], choice_index=0)
    comp_cols = _COMPLETION_COPY_COLUMNS + (("language",) if signals else ())
    ev_cols = _EVENT_COPY_COLUMNS + (("elapsed_ms",) if signals else ())
    for int_col in ("accepted_chars", "accepted_lines", "after_s", "retained_chars"):
        ev[int_col] = pd.array(ev[int_col], dtype="Int64")
    ev["is_persisted"] = pd.array(ev["is_persisted"], dtype="boolean")
    for float_col in ("edit_distance_ratio", "elapsed_ms"):
        if float_col in ev:
            ev[float_col] = pd.array(ev[float_col], dtype="Float64")
    copy_frame(engine, "completions", comp[list(comp_cols)], chunk_rows=chunk_rows)
    copy_frame(engine, "events", ev[list(ev_cols)], chunk_rows=chunk_rows)
    return len(comp) + len(ev)


def copy_frame(engine: Engine, table_name: str, frame: Any, *, chunk_rows: int = 500_000) -> int:
    """COPY a DataFrame whose columns are the table's (tests and benchmarks: assignments, activity)."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for lo in range(0, len(frame), chunk_rows):
            buf = io.BytesIO()
            # pyarrow writes nulls as unquoted empty fields: NULL in PostgreSQL's CSV COPY
            part = pa.Table.from_pandas(frame.iloc[lo : lo + chunk_rows], preserve_index=False)
            pacsv.write_csv(part, buf, pacsv.WriteOptions(include_header=False))
            with cur.copy(  # type: ignore[attr-defined]
                f"COPY {table_name} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv)"
            ) as copy:
                copy.write(buf.getvalue())
        raw.commit()
    finally:
        raw.close()
    return len(frame)
