"""Tier alerts of two kinds: a projection that changed after an import, and an assessment's result.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tier_alerts") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="projection"))


def downgrade() -> None:
    with op.batch_alter_table("tier_alerts") as batch:
        batch.drop_column("kind")
