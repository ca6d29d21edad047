"""The gold/silver rule engine: metrics and rules in, a verdict per criterion out. Pure."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import yaml

CATEGORY_AVERAGE = "category_average"
GOLD, SILVER, NONE = "gold", "silver", "none"
DISQUALIFIED, PROTECTED, NO_TRADE = "disqualified", "protected", "no_trade"


@dataclass(frozen=True)
class Threshold:
    """One condition: the metric must be >= min, <= max or == equals."""

    metric: str
    op: str  # ">=", "<=", "=="
    value: Any  # a number, or CATEGORY_AVERAGE
    platform_setting: bool = False


@dataclass(frozen=True)
class Rules:
    """The tier rules as loaded from knowledge/tier_rules.yml."""

    tiers: Mapping[str, Tuple[Threshold, ...]]
    disqualifying: Tuple[Threshold, ...]
    protection_days: int
    assessment_months: Tuple[int, ...]
    data_window_days: int
    metric_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Metrics:
    """A merchant's rolling 90-day metrics (rates in percent)."""

    merchant_id: str
    l2_category: str
    as_of: dt.date
    has_trade_90d: bool
    payment_rank_top_pct: float
    online_72h_rate: float
    snad_dispute_rate: float
    positive_feedback_rate: float
    dingtalk_active_days_90d: int
    ip_severe_infringements: int
    ip_prohibited_points: int
    trade_violation_points: int
    banned_or_frozen: bool
    industry_conditions_met: bool
    china_good_seller_since: Optional[dt.date] = None
    current_tier: str = NONE
    merchant_name: str = ""


@dataclass(frozen=True)
class Criterion:
    """One condition applied to one merchant."""

    metric: str
    value: float
    op: str
    threshold: float
    met: bool
    gap: float  # how far from the threshold (0 when met)
    platform_setting: bool = False


@dataclass(frozen=True)
class Verdict:
    """The outcome for one merchant at one date, with every criterion behind it."""

    outcome: str  # gold, silver, none, disqualified, protected, no_trade
    tiers: Mapping[str, Tuple[Criterion, ...]]
    violations: Tuple[Criterion, ...]
    protected_until: Optional[dt.date] = None

    def missed(self, tier: str) -> Tuple[Criterion, ...]:
        """The conditions of a tier that are not met."""
        return tuple(c for c in self.tiers.get(tier, ()) if not c.met)


def _threshold(metric: str, spec: Mapping[str, Any]) -> Threshold:
    for key, op in (("min", ">="), ("max", "<="), ("equals", "==")):
        if key in spec:
            return Threshold(metric, op, spec[key], bool(spec.get("platform_setting")))
    raise ValueError(f"threshold for '{metric}' needs min, max or equals")


def load_rules(path: Path) -> Rules:
    """Read the rules file (knowledge/tier_rules.yml)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["rules"]
    return Rules(
        tiers={tier: tuple(_threshold(m, s) for m, s in spec.items())
               for tier, spec in data["tiers"].items()},
        disqualifying=tuple(_threshold(m, s) for m, s in data["disqualifying"].items()),
        protection_days=int(data["protection_days"]),
        assessment_months=tuple(int(m) for m in data["assessment_months"]),
        data_window_days=int(data["data_window_days"]),
        metric_names=data.get("metrics", {}),
    )


def apply(threshold: Threshold, value: float, category_average: Optional[float]) -> Criterion:
    """Apply one threshold to one value."""
    limit = category_average if threshold.value == CATEGORY_AVERAGE else threshold.value
    limit = float(limit if limit is not None else 0.0)
    value = float(value)
    if threshold.op == ">=":
        met, gap = value >= limit, max(0.0, limit - value)
    elif threshold.op == "<=":
        met, gap = value <= limit, max(0.0, value - limit)
    else:
        met, gap = value == limit, 0.0 if value == limit else abs(value - limit)
    return Criterion(threshold.metric, value, threshold.op, limit, met, round(gap, 4),
                     threshold.platform_setting)


def protection_end(rules: Rules, since: Optional[dt.date]) -> Optional[dt.date]:
    """Last day of the 中国好卖家 protection period (day 1 is the approval day)."""
    return since + dt.timedelta(days=rules.protection_days - 1) if since else None


def evaluate(metrics: Metrics, rules: Rules, category_average: Optional[float],
             today: dt.date) -> Verdict:
    """Assess one merchant: violations, protection, trade, then gold and silver conditions."""
    values: Dict[str, float] = {k: float(getattr(metrics, k)) for k in
                                {t.metric for ts in rules.tiers.values() for t in ts}
                                | {t.metric for t in rules.disqualifying}}
    tiers = {tier: tuple(apply(t, values[t.metric], category_average) for t in thresholds)
             for tier, thresholds in rules.tiers.items()}
    # A disqualifying threshold is "met" when the merchant has the violation.
    violations = tuple(c for c in (apply(t, values[t.metric], None) for t in rules.disqualifying)
                       if c.met)
    since = metrics.china_good_seller_since
    until = protection_end(rules, since)
    if violations:
        outcome = DISQUALIFIED
    elif since and until and since <= today <= until:
        outcome = PROTECTED
    elif not metrics.has_trade_90d:
        outcome = NO_TRADE
    elif all(c.met for c in tiers.get(GOLD, ())):
        outcome = GOLD
    elif all(c.met for c in tiers.get(SILVER, ())):
        outcome = SILVER
    else:
        outcome = NONE
    return Verdict(outcome, tiers, violations, until if outcome == PROTECTED else None)


def next_assessment(rules: Rules, today: dt.date) -> dt.date:
    """First day of the next assessment month (this month's counts while it lasts)."""
    for year in (today.year, today.year + 1):
        for month in rules.assessment_months:
            if (year, month) >= (today.year, today.month):
                return dt.date(year, month, 1)
    raise AssertionError("a later assessment month always exists")


def data_window(rules: Rules, assessment: dt.date) -> Tuple[dt.date, dt.date]:
    """The quarter of business data an assessment month looks at (e.g. Oct 1 - Dec 31 for Jan)."""
    end = assessment - dt.timedelta(days=1)
    start_month = (end.month - 3) % 12 + 1
    start_year = end.year if start_month <= end.month else end.year - 1
    return dt.date(start_year, start_month, 1), end
