"""The telemetry export's Parquet schema: one file, one row per completion or event.

Written by `codesieve telemetry export` (gateway/telemetry/export.py), read by `codesieve ab report
--events FILE` (experiments/ab/parquet_export.py).

Columns (the format `codesieve ab report --events FILE` reads):
  record_type       "completion" | "event"
  id                completion id, or the event's row id (as text)
  completion_id     the completion the row belongs to (= id for completion rows)
  experiment, arm   experiment name and arm, or null
  unit_id           pseudonymous randomization unit (keyed hash of the user)
  created_at        timestamp (UTC)
  kind              event kind: shown | accepted | dismissed | persisted (null for completions)
  accepted_chars, accepted_lines            accepted events
  accepted_chars_source   "client" (the plugin reported what it inserted) | "server" (estimated from
                    the served text: a full accept = its length, a Tabby line accept = its first
                    line; an overstatement where the plugin trimmed the completion, as tabby-agent
                    does) | null (not an accepted event, no length, or recorded before this column)
  after_s, edit_distance_ratio, is_persisted, retained_chars     persisted events
  latency_ms        end-to-end latency of the completion (completion rows)
  filter_action     none | annotated | redacted | blocked (completion rows)
  is_error          the completion failed (completion rows)
No prompt or completion text is ever exported.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA = pa.schema(
    [
        ("record_type", pa.string()),
        ("id", pa.string()),
        ("completion_id", pa.string()),
        ("experiment", pa.string()),
        ("arm", pa.string()),
        ("unit_id", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("kind", pa.string()),
        ("accepted_chars", pa.int64()),
        ("accepted_lines", pa.int64()),
        ("accepted_chars_source", pa.string()),
        ("after_s", pa.int64()),
        ("edit_distance_ratio", pa.float64()),
        ("is_persisted", pa.bool_()),
        ("retained_chars", pa.int64()),
        ("latency_ms", pa.float64()),
        ("filter_action", pa.string()),
        ("is_error", pa.bool_()),
    ]
)
