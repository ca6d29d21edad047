"""Handoff tickets and their events (the outbox of messages from agents to merchants).

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_tickets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(300), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("script", sa.String(8), nullable=True),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_at", sa.DateTime, nullable=True),
        sa.Column("closed_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_handoff_tickets_conversation_id", "handoff_tickets", ["conversation_id"])
    op.create_index("ix_handoff_tickets_status", "handoff_tickets", ["status", "created_at"])
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer,
                  sa.ForeignKey("handoff_tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("for_merchant", sa.Boolean, nullable=False),
        sa.Column("delivered_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_ticket_events_ticket_id", "ticket_events", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("ticket_events")
    op.drop_table("handoff_tickets")
