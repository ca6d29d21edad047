"""WeCom (企业微信) accounts linked to merchants.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wecom_users",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("linked_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("wecom_users")
