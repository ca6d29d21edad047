"""The rule engine at every boundary the source sets."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from core.tiers import engine
from tests.conftest import KNOWLEDGE

TODAY = dt.date(2026, 11, 22)
AVG = 1.5


@pytest.fixture(scope="module")
def rules():
    return engine.load_rules(KNOWLEDGE / "tier_rules.yml")


def gold_merchant(**changes) -> engine.Metrics:
    base = engine.Metrics(
        merchant_id="M1", l2_category="女装", as_of=TODAY, has_trade_90d=True,
        payment_rank_top_pct=5.0, online_72h_rate=90.0, snad_dispute_rate=1.0,
        positive_feedback_rate=95.0, dingtalk_active_days_90d=70, ip_severe_infringements=0,
        ip_prohibited_points=0, trade_violation_points=0, banned_or_frozen=False,
        industry_conditions_met=True)
    return dataclasses.replace(base, **changes)


def outcome(rules, **changes):
    return engine.evaluate(gold_merchant(**changes), rules, AVG, TODAY)


def test_gold_when_everything_is_met(rules):
    verdict = outcome(rules)
    assert verdict.outcome == engine.GOLD and verdict.missed("gold") == ()


@pytest.mark.parametrize("rate, met", [(85.0, True), (84.99, False)])
def test_72h_online_rate_boundary_is_inclusive(rules, rate, met):
    verdict = outcome(rules, online_72h_rate=rate)
    [c] = [c for c in verdict.tiers["gold"] if c.metric == "online_72h_rate"]
    assert c.met is met and c.threshold == 85.0
    assert c.gap == (0.0 if met else pytest.approx(0.01))


@pytest.mark.parametrize("rate, met", [(92.0, True), (91.9, False)])
def test_positive_feedback_boundary(rules, rate, met):
    verdict = outcome(rules, positive_feedback_rate=rate)
    assert (verdict.outcome == engine.GOLD) is met
    if not met:
        [c] = verdict.missed("gold")
        assert c.metric == "positive_feedback_rate" and c.gap == pytest.approx(0.1)


@pytest.mark.parametrize("rate, met", [(AVG, True), (AVG + 0.01, False)])
def test_dispute_rate_equal_to_category_average_passes(rules, rate, met):
    verdict = outcome(rules, snad_dispute_rate=rate)
    [c] = [c for c in verdict.tiers["gold"] if c.metric == "snad_dispute_rate"]
    assert c.met is met and c.threshold == AVG


@pytest.mark.parametrize("field, value, disqualified", [
    ("ip_severe_infringements", 1, False), ("ip_severe_infringements", 2, True),
    ("ip_prohibited_points", 17, False), ("ip_prohibited_points", 18, True),
    ("trade_violation_points", 23, False), ("trade_violation_points", 24, True),
    ("banned_or_frozen", True, True),
])
def test_violation_thresholds(rules, field, value, disqualified):
    verdict = outcome(rules, **{field: value})
    assert (verdict.outcome == engine.DISQUALIFIED) is disqualified
    if disqualified:
        assert [v.metric for v in verdict.violations] == [field]


def test_rank_between_gold_and_silver_defaults_gives_silver(rules):
    verdict = outcome(rules, payment_rank_top_pct=20.0)
    assert verdict.outcome == engine.SILVER
    [c] = verdict.missed("gold")
    assert c.metric == "payment_rank_top_pct" and c.platform_setting and c.gap == 10.0


def test_none_lists_every_missed_condition(rules):
    verdict = outcome(rules, online_72h_rate=80.0, positive_feedback_rate=90.0,
                      industry_conditions_met=False)
    assert verdict.outcome == engine.NONE
    assert {c.metric for c in verdict.missed("silver")} == {
        "online_72h_rate", "positive_feedback_rate", "industry_conditions_met"}


def test_no_trade_in_90_days(rules):
    assert outcome(rules, has_trade_90d=False).outcome == engine.NO_TRADE


@pytest.mark.parametrize("days_since_approval, protected", [(0, True), (179, True), (180, False)])
def test_protection_day_180_and_181(rules, days_since_approval, protected):
    # Approval day is day 1, so 179 days later is day 180 (protected) and 180 days later day 181.
    since = TODAY - dt.timedelta(days=days_since_approval)
    verdict = outcome(rules, china_good_seller_since=since, online_72h_rate=10.0)
    assert (verdict.outcome == engine.PROTECTED) is protected
    if protected:
        assert verdict.protected_until == since + dt.timedelta(days=179)
    else:
        assert verdict.outcome == engine.NONE


def test_violation_outweighs_protection(rules):
    verdict = outcome(rules, china_good_seller_since=TODAY, trade_violation_points=30)
    assert verdict.outcome == engine.DISQUALIFIED


@pytest.mark.parametrize("today, expected", [
    (dt.date(2026, 11, 22), dt.date(2027, 1, 1)), (dt.date(2027, 1, 15), dt.date(2027, 1, 1)),
    (dt.date(2027, 2, 1), dt.date(2027, 4, 1)), (dt.date(2026, 10, 31), dt.date(2026, 10, 1)),
])
def test_next_assessment_month(rules, today, expected):
    assert engine.next_assessment(rules, today) == expected


def test_data_window_is_the_previous_quarter(rules):
    assert engine.data_window(rules, dt.date(2027, 1, 1)) == (dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    assert engine.data_window(rules, dt.date(2023, 7, 1)) == (dt.date(2023, 4, 1), dt.date(2023, 6, 30))
