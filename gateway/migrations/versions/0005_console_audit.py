"""console_sessions, console_audit and the console's daily rollups (gateway/console/rollup.py)

Revision ID: 0005
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _dims() -> list[sa.Column]:  # type: ignore[type-arg]
    """The rollups' key: UTC day and the overview's filters ('' for none)."""
    return [
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("experiment", sa.String(200), primary_key=True),
        sa.Column("arm", sa.String(200), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("language", sa.String(64), primary_key=True),
    ]


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.Integer(), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_console_sessions_key_id", "console_sessions", ["key_id"])
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])
    op.create_table(
        "console_audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("user", sa.String(200), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_console_audit_at", "console_audit", ["at"])
    counts: tuple[str, ...] = ("completions", "errors", "annotated", "redacted", "blocked", "events")
    counts += ("shown", "accepted", "accepted_chars")
    counts += ("persisted_30s", "persisted_120s", "persisted_600s", "retained_chars")
    op.create_table("console_daily", *_dims(), *[sa.Column(n, sa.BigInteger(), nullable=False) for n in counts])
    op.create_table(
        "console_daily_latency",
        *_dims(),
        sa.Column("latency_ms", sa.Integer(), primary_key=True),
        sa.Column("n", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "console_daily_reasons",
        *_dims(),
        sa.Column("reason", sa.String(100), primary_key=True),
        sa.Column("n", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "console_rollup_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("covered_until", sa.DateTime(timezone=True), nullable=False),  # day end, or an hour today
        sa.Column("completions", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for name in ("console_rollup_days", "console_daily_reasons", "console_daily_latency", "console_daily"):
        op.drop_table(name)
    op.drop_table("console_audit")
    op.drop_table("console_sessions")
