"""The quarterly assessment batch (core/tiers/batch.py) against the engine, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from core.db.demo import seed_demo
from core.db.imports import import_metrics
from core.db.models import AssessmentResult, Merchant, MerchantMetrics
from core.db.session import make_engine
from core.tiers.batch import assess_all, parse_quarter
from tests.conftest import KNOWLEDGE
from tests.metrics_csv import ROW, write_csv


def test_batch_agrees_with_the_engine(factory, db_url, tmp_path):
    seed_demo(factory, dt.date(2026, 12, 20))
    # Merchants on every boundary, each compared with engine.evaluate below.
    edges = [dict(ROW, merchant_id=f"E{i}", **change) for i, change in enumerate([
        {"online_72h_rate": "85"}, {"online_72h_rate": "84.99"}, {"positive_feedback_rate": "92"},
        {"positive_feedback_rate": "91.99"}, {"snad_dispute_rate": "1.2"}, {"snad_dispute_rate": "1.21"},
        {"ip_severe_infringements": "2"}, {"ip_severe_infringements": "1"}, {"ip_prohibited_points": "18"},
        {"trade_violation_points": "24"}, {"trade_violation_points": "23"}, {"banned_or_frozen": "1"},
        {"has_trade_90d": "0"}, {"industry_conditions_met": "0"}, {"payment_rank_top_pct": "10"},
        {"payment_rank_top_pct": "10.01"}, {"payment_rank_top_pct": "30.01"},
        {"dingtalk_active_days_90d": "60"}, {"dingtalk_active_days_90d": "59"},
        {"china_good_seller_since": "2026-07-06"}, {"china_good_seller_since": "2026-07-05"},
        {"china_good_seller_since": "2027-02-01"},
    ])]
    assert import_metrics(factory, write_csv(tmp_path / "edges.csv", edges)).imported == len(edges)
    quarter, day = parse_quarter("2026Q4")
    assert (quarter, day) == ("2026Q4", dt.date(2027, 1, 1))
    summary = assess_all(make_engine(db_url), quarter, day)
    assert summary.total == 6 + len(edges)
    assert set(summary.outcomes) == {"gold", "silver", "none", "disqualified", "protected", "no_trade"}
    again = assess_all(make_engine(db_url), quarter, day)  # re-running replaces, not duplicates
    assert again.total == 6 + len(edges) and again.outcomes == summary.outcomes
    from actions.tier_status import _metrics
    from core.db.models import CategoryBenchmark
    from core.tiers import engine
    rules = engine.load_rules(KNOWLEDGE / "tier_rules.yml")
    with factory() as s:
        rows = dict(s.execute(select(AssessmentResult.merchant_id, AssessmentResult.outcome)).all())
        averages = dict(s.execute(select(CategoryBenchmark.l2_category,
                                         CategoryBenchmark.snad_dispute_avg)).all())
        for m in s.execute(select(Merchant)).scalars():
            expected = engine.evaluate(_metrics(m, s.get(MerchantMetrics, m.id)), rules,
                                       averages.get(m.l2_category), day).outcome
            assert rows[m.id] == expected, m.id
    assert rows["M1005"] == "protected" and rows["M1004"] == "disqualified"
    # Day 1 of protection is the approval day: 2026-07-05 + 179 days = 2026-12-31.
    assert rows["E19"] == "protected" and rows["E20"] != "protected" and rows["E21"] != "protected"


def test_quarter_parsing():
    assert parse_quarter("2027q1") == ("2027Q1", dt.date(2027, 4, 1))
    with pytest.raises(ValueError):
        parse_quarter("2027Q5")
