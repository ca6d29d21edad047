"""Tables for merchants, their rolling 90-day metrics, category benchmarks, assessments, audit."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Column, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import declarative_base

# Any: SQLAlchemy 1.4 ships no type information, and mypy accepts no call's result as a base class.
Base: Any = declarative_base()


class Merchant(Base):
    """A seller, with the tier the platform assigned at the last assessment."""

    __tablename__ = "merchants"
    id = Column(String(64), primary_key=True)
    name = Column(String(200), nullable=False)
    l2_category = Column(String(100), nullable=False)
    china_good_seller_since = Column(Date, nullable=True)
    current_tier = Column(String(16), nullable=False, default="none")
    # When a metrics import last changed this record: its name, category, 中国好卖家 date or
    # tier (an import that changes none of them, metrics included, leaves it as it was).
    updated_at = Column(DateTime, nullable=False, default=dt.datetime.utcnow)


class MerchantMetrics(Base):
    """The merchant's rolling 90-day metrics as of the latest daily export (rates in percent)."""

    __tablename__ = "merchant_metrics"
    merchant_id = Column(String(64), ForeignKey("merchants.id", ondelete="CASCADE"),
                         primary_key=True)
    as_of = Column(Date, nullable=False)
    has_trade_90d = Column(Boolean, nullable=False)
    payment_rank_top_pct = Column(Float, nullable=False)
    online_72h_rate = Column(Float, nullable=False)
    snad_dispute_rate = Column(Float, nullable=False)
    positive_feedback_rate = Column(Float, nullable=False)
    dingtalk_active_days_90d = Column(Integer, nullable=False)
    # Violation records of the window, as counted by the platform.
    ip_severe_infringements = Column(Integer, nullable=False)
    ip_prohibited_points = Column(Integer, nullable=False)
    trade_violation_points = Column(Integer, nullable=False)
    banned_or_frozen = Column(Boolean, nullable=False)
    industry_conditions_met = Column(Boolean, nullable=False)


class CategoryBenchmark(Base):
    """Level-2 category averages the dispute rate is compared with."""

    __tablename__ = "category_benchmarks"
    l2_category = Column(String(100), primary_key=True)
    snad_dispute_avg = Column(Float, nullable=False)


class AssessmentResult(Base):
    """One merchant's outcome in one quarterly assessment."""

    __tablename__ = "assessment_results"
    id = Column(Integer, primary_key=True, autoincrement=True)
    quarter = Column(String(8), nullable=False)
    merchant_id = Column(String(64), ForeignKey("merchants.id", ondelete="CASCADE"),
                         nullable=False)
    outcome = Column(String(16), nullable=False)
    missed = Column(Text, nullable=False, default="")  # comma-separated metric names
    assessed_at = Column(DateTime, nullable=False, default=dt.datetime.utcnow)
    __table_args__ = (Index("ix_assessment_quarter_merchant", "quarter", "merchant_id",
                            unique=True),)


class AuditRecord(Base):
    """Every read of a merchant's private data, allowed or refused."""

    __tablename__ = "audit_log"
    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(DateTime, nullable=False, default=dt.datetime.utcnow)
    actor = Column(String(300), nullable=True)
    actor_role = Column(String(16), nullable=True)
    subject_merchant = Column(String(300), nullable=True)
    action = Column(String(64), nullable=False)
    allowed = Column(Boolean, nullable=False)
    reason = Column(String(300), nullable=False, default="")
    # The client's address (a refused request's origin); None for reads inside a turn.
    source = Column(String(64), nullable=True)


class HandoffTicket(Base):
    """A conversation handed to a human agent: open, claimed by an agent, then closed."""

    __tablename__ = "handoff_tickets"
    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(300), nullable=False, index=True)
    channel = Column(String(64), nullable=False)
    merchant_id = Column(String(64), nullable=True)  # only when the channel authenticated them
    reason = Column(String(32), nullable=False)  # requested | repeated_failure
    status = Column(String(16), nullable=False, default="open")  # open | claimed | closed
    script = Column(String(8), nullable=True)  # the merchant's script, for agent messages
    summary = Column(Text, nullable=False)  # JSON, see actions.handoff.conversation_summary
    created_at = Column(DateTime, nullable=False, default=dt.datetime.utcnow)
    claimed_by = Column(String(64), nullable=True)
    claimed_at = Column(DateTime, nullable=True)
    closed_at = Column(DateTime, nullable=True)
    __table_args__ = (Index("ix_handoff_tickets_status", "status", "created_at"),)


class TicketEvent(Base):
    """What happened on a ticket; rows with text for the merchant are also its outbox."""

    __tablename__ = "ticket_events"
    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id = Column(Integer, ForeignKey("handoff_tickets.id", ondelete="CASCADE"),
                       nullable=False, index=True)
    at = Column(DateTime, nullable=False, default=dt.datetime.utcnow)
    # created | claimed | agent_message | delegated | assistant_answer | handed_back
    kind = Column(String(32), nullable=False)
    actor = Column(String(64), nullable=True)
    text = Column(Text, nullable=False, default="")
    # For messages to the merchant: set once a channel has passed the message on.
    for_merchant = Column(Boolean, nullable=False, default=False)
    delivered_at = Column(DateTime, nullable=True)


