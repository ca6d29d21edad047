"""Console sessions an agent ended: each session carries the account's session epoch, which
signing out moves on.

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
    with op.batch_alter_table("agent_accounts") as table:
        table.add_column(sa.Column("session_epoch", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("agent_accounts") as table:
        table.drop_column("session_epoch")
