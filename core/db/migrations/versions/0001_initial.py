"""Merchants, metrics, category benchmarks, assessments, audit log.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "merchants",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("l2_category", sa.String(100), nullable=False),
        sa.Column("china_good_seller_since", sa.Date, nullable=True),
        sa.Column("current_tier", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "merchant_metrics",
        sa.Column("merchant_id", sa.String(64), sa.ForeignKey("merchants.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("has_trade_90d", sa.Boolean, nullable=False),
        sa.Column("payment_rank_top_pct", sa.Float, nullable=False),
        sa.Column("online_72h_rate", sa.Float, nullable=False),
        sa.Column("snad_dispute_rate", sa.Float, nullable=False),
        sa.Column("positive_feedback_rate", sa.Float, nullable=False),
        sa.Column("dingtalk_active_days_90d", sa.Integer, nullable=False),
        sa.Column("ip_severe_infringements", sa.Integer, nullable=False),
        sa.Column("ip_prohibited_points", sa.Integer, nullable=False),
        sa.Column("trade_violation_points", sa.Integer, nullable=False),
        sa.Column("banned_or_frozen", sa.Boolean, nullable=False),
        sa.Column("industry_conditions_met", sa.Boolean, nullable=False),
    )
    op.create_table(
        "category_benchmarks",
        sa.Column("l2_category", sa.String(100), primary_key=True),
        sa.Column("snad_dispute_avg", sa.Float, nullable=False),
    )
    op.create_table(
        "assessment_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("quarter", sa.String(8), nullable=False),
        sa.Column("merchant_id", sa.String(64), sa.ForeignKey("merchants.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("missed", sa.Text, nullable=False),
        sa.Column("assessed_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_assessment_quarter_merchant", "assessment_results",
                    ["quarter", "merchant_id"], unique=True)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(300), nullable=True),
        sa.Column("actor_role", sa.String(16), nullable=True),
        sa.Column("subject_merchant", sa.String(300), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("allowed", sa.Boolean, nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_log", "assessment_results", "category_benchmarks", "merchant_metrics",
                  "merchants"):
        op.drop_table(table)
