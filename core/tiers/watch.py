"""Tier watch: after each metrics import, every merchant's projection (the tier its metrics
would get if assessed today) is compared with the one of the previous import, set-based, and
a change that matters becomes an alert with its deliveries.

A change that matters: the projected outcome changed (a tier gained or lost, a disqualifying
violation, the 中国好卖家 protection period over, trade stopped), or a condition of gold or
silver is newly missed or newly met. A merchant gets one alert per change of their projection,
with the figures behind it copied from the import (what they were when it changed). Nothing
changes when the same file is imported again, so it produces nothing; a merchant's first
projection is the baseline and produces nothing either.

Each alert gets one delivery per channel the merchant can be reached on: every linked DingTalk
or WeCom account, and the merchant's own app (the merchant channel's message poll). A merchant
who turned alerts off (core/alerts.py) gets none. A delivery's key (alert, channel, address) is
unique: running the watch twice writes each once.

After a quarterly assessment, a merchant whose result is another tier than the one they have
gets an alert of the result (`assessment_alerts`).

Statements, not rows: one INSERT ... SELECT per table, so that an import of a million merchants
is followed by its alerts in seconds (`make bench` measures it on PostgreSQL).
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any, List, Optional

import sqlalchemy as sa
from sqlalchemy import and_, delete, exists, func, insert, literal, or_, select
from sqlalchemy.engine import Connection, Engine

from core.db.models import (
    AlertDelivery,
    AssessmentResult,
    CategoryBenchmark,
    DingTalkUser,
    Merchant,
    MerchantMetrics,
    MerchantPreference,
    TierAlert,
    TierProjection,
    WeComUser,
)
from core.tiers import engine as rules_engine
from core.tiers.batch import missed_expression, outcome_expression
from core.tiers.engine import Rules

M = Merchant.__table__
MM = MerchantMetrics.__table__
CB = CategoryBenchmark.__table__
TP = TierProjection.__table__
TA = TierAlert.__table__
AD = AlertDelivery.__table__
MP = MerchantPreference.__table__
# The metrics an alert keeps, as they were when the projection changed.
FIGURES = ("payment_rank_top_pct", "online_72h_rate", "snad_dispute_rate", "positive_feedback_rate",
           "dingtalk_active_days_90d", "industry_conditions_met", "ip_severe_infringements",
           "ip_prohibited_points", "trade_violation_points", "banned_or_frozen")
# Channels an alert is delivered on: linked accounts (table, its account id column), then the
# merchant's own app, addressed by merchant id.
LINKED = (("dingtalk", DingTalkUser.__table__, "staff_id"), ("wecom", WeComUser.__table__, "user_id"))
APP = "app"


@dataclass
class WatchSummary:
    """What one watch run found."""

    projected: int
    alerts: int
    deliveries: int
    seconds: float

    def render(self) -> str:
        return (f"tier watch: {self.projected} merchants projected, {self.alerts} alerts, "
                f"{self.deliveries} deliveries in {self.seconds:.1f} s")


def _temporary(conn: Connection, name: str, *extra: sa.Column) -> sa.Table:
    """A temporary table of projections (and `extra` columns), for this run only."""
    table = sa.Table(name, sa.MetaData(),
                     sa.Column("merchant_id", sa.String(64), primary_key=True),
                     sa.Column("outcome", sa.String(16), nullable=False),
                     sa.Column("missed_gold", sa.Text, nullable=False),
                     sa.Column("missed_silver", sa.Text, nullable=False),
                     sa.Column("as_of", sa.Date, nullable=False),
                     *extra, prefixes=["TEMPORARY"])
    table.drop(conn, checkfirst=True)
    table.create(conn)
    return table


def _deliveries(conn: Connection, first_alert: int, now: dt.datetime) -> int:
    """One delivery per linked account and one for the app, for every alert from first_alert
    on, unless the merchant turned alerts off; each (alert, channel, address) once."""
    enabled = or_(MP.c.alerts_enabled.is_(None), MP.c.alerts_enabled.is_(True))
    written = 0
    sources = [(name, table.c[column], TA.join(table, table.c.merchant_id == TA.c.merchant_id))
               for name, table, column in LINKED]
    sources.append((APP, TA.c.merchant_id, TA))
    for channel, address, joined in sources:
        key = sa.cast(TA.c.id, sa.String) + literal(f"|{channel}|") + address
        query = (select(TA.c.id, TA.c.merchant_id, literal(channel), address, key, literal("pending"),
                        literal(0), literal(now), literal(now))
                 .select_from(joined.outerjoin(MP, MP.c.merchant_id == TA.c.merchant_id))
                 .where(TA.c.id >= first_alert, enabled,
                        ~exists().where(AD.c.idempotency_key == key)))
        result = conn.execute(insert(AD).from_select(
            ["alert_id", "merchant_id", "channel", "address", "idempotency_key", "status", "attempts",
             "next_attempt_at", "created_at"], query))
        written += max(result.rowcount or 0, 0)
    return written


def watch(engine: Engine, today: dt.date, rules: Optional[Rules] = None,
          now: Optional[dt.datetime] = None) -> WatchSummary:
    """Project every merchant with metrics as of `today`, write an alert for each change that
    matters and its deliveries (due from `now`, UTC), and keep the projections for the next
    run. One transaction."""
    rules = rules or rules_engine.load_rules(rules_engine.rules_path())
    started = time.monotonic()
    now = now or dt.datetime.utcnow()
    with engine.begin() as conn:
        run = _temporary(conn, "tier_projection_run")
        conn.execute(insert(run).from_select(
            ["merchant_id", "outcome", "missed_gold", "missed_silver", "as_of"],
            select(M.c.id, outcome_expression(rules, today),
                   missed_expression(rules, rules_engine.GOLD), missed_expression(rules, rules_engine.SILVER),
                   MM.c.as_of)
            .select_from(M.join(MM, MM.c.merchant_id == M.c.id)
                         .outerjoin(CB, CB.c.l2_category == M.c.l2_category))))
        projected = conn.execute(select(func.count()).select_from(run)).scalar() or 0
        # Only what changed (or is new) goes on: a few percent of the merchants on a usual day.
        changes = _temporary(conn, "tier_projection_change",
                             sa.Column("known", sa.Boolean, nullable=False),
                             sa.Column("old_outcome", sa.String(16)), sa.Column("old_missed_gold", sa.Text),
                             sa.Column("old_missed_silver", sa.Text))
        differs = or_(TP.c.merchant_id.is_(None), run.c.outcome != TP.c.outcome,
                      run.c.missed_gold != TP.c.missed_gold, run.c.missed_silver != TP.c.missed_silver)
        conn.execute(insert(changes).from_select(
            ["merchant_id", "outcome", "missed_gold", "missed_silver", "as_of", "known", "old_outcome",
             "old_missed_gold", "old_missed_silver"],
            select(run.c.merchant_id, run.c.outcome, run.c.missed_gold, run.c.missed_silver, run.c.as_of,
                   TP.c.merchant_id.isnot(None), TP.c.outcome, TP.c.missed_gold, TP.c.missed_silver)
            .select_from(run.outerjoin(TP, TP.c.merchant_id == run.c.merchant_id)).where(differs)))
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE tier_projection_change"))  # temporary: no statistics yet
        first_alert = (conn.execute(select(func.max(TA.c.id))).scalar() or 0) + 1
        columns: List[str] = ["merchant_id", "as_of", "old_outcome", "new_outcome", "old_missed_gold",
                              "new_missed_gold", "old_missed_silver", "new_missed_silver",
                              "snad_dispute_avg", "created_at", *FIGURES]
        # A merchant's first projection is the baseline (not `known`): no alert.
        conn.execute(insert(TA).from_select(columns, select(
            changes.c.merchant_id, changes.c.as_of, changes.c.old_outcome, changes.c.outcome,
            changes.c.old_missed_gold, changes.c.missed_gold, changes.c.old_missed_silver,
            changes.c.missed_silver, CB.c.snad_dispute_avg, literal(now), *[MM.c[f] for f in FIGURES])
            .select_from(changes.join(MM, MM.c.merchant_id == changes.c.merchant_id)
                         .join(M, M.c.id == changes.c.merchant_id)
                         .outerjoin(CB, CB.c.l2_category == M.c.l2_category))
            .where(changes.c.known)))
        alerts = conn.execute(select(func.count()).where(TA.c.id >= first_alert)).scalar() or 0
        deliveries = _deliveries(conn, first_alert, now) if alerts else 0
        conn.execute(delete(TP).where(TP.c.merchant_id.in_(
            select(changes.c.merchant_id).where(changes.c.known))))
        conn.execute(insert(TP).from_select(
            ["merchant_id", "outcome", "missed_gold", "missed_silver", "as_of", "updated_at"],
            select(changes.c.merchant_id, changes.c.outcome, changes.c.missed_gold, changes.c.missed_silver,
                   changes.c.as_of, literal(now))))
        changes.drop(conn)
        run.drop(conn)
    return WatchSummary(int(projected), int(alerts), deliveries, time.monotonic() - started)


def _tier_after(outcome: Any, current: Any) -> Any:
    """The tier a store has after an assessment with this outcome: gold or silver as assessed,
    the tier it had while protected, else none (no trade, disqualified, conditions missed)."""
    return sa.case((outcome.in_([rules_engine.GOLD, rules_engine.SILVER]), outcome),
                   (outcome == rules_engine.PROTECTED, current), else_=literal(rules_engine.NONE))


def assessment_alerts(engine: Engine, quarter: str, assessed_on: dt.date,
                      now: Optional[dt.datetime] = None) -> WatchSummary:
    """After a quarterly assessment (core/tiers/batch.py): an alert for each merchant whose
    result is another tier than the one they have (a tier gained, kept from them or lost),
    with the metrics it was decided on and the silver conditions missed, and its deliveries.
    Assessing the same quarter again writes nothing new."""
    started = time.monotonic()
    now = now or dt.datetime.utcnow()
    AR = AssessmentResult.__table__
    with engine.begin() as conn:
        first_alert = (conn.execute(select(func.max(TA.c.id))).scalar() or 0) + 1
        columns: List[str] = ["kind", "merchant_id", "as_of", "old_outcome", "new_outcome", "old_missed_gold",
                              "new_missed_gold", "old_missed_silver", "new_missed_silver",
                              "snad_dispute_avg", "created_at", *FIGURES]
        conn.execute(insert(TA).from_select(columns, select(
            literal("assessment"), AR.c.merchant_id, literal(assessed_on), M.c.current_tier, AR.c.outcome,
            literal(""), literal(""), literal(""), AR.c.missed, CB.c.snad_dispute_avg, literal(now),
            *[MM.c[f] for f in FIGURES])
            .select_from(AR.join(M, M.c.id == AR.c.merchant_id)
                         .join(MM, MM.c.merchant_id == AR.c.merchant_id)
                         .outerjoin(CB, CB.c.l2_category == M.c.l2_category))
            .where(AR.c.quarter == quarter, _tier_after(AR.c.outcome, M.c.current_tier) != M.c.current_tier,
                   ~exists().where(and_(TA.c.kind == "assessment", TA.c.merchant_id == AR.c.merchant_id,
                                        TA.c.as_of == assessed_on)))))
        alerts = conn.execute(select(func.count()).where(TA.c.id >= first_alert)).scalar() or 0
        deliveries = _deliveries(conn, first_alert, now) if alerts else 0
        assessed = conn.execute(select(func.count()).where(AR.c.quarter == quarter)).scalar() or 0
    return WatchSummary(int(assessed), int(alerts), deliveries, time.monotonic() - started)