class DingTalkUser(Base):
    """A DingTalk account (staff id) that speaks for a merchant on the DingTalk channel."""

    __tablename__ = "dingtalk_users"
    staff_id = Column(String(128), primary_key=True)
    merchant_id = Column(String(64), nullable=False)
    linked_at = Column(DateTime, nullable=False, default=dt.datetime.utcnow)


class WeComUser(Base):
    """A WeCom (企业微信) account (the UserID WeCom sends as FromUserName) that speaks for a merchant
    on the WeCom channel."""

    __tablename__ = "wecom_users"
    user_id = Column(String(128), primary_key=True)
    merchant_id = Column(String(64), nullable=False)
    linked_at = Column(DateTime, nullable=False, default=dt.datetime.utcnow)


class AgentAccount(Base):
    """A customer-service agent who signs in to the agent console with a password.

    Created by an operator (`python -m actions.cli agent add NAME`); only an argon2 hash of the
    password is stored."""

    __tablename__ = "agent_accounts"
    name = Column(String(64), primary_key=True)
    password_hash = Column(String(200), nullable=False)
    created_at = Column(DateTime, nullable=False, default=dt.datetime.utcnow)
    disabled = Column(Boolean, nullable=False, default=False)
    # Every console session carries the epoch it was issued in; signing out moves it on, which
    # ends them all.
    session_epoch = Column(Integer, nullable=False, default=0, server_default="0")


class TierProjection(Base):
    """A merchant's tier as their latest imported metrics would be assessed, and the gold and
    silver conditions they miss: what the next import is compared with (core/tiers/watch.py)."""

    __tablename__ = "tier_projections"
    merchant_id = Column(String(64), ForeignKey("merchants.id", ondelete="CASCADE"), primary_key=True)
    outcome = Column(String(16), nullable=False)
    missed_gold = Column(Text, nullable=False, default="")  # comma-separated metric names
    missed_silver = Column(Text, nullable=False, default="")
    as_of = Column(Date, nullable=False)
    updated_at = Column(DateTime, nullable=False, default=dt.datetime.utcnow)


class TierAlert(Base):
    """A change of a merchant's projection that matters, with the metrics as they were then."""

    __tablename__ = "tier_alerts"
    id = Column(Integer, primary_key=True, autoincrement=True)
    # projection: the metrics of an import changed what the next assessment would give;
    # assessment: a quarterly assessment gave the store another tier than it has.
    kind = Column(String(16), nullable=False, default="projection", server_default="projection")
    merchant_id = Column(String(64), ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False)
    as_of = Column(Date, nullable=False)
    old_outcome = Column(String(16), nullable=False)
    new_outcome = Column(String(16), nullable=False)
    old_missed_gold = Column(Text, nullable=False, default="")
    new_missed_gold = Column(Text, nullable=False, default="")
    old_missed_silver = Column(Text, nullable=False, default="")
    new_missed_silver = Column(Text, nullable=False, default="")
    payment_rank_top_pct = Column(Float, nullable=False)
    online_72h_rate = Column(Float, nullable=False)
    snad_dispute_rate = Column(Float, nullable=False)
    positive_feedback_rate = Column(Float, nullable=False)
    dingtalk_active_days_90d = Column(Integer, nullable=False)
    industry_conditions_met = Column(Boolean, nullable=False)
    ip_severe_infringements = Column(Integer, nullable=False)
    ip_prohibited_points = Column(Integer, nullable=False)
    trade_violation_points = Column(Integer, nullable=False)
    banned_or_frozen = Column(Boolean, nullable=False)
    snad_dispute_avg = Column(Float, nullable=True)
    created_at = Column(DateTime, nullable=False, default=dt.datetime.utcnow)
    __table_args__ = (Index("ix_tier_alerts_merchant", "merchant_id", "as_of"),)


class AlertDelivery(Base):
    """One alert to one address on one channel: the alerts' outbox. Pushed channels deliver at
    least once, the app at most once (actions/alerts.py); the key (alert, channel, address) is
    unique."""

    __tablename__ = "alert_deliveries"
    id = Column(Integer, primary_key=True, autoincrement=True)
    alert_id = Column(Integer, ForeignKey("tier_alerts.id", ondelete="CASCADE"), nullable=False)
    merchant_id = Column(String(64), nullable=False)
    channel = Column(String(16), nullable=False)  # dingtalk | wecom | app
    address = Column(String(128), nullable=False)  # the linked account, or the merchant id (app)
    idempotency_key = Column(String(200), nullable=False, unique=True)
    # pending | sending (claimed by a delivery process) | sent | given_up | cancelled
    status = Column(String(16), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=False, default=dt.datetime.utcnow)
    sent_at = Column(DateTime, nullable=True)
    last_error = Column(String(300), nullable=True)
    created_at = Column(DateTime, nullable=False, default=dt.datetime.utcnow)
    __table_args__ = (Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
                      Index("ix_alert_deliveries_merchant", "merchant_id", "channel", "sent_at"))


class MerchantPreference(Base):
    """What a merchant chose: whether they get tier alerts, and the script they last wrote in
    (alerts are written in it)."""

    __tablename__ = "merchant_preferences"
    merchant_id = Column(String(64), primary_key=True)
    alerts_enabled = Column(Boolean, nullable=False, default=True)
    script = Column(String(8), nullable=True)
    updated_at = Column(DateTime, nullable=False, default=dt.datetime.utcnow)
