"""Where a refused request came from: the client's address on each audit row.

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
    with op.batch_alter_table("audit_log") as table:
        table.add_column(sa.Column("source", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as table:
        table.drop_column("source")
