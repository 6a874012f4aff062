"""choice_facts: each completion choice's events summed, kept by triggers on events (the A/B report's input)

Revision ID: 0007
Revises: 0006

Backfilled from the events already stored (one grouping of the events table: minutes on a large
database, once). The triggers' DDL is codesieve/core/telemetry/choice_facts.py's.
"""

import sqlalchemy as sa
from alembic import op

from codesieve.core.telemetry import choice_facts

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "choice_facts",
        sa.Column("experiment", sa.String(200), primary_key=True),
        sa.Column("completion_id", sa.String(64), primary_key=True),
        sa.Column("choice_index", sa.Integer(), primary_key=True),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("arm", sa.String(200), nullable=True),
        sa.Column("language", sa.String(64), nullable=True),
        sa.Column("client", sa.String(64), nullable=True),
        sa.Column("request_shape", sa.String(16), nullable=False),
        sa.Column("completion_chars", sa.Integer(), nullable=True),
        sa.Column("n_choices", sa.Integer(), nullable=True),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        *[sa.Column(name, sa.BigInteger(), nullable=False) for name in choice_facts.COUNT_COLUMNS],
        sa.Column("max_visible_ms", sa.Float(), nullable=True),
    )
    conn = op.get_bind()
    choice_facts.install_triggers(conn)
    choice_facts.backfill(conn)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        for name in ("insert", "delete", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS choice_facts_{name} ON events")
            op.execute(f"DROP FUNCTION IF EXISTS codesieve_choice_facts_{name}()")
    else:
        for name in ("insert", "delete", "completion"):
            op.execute(f"DROP TRIGGER IF EXISTS choice_facts_{name}")
    op.drop_table("choice_facts")
