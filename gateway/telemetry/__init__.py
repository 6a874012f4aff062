"""Telemetry: schema (tables), the only gateway SQL (repository), and the batched durable writer."""
