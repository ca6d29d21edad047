"""DingTalk accounts linked to merchants.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dingtalk_users",
        sa.Column("staff_id", sa.String(128), primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("linked_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dingtalk_users")
