"""Tier watch: projections, alerts, their deliveries, and merchants' alert preferences.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tier_projections",
        sa.Column("merchant_id", sa.String(64), sa.ForeignKey("merchants.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("missed_gold", sa.Text, nullable=False),
        sa.Column("missed_silver", sa.Text, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "tier_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("merchant_id", sa.String(64), sa.ForeignKey("merchants.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("old_outcome", sa.String(16), nullable=False),
        sa.Column("new_outcome", sa.String(16), nullable=False),
        sa.Column("old_missed_gold", sa.Text, nullable=False),
        sa.Column("new_missed_gold", sa.Text, nullable=False),
        sa.Column("old_missed_silver", sa.Text, nullable=False),
        sa.Column("new_missed_silver", sa.Text, nullable=False),
        sa.Column("payment_rank_top_pct", sa.Float, nullable=False),
        sa.Column("online_72h_rate", sa.Float, nullable=False),
        sa.Column("snad_dispute_rate", sa.Float, nullable=False),
        sa.Column("positive_feedback_rate", sa.Float, nullable=False),
        sa.Column("dingtalk_active_days_90d", sa.Integer, nullable=False),
        sa.Column("industry_conditions_met", sa.Boolean, nullable=False),
        sa.Column("ip_severe_infringements", sa.Integer, nullable=False),
        sa.Column("ip_prohibited_points", sa.Integer, nullable=False),
        sa.Column("trade_violation_points", sa.Integer, nullable=False),
        sa.Column("banned_or_frozen", sa.Boolean, nullable=False),
        sa.Column("snad_dispute_avg", sa.Float, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_tier_alerts_merchant", "tier_alerts", ["merchant_id", "as_of"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("tier_alerts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(128), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime, nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_alert_deliveries_due", "alert_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_alert_deliveries_merchant", "alert_deliveries", ["merchant_id", "channel", "sent_at"])
    op.create_table(
        "merchant_preferences",
        sa.Column("merchant_id", sa.String(64), primary_key=True),
        sa.Column("alerts_enabled", sa.Boolean, nullable=False),
        sa.Column("script", sa.String(8), nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("merchant_preferences")
    op.drop_table("alert_deliveries")
    op.drop_table("tier_alerts")
    op.drop_table("tier_projections")
