"""SQLAlchemy 2.0 schema of the telemetry database: completions, events, activity, API keys, experiments.

Schema only: no queries here. Changes go through an Alembic migration in `gateway/migrations/`.
Unit ids are pseudonymous (a keyed hash of the user or machine id); raw prompt/completion text is
only stored when a deployment opts in (`store_raw_text`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import event as sa_event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from codesieve.core.telemetry import choice_facts


class Base(DeclarativeBase):
    pass


class ApiKeyRecord(Base):
    """An API key, stored as a SHA-256 of the key; the key itself is shown once at creation."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CompletionRecord(Base):
    """One answered (or failed) completion request."""

    __tablename__ = "completions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    unit_id: Mapped[str] = mapped_column(String(64), index=True)  # keyed hash of the user
    machine_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # keyed hash
    experiment: Mapped[str | None] = mapped_column(String(200), nullable=True)
    arm: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model: Mapped[str] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_shape: Mapped[str] = mapped_column(String(16))  # "openai" | "tabby"
    # editor/plugin name/version (X-Client or the User-Agent's first token), for A/B segments
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    n_choices: Mapped[int] = mapped_column(Integer, default=1)
    prompt_chars: Mapped[int] = mapped_column(Integer, default=0)
    suffix_chars: Mapped[int] = mapped_column(Integer, default=0)
    completion_chars: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    upstream_latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    finish_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # "none" | "annotated" | "redacted" | "blocked": the strongest filter action on any choice
    filter_action: Mapped[str] = mapped_column(String(16), default="none")
    filter_reasons: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list of codes
    # JSON list of provenance matches (repo, path, lines, licence, similarity): reference-corpus
    # metadata for GET /v1/references/{id}, never the user's code.
    attributions: Mapped[str | None] = mapped_column(Text, nullable=True)
    is_error: Mapped[bool] = mapped_column(Boolean, default=False)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Only written when the deployment sets store_raw_text; secrets are redacted first even then.
    prompt_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    completion_text: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_completions_experiment_arm", "experiment", "arm"),)


