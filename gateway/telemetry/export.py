"""Export telemetry for analysts: one Parquet file, one row per completion or event.

The columns are the shared schema in codesieve/core/telemetry/export_schema.py (the format
`codesieve ab report --events FILE` reads). No prompt or completion text is ever exported.
"""

from __future__ import annotations

import os
from datetime import UTC
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.engine import Engine

from codesieve.core.telemetry.export_schema import SCHEMA
from codesieve.core.telemetry.tables import CompletionRecord, EventRecord

_BATCH = 100_000


def _utc(ts: Any) -> Any:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def _completion_row(r: Any) -> dict[str, Any]:
    return {
        "record_type": "completion",
        "id": r.id,
        "completion_id": r.id,
        "experiment": r.experiment,
        "arm": r.arm,
        "unit_id": r.unit_id,
        "created_at": _utc(r.created_at),
        "latency_ms": r.latency_ms,
        "filter_action": r.filter_action,
        "is_error": r.is_error,
    }


def _event_row(r: Any) -> dict[str, Any]:
    return {
        "record_type": "event",
        "id": str(r.id),
        "completion_id": r.completion_id,
        "experiment": r.experiment,
        "arm": r.arm,
        "unit_id": r.unit_id,
        "created_at": _utc(r.created_at),
        "kind": r.kind,
        "accepted_chars": r.accepted_chars,
        "accepted_lines": r.accepted_lines,
        "accepted_chars_source": r.accepted_chars_source,
        "after_s": r.after_s,
        "edit_distance_ratio": r.edit_distance_ratio,
        "is_persisted": r.is_persisted,
        "retained_chars": r.retained_chars,
    }


def export_parquet(engine: Engine, output: Path, *, experiment: str | None = None) -> dict[str, int]:
    """Stream completions then events into `output` (written to a temp file, then renamed)."""
    c, e = CompletionRecord, EventRecord
    comp_q = select(c.id, c.experiment, c.arm, c.unit_id, c.created_at, c.latency_ms, c.filter_action, c.is_error)
    ev_q = select(
        e.id,
        e.completion_id,
        e.experiment,
        e.arm,
        e.unit_id,
        e.created_at,
        e.kind,
        e.accepted_chars,
        e.accepted_lines,
        e.accepted_chars_source,
        e.after_s,
        e.edit_distance_ratio,
        e.is_persisted,
        e.retained_chars,
    )
    if experiment is not None:
        comp_q = comp_q.where(c.experiment == experiment)
        ev_q = ev_q.where(e.experiment == experiment)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    counts = {"completions": 0, "events": 0}
    try:
        with pq.ParquetWriter(tmp, SCHEMA) as writer, engine.connect() as conn:
            for name, query, to_row in (
                ("completions", comp_q.order_by(c.created_at), _completion_row),
                ("events", ev_q.order_by(e.id), _event_row),
            ):
                result = conn.execution_options(stream_results=True).execute(query)
                while chunk := result.fetchmany(_BATCH):
                    rows = [to_row(r) for r in chunk]
                    writer.write_table(pa.Table.from_pylist(rows, schema=SCHEMA))
                    counts[name] += len(rows)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return counts
