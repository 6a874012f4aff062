"""The per-choice pre-aggregate of `events` (`choice_facts`), kept exact by database triggers.

The A/B report's CAR / wCAR / persistence / first-exposure logic needs each completion choice's
facts: its first event, counts per kind, persisted checkpoints, characters, the longest time
visible. Grouping 10M+ events per choice at report time was most of the report's minute
(benchmarks/ab_report.py), so the database keeps them as rows are written, the way a materialised
aggregate is kept by triggers:

- every insert into `events` (the gateway's writer, spool replays, COPY, any client) adds the
  inserted rows' facts to their choice: counts and sums add, `first_at` is the least, the visible
  time the greatest, so late and out-of-order events land exactly as a from-scratch grouping would
  put them, whatever the order or the number of concurrent writers (additive upserts commute; rows
  are upserted in key order, so two writers lock choices in the same order). A refused duplicate
  (ON CONFLICT DO NOTHING) inserts no row and fires nothing.
- a delete from `events` (retention) recomputes the affected choices from the events left.
- bounded: the work per statement is proportional to the rows it writes (one upsert of at most
  one row per choice touched, joined to `completions` by primary key).

Only events with an experiment and an arm count, and only when their completion belongs to the
same experiment (the report joins them on it); the completion's unit, arm, language, client and
characters are copied in (completions are never updated). PostgreSQL: statement-level triggers
with transition tables; SQLite: row-level triggers. `install_triggers` runs on `create_all` and in
migration 0007; `backfill` fills the table from existing events.
"""

from __future__ import annotations

from sqlalchemy import Connection, inspect

TABLE = "choice_facts"
KEY = ("experiment", "completion_id", "choice_index")
# Copied from the completion (immutable once written).
COMPLETION_COLUMNS = ("unit_id", "arm", "language", "client", "request_shape", "completion_chars", "n_choices")
# The persistence checkpoints kept per choice (experiments.ab.metrics.PERSISTENCE_AFTER_S) and the
# one whose retained characters count (RETAINED_AFTER_S): a change there needs a migration.
PERSISTED_AFTER_S = (15, 30, 120, 300, 600)
RETAINED_AFTER_S = 600
COUNT_COLUMNS = (
    "n_shown",
    "n_accepted",
    *(f"n_persisted_{s}s" for s in PERSISTED_AFTER_S),
    "retained_chars",
    "accepted_chars",
)
FACT_COLUMNS = ("first_at", *COUNT_COLUMNS, "max_visible_ms")


def _row_expressions(e: str) -> dict[str, str]:
    """Each fact of one event row `e` (aggregated with sum, except first_at: min, max_visible_ms: max)."""
    persisted = f"{e}.kind = 'persisted' AND {e}.is_persisted = TRUE AND {e}.after_s = "
    out = {
        "first_at": f"{e}.created_at",
        "n_shown": f"CASE WHEN {e}.kind = 'shown' THEN 1 ELSE 0 END",
        "n_accepted": f"CASE WHEN {e}.kind = 'accepted' THEN 1 ELSE 0 END",
    }
    for s in PERSISTED_AFTER_S:
        out[f"n_persisted_{s}s"] = f"CASE WHEN {persisted}{s} THEN 1 ELSE 0 END"
    out["retained_chars"] = f"CASE WHEN {persisted}{RETAINED_AFTER_S} THEN coalesce({e}.retained_chars, 0) ELSE 0 END"
    out["accepted_chars"] = f"CASE WHEN {e}.kind = 'accepted' THEN coalesce({e}.accepted_chars, 0) ELSE 0 END"
    out["max_visible_ms"] = f"{e}.elapsed_ms"
    return out


def _aggregate_select(source: str, where: str) -> str:
    """SELECT of the facts of `source` events (alias e) grouped per choice, completions joined (alias c)."""
    aggs = {"first_at": "min", "max_visible_ms": "max"}
    facts = [f"{aggs.get(k, 'sum')}({v})" for k, v in _row_expressions("e").items()]
    return (
        f"SELECT e.experiment, e.completion_id, e.choice_index, "
        f"{', '.join(f'c.{c}' for c in COMPLETION_COLUMNS)}, {', '.join(facts)} "
        f"FROM {source} e JOIN completions c ON c.id = e.completion_id AND c.experiment = e.experiment "
        f"WHERE e.experiment IS NOT NULL AND e.arm IS NOT NULL{where} "
        f"GROUP BY e.experiment, e.completion_id, e.choice_index, "
        f"{', '.join(f'c.{c}' for c in COMPLETION_COLUMNS)} "
        f"ORDER BY e.experiment, e.completion_id, e.choice_index"
    )


_COLUMNS = ", ".join((*KEY, *COMPLETION_COLUMNS, *FACT_COLUMNS))


def _merge(dialect: str) -> str:
    """ON CONFLICT clause adding new facts to a choice's row (f: the row, excluded: the new facts)."""
    sets = [f"{c} = {TABLE}.{c} + excluded.{c}" for c in COUNT_COLUMNS]
    if dialect == "postgresql":  # least/greatest ignore NULLs, as min()/max() do
        sets += [
            f"first_at = least({TABLE}.first_at, excluded.first_at)",
            f"max_visible_ms = greatest({TABLE}.max_visible_ms, excluded.max_visible_ms)",
        ]
    else:  # SQLite's two-argument min()/max() return NULL if either is NULL
        sets += [
            f"first_at = min({TABLE}.first_at, excluded.first_at)",
            f"max_visible_ms = coalesce(max({TABLE}.max_visible_ms, excluded.max_visible_ms), "
            f"{TABLE}.max_visible_ms, excluded.max_visible_ms)",
        ]
    return f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {', '.join(sets)}"