class EventRecord(Base):
    """One IDE telemetry event about a completion (shown, accepted, dismissed, persisted)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    client_event_id: Mapped[str] = mapped_column(String(128))
    completion_id: Mapped[str] = mapped_column(ForeignKey("completions.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    unit_id: Mapped[str] = mapped_column(String(64), index=True)
    experiment: Mapped[str | None] = mapped_column(String(200), nullable=True)
    arm: Mapped[str | None] = mapped_column(String(200), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # shown|accepted|dismissed|persisted
    choice_index: Mapped[int] = mapped_column(Integer, default=0)
    accept_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)  # full|partial
    accepted_chars: Mapped[int | None] = mapped_column(Integer, nullable=True)
    accepted_lines: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Where accepted_chars comes from: "client" (the plugin reported what it inserted) or "server"
    # (the gateway's estimate from the text it served, which the plugin may have trimmed).
    accepted_chars_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    after_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    edit_distance_ratio: Mapped[float | None] = mapped_column(Float, nullable=True)
    is_persisted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    retained_chars: Mapped[int | None] = mapped_column(Integer, nullable=True)
    elapsed_ms: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (
        UniqueConstraint("unit_id", "client_event_id", name="uq_events_unit_client_event"),
        Index("ix_events_experiment_arm_kind", "experiment", "arm", "kind"),
    )


class ChoiceFactRecord(Base):
    """One completion choice's events summed (the A/B report's input), kept by triggers on `events`.

    Derived data: `codesieve/core/telemetry/choice_facts.py` keeps it equal to grouping the choice's events
    (with an experiment and an arm) whatever order they arrive in; never written by application code.
    """

    __tablename__ = "choice_facts"

    experiment: Mapped[str] = mapped_column(String(200), primary_key=True)
    completion_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    choice_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    # copied from the completion
    unit_id: Mapped[str] = mapped_column(String(64))
    arm: Mapped[str | None] = mapped_column(String(200), nullable=True)
    language: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_shape: Mapped[str] = mapped_column(String(16))
    completion_chars: Mapped[int | None] = mapped_column(Integer, nullable=True)
    n_choices: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # the choice's events: earliest time, counts per kind, persisted checkpoints, characters
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    n_shown: Mapped[int] = mapped_column(BigInteger)
    n_accepted: Mapped[int] = mapped_column(BigInteger)
    n_persisted_15s: Mapped[int] = mapped_column(BigInteger)
    n_persisted_30s: Mapped[int] = mapped_column(BigInteger)
    n_persisted_120s: Mapped[int] = mapped_column(BigInteger)
    n_persisted_300s: Mapped[int] = mapped_column(BigInteger)
    n_persisted_600s: Mapped[int] = mapped_column(BigInteger)
    retained_chars: Mapped[int] = mapped_column(BigInteger)  # at the 600 s checkpoint
    accepted_chars: Mapped[int] = mapped_column(BigInteger)
    max_visible_ms: Mapped[float | None] = mapped_column(Float, nullable=True)


class ActivityRecord(Base):
    """A plugin's periodic count of characters typed and pasted (no completion): the PCW denominator.

    Not tied to a completion, so it carries no experiment or arm; the A/B report attributes it to a
    unit's arm through `assignments`, from the unit's first exposure on.
    """

    __tablename__ = "activity"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    client_event_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    unit_id: Mapped[str] = mapped_column(String(64))
    chars_typed: Mapped[int] = mapped_column(Integer)  # typed by the user: no pastes, no accepted completions
    chars_pasted: Mapped[int] = mapped_column(Integer)  # reported so that it can be excluded
    period_s: Mapped[int] = mapped_column(Integer)  # the span the counts cover

    __table_args__ = (
        UniqueConstraint("unit_id", "client_event_id", name="uq_activity_unit_client_event"),
        Index("ix_activity_unit_created", "unit_id", "created_at"),
    )


class ExperimentRecord(Base):
    """An experiment definition (from the config file or the admin API); `definition` is its JSON."""

    __tablename__ = "experiments"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    definition: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # "file" | "api"
    start_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    stop_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AssignmentRecord(Base):
    """First exposure of a unit to an experiment, with its arm (assignment itself is a pure hash)."""

    __tablename__ = "assignments"

    experiment: Mapped[str] = mapped_column(String(200), primary_key=True)
    unit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    arm: Mapped[str] = mapped_column(String(200))
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DailyUnitAggregateRecord(Base):
    """Per-unit daily counts kept after raw rows pass the retention period."""

    __tablename__ = "daily_unit_aggregates"

    day: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    unit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    experiment: Mapped[str] = mapped_column(String(200), primary_key=True, default="")
    arm: Mapped[str] = mapped_column(String(200), primary_key=True, default="")
    completions: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    blocked: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms_sum: Mapped[float] = mapped_column(Float, default=0.0)
    shown: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    dismissed: Mapped[int] = mapped_column(Integer, default=0)
    accepted_chars: Mapped[int] = mapped_column(Integer, default=0)
    persisted_checks: Mapped[int] = mapped_column(Integer, default=0)
    persisted: Mapped[int] = mapped_column(Integer, default=0)
    retained_chars: Mapped[int] = mapped_column(Integer, default=0)


class ConsoleSessionRecord(Base):
    """A signed-in console session: the cookie's SHA-256 (never the cookie), its CSRF token, expiry."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ConsoleAuditRecord(Base):
    """One console action (sign-in, page view, experiment or key change), who did it and the outcome."""

    __tablename__ = "console_audit"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user: Mapped[str | None] = mapped_column(String(200), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))  # ok | refused | invalid
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # a short message; never a key or code


# The triggers that keep choice_facts (created with the tables by create_all; migrations: 0007).
sa_event.listen(Base.metadata, "after_create", choice_facts.on_create_all)
