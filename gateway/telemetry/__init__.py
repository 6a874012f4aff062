"""Telemetry: schema (tables), the only gateway SQL (repository), the batched durable writer, and the
dead-letter file for rows the database refuses (deadletter)."""
