"""Demo merchants for a fresh installation: one per outcome of the tier rules."""
from __future__ import annotations

import datetime as dt
from typing import Any, Dict

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core import clock
from core.db.models import CategoryBenchmark, Merchant, MerchantMetrics

CATEGORIES = {"女装": 1.2, "消费电子": 0.8, "家居用品": 1.0}
# id, name, category, current tier, china good seller since (days ago), metrics
DEMO = [
    ("M1001", "杭州锦绣服饰", "女装", "gold", None,
     dict(payment_rank_top_pct=4.5, online_72h_rate=93.0, snad_dispute_rate=0.6,
          positive_feedback_rate=96.5, dingtalk_active_days_90d=80)),
    ("M1002", "深圳优品电子", "消费电子", "silver", None,
     dict(payment_rank_top_pct=18.0, online_72h_rate=88.0, snad_dispute_rate=0.7,
          positive_feedback_rate=93.0, dingtalk_active_days_90d=45)),
    ("M1003", "义乌百货商行", "家居用品", "silver", None,
     dict(payment_rank_top_pct=35.0, online_72h_rate=81.5, snad_dispute_rate=1.4,
          positive_feedback_rate=90.2, dingtalk_active_days_90d=20)),
    ("M1004", "广州潮流鞋业", "女装", "gold", None,
     dict(payment_rank_top_pct=6.0, online_72h_rate=90.0, snad_dispute_rate=1.0,
          positive_feedback_rate=94.0, dingtalk_active_days_90d=70, trade_violation_points=26)),
    ("M1005", "宁波新锐家居", "家居用品", "silver", 30,
     dict(payment_rank_top_pct=50.0, online_72h_rate=70.0, snad_dispute_rate=2.0,
          positive_feedback_rate=85.0, dingtalk_active_days_90d=10)),
    ("M1006", "台州小商品", "家居用品", "none", None,
     dict(has_trade_90d=False, payment_rank_top_pct=100.0, online_72h_rate=0.0,
          snad_dispute_rate=0.0, positive_feedback_rate=0.0, dingtalk_active_days_90d=0)),
]


def seed_demo(factory: "sessionmaker[Session]", today: dt.date | None = None) -> bool:
    """Insert the demo merchants if there are no merchants yet; return whether it did."""
    today = today or clock.today()
    with factory.begin() as session:
        if session.execute(select(func.count()).select_from(Merchant)).scalar_one():
            return False
        for category, average in CATEGORIES.items():
            session.merge(CategoryBenchmark(l2_category=category, snad_dispute_avg=average))
        for merchant_id, name, category, tier, since_days, metrics in DEMO:
            since = today - dt.timedelta(days=since_days) if since_days is not None else None
            session.add(Merchant(id=merchant_id, name=name, l2_category=category,
                                 china_good_seller_since=since, current_tier=tier,
                                 updated_at=dt.datetime.utcnow()))
            values: Dict[str, Any] = dict(has_trade_90d=True, ip_severe_infringements=0,
                                          ip_prohibited_points=0, trade_violation_points=0,
                                          banned_or_frozen=False, industry_conditions_met=True)
            values.update(metrics)
            session.add(MerchantMetrics(merchant_id=merchant_id, as_of=today, **values))
    return True