def _postgresql_ddl() -> list[str]:
    on_insert = f"INSERT INTO {TABLE} ({_COLUMNS}) {_aggregate_select('new_events', '')} {_merge('postgresql')}"
    touched = (
        "SELECT DISTINCT experiment, completion_id, choice_index FROM old_events "
        "WHERE experiment IS NOT NULL AND arm IS NOT NULL"
    )
    in_touched = f" AND (e.experiment, e.completion_id, e.choice_index) IN ({touched})"
    on_delete = [
        f"DELETE FROM {TABLE} f WHERE (f.experiment, f.completion_id, f.choice_index) IN ({touched})",
        f"INSERT INTO {TABLE} ({_COLUMNS}) {_aggregate_select('events', in_touched)} {_merge('postgresql')}",
    ]
    return [
        "CREATE OR REPLACE FUNCTION codesieve_choice_facts_insert() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n{on_insert};\nRETURN NULL;\nEND $$",
        "CREATE OR REPLACE FUNCTION codesieve_choice_facts_delete() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n{';'.join(on_delete)};\nRETURN NULL;\nEND $$",
        "DROP TRIGGER IF EXISTS choice_facts_insert ON events",
        "CREATE TRIGGER choice_facts_insert AFTER INSERT ON events REFERENCING NEW TABLE AS new_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION codesieve_choice_facts_insert()",
        "DROP TRIGGER IF EXISTS choice_facts_delete ON events",
        "CREATE TRIGGER choice_facts_delete AFTER DELETE ON events REFERENCING OLD TABLE AS old_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION codesieve_choice_facts_delete()",
        # TRUNCATE fires no row triggers: empty the facts with it
        "CREATE OR REPLACE FUNCTION codesieve_choice_facts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\nTRUNCATE {TABLE};\nRETURN NULL;\nEND $$",
        "DROP TRIGGER IF EXISTS choice_facts_truncate ON events",
        "CREATE TRIGGER choice_facts_truncate AFTER TRUNCATE ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION codesieve_choice_facts_truncate()",
    ]


def _sqlite_ddl() -> list[str]:
    one_row = _row_expressions("NEW")
    completion = ", ".join(f"c.{c}" for c in COMPLETION_COLUMNS)
    on_insert = (
        f"INSERT INTO {TABLE} ({_COLUMNS}) SELECT NEW.experiment, NEW.completion_id, NEW.choice_index, "
        f"{completion}, {', '.join(one_row.values())} FROM completions c "
        f"WHERE c.id = NEW.completion_id AND c.experiment = NEW.experiment {_merge('sqlite')}"
    )
    old_key = (
        "e.experiment = OLD.experiment AND e.completion_id = OLD.completion_id AND e.choice_index = OLD.choice_index"
    )
    on_delete = (
        f"DELETE FROM {TABLE} WHERE experiment = OLD.experiment AND completion_id = OLD.completion_id "
        f"AND choice_index = OLD.choice_index; "
        f"INSERT INTO {TABLE} ({_COLUMNS}) {_aggregate_select('events', ' AND ' + old_key)}"
    )
    when = "WHEN NEW.experiment IS NOT NULL AND NEW.arm IS NOT NULL"
    # SQLite does not enforce the events -> completions foreign key: events stored before their
    # completion are folded in when it arrives (PostgreSQL refuses such events).
    on_completion = (
        f"DELETE FROM {TABLE} WHERE completion_id = NEW.id; "
        f"INSERT INTO {TABLE} ({_COLUMNS}) {_aggregate_select('events', ' AND e.completion_id = NEW.id')}"
    )
    return [
        "DROP TRIGGER IF EXISTS choice_facts_completion",
        f"CREATE TRIGGER choice_facts_completion AFTER INSERT ON completions FOR EACH ROW "
        f"WHEN EXISTS (SELECT 1 FROM events WHERE completion_id = NEW.id) BEGIN {on_completion}; END",
        "DROP TRIGGER IF EXISTS choice_facts_insert",
        f"CREATE TRIGGER choice_facts_insert AFTER INSERT ON events FOR EACH ROW {when} BEGIN {on_insert}; END",
        "DROP TRIGGER IF EXISTS choice_facts_delete",
        f"CREATE TRIGGER choice_facts_delete AFTER DELETE ON events FOR EACH ROW "
        f"{when.replace('NEW.', 'OLD.')} BEGIN {on_delete}; END",
    ]


def install_triggers(conn: Connection) -> None:
    """Create (or replace) the triggers that keep `choice_facts` equal to its definition over `events`."""
    if conn.dialect.name not in ("postgresql", "sqlite"):
        return
    for statement in _postgresql_ddl() if conn.dialect.name == "postgresql" else _sqlite_ddl():
        conn.exec_driver_sql(statement)


def backfill(conn: Connection) -> None:
    """Recompute `choice_facts` from `events` (migration 0007; a database seeded without the triggers)."""
    conn.exec_driver_sql(f"DELETE FROM {TABLE}")
    conn.exec_driver_sql(f"INSERT INTO {TABLE} ({_COLUMNS}) {_aggregate_select('events', '')}")


def on_create_all(target: object, connection: Connection, **_: object) -> None:
    """`Base.metadata` after_create hook: the triggers, once both tables exist."""
    del target
    names = set(inspect(connection).get_table_names())
    if {TABLE, "events", "completions"} <= names:
        install_triggers(connection)
