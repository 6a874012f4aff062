"""activity: plugins' periodic characters typed / pasted (the percent-of-code-written denominator);
completions.client: the editor/plugin (A/B segments)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activity",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("client_event_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("chars_typed", sa.Integer(), nullable=False),
        sa.Column("chars_pasted", sa.Integer(), nullable=False),
        sa.Column("period_s", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unit_id", "client_event_id", name="uq_activity_unit_client_event"),
    )
    op.create_index("ix_activity_unit_created", "activity", ["unit_id", "created_at"])
    with op.batch_alter_table("completions") as batch_op:
        batch_op.add_column(sa.Column("client", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("completions") as batch_op:
        batch_op.drop_column("client")
    op.drop_index("ix_activity_unit_created", table_name="activity")
    op.drop_table("activity")
