"""events.accepted_chars_source: whether accepted_chars was reported by the client or estimated

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch_op:
        batch_op.add_column(sa.Column("accepted_chars_source", sa.String(16), nullable=True))
    # Rows written before it stay NULL: unknown (a full accept without chars was the served length).


def downgrade() -> None:
    with op.batch_alter_table("events") as batch_op:
        batch_op.drop_column("accepted_chars_source")
