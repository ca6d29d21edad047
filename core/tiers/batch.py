"""Quarterly assessment of every merchant in set-based SQL (one INSERT ... SELECT), same rules."""
from __future__ import annotations

import datetime as dt
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from sqlalchemy import and_, case, delete, func, insert, literal, not_, or_, select
from sqlalchemy.engine import Engine

from core.db.models import AssessmentResult, CategoryBenchmark, Merchant, MerchantMetrics
from core.tiers import engine as rules_engine
from core.tiers.engine import CATEGORY_AVERAGE, Rules, Threshold

M = Merchant.__table__
MM = MerchantMetrics.__table__
CB = CategoryBenchmark.__table__
AR = AssessmentResult.__table__
BOOLEAN_METRICS = {"banned_or_frozen", "industry_conditions_met", "has_trade_90d"}


def parse_quarter(text: str) -> Tuple[str, dt.date]:
    """'2026Q4' -> ('2026Q4', 2027-01-01): the quarter and the day its assessment runs."""
    match = re.fullmatch(r"(\d{4})Q([1-4])", text.strip().upper())
    if not match:
        raise ValueError(f"quarter must look like 2026Q4, got {text!r}")
    year, q = int(match.group(1)), int(match.group(2))
    month = q * 3 + 1
    return f"{year}Q{q}", dt.date(year + (month > 12), (month - 1) % 12 + 1, 1)


def _met(threshold: Threshold):
    """SQL for "the merchant meets this threshold"."""
    column = MM.c[threshold.metric]
    limit = (func.coalesce(CB.c.snad_dispute_avg, 0.0) if threshold.value == CATEGORY_AVERAGE
             else threshold.value)
    if threshold.metric in BOOLEAN_METRICS:
        return column == bool(threshold.value)
    if threshold.op == ">=":
        return column >= limit
    if threshold.op == "<=":
        return column <= limit
    return column == limit


def outcome_expression(rules: Rules, today: dt.date):
    """The same decision as engine.evaluate, as one CASE expression."""
    violation = or_(*[_met(t) for t in rules.disqualifying])
    earliest = today - dt.timedelta(days=rules.protection_days - 1)
    protected = and_(M.c.china_good_seller_since.isnot(None),
                     M.c.china_good_seller_since <= today,
                     M.c.china_good_seller_since >= earliest)
    return case(
        (violation, rules_engine.DISQUALIFIED),
        (protected, rules_engine.PROTECTED),
        (not_(MM.c.has_trade_90d), rules_engine.NO_TRADE),
        (and_(*[_met(t) for t in rules.tiers[rules_engine.GOLD]]), rules_engine.GOLD),
        (and_(*[_met(t) for t in rules.tiers[rules_engine.SILVER]]), rules_engine.SILVER),
        else_=rules_engine.NONE,
    )


def missed_expression(rules: Rules, tier: str = rules_engine.SILVER):
    """Comma-separated conditions of a tier the merchant misses (by default silver's: what
    keeps them from any tier)."""
    parts = [case((not_(_met(t)), t.metric + ","), else_="") for t in rules.tiers[tier]]
    expression = literal("")
    for part in parts:
        expression = expression + part
    return expression


@dataclass
class Summary:
    """Counts per outcome and the most commonly missed conditions."""

    quarter: str
    assessed_on: dt.date
    total: int = 0
    outcomes: Dict[str, int] = field(default_factory=dict)
    missed: List[Tuple[str, int]] = field(default_factory=list)
    seconds: float = 0.0

    def render(self) -> str:
        lines = [f"assessment {self.quarter} (run as of {self.assessed_on}): {self.total} merchants "
                 f"in {self.seconds:.1f} s"]
        lines += [f"  {outcome:<13}{count:>10}" for outcome, count in sorted(self.outcomes.items())]
        lines.append("most common missed conditions (merchants without a tier):")
        lines += [f"  {metric:<26}{count:>10}" for metric, count in self.missed]
        return "\n".join(lines)


def assess_all(engine: Engine, quarter: str, today: dt.date, rules: Optional[Rules] = None,
               progress: bool = False) -> Summary:
    """Assess every merchant with metrics; replaces earlier results of the same quarter."""
    rules = rules or rules_engine.load_rules(rules_engine.rules_path())
    started = time.monotonic()

    def step(text: str) -> None:
        if progress:
            print(f"[{time.monotonic() - started:6.1f} s] {text}", file=sys.stderr, flush=True)

    source = (select(literal(quarter), M.c.id, outcome_expression(rules, today),
                     missed_expression(rules), literal(dt.datetime.utcnow()))
              .select_from(M.join(MM, MM.c.merchant_id == M.c.id)
                           .outerjoin(CB, CB.c.l2_category == M.c.l2_category)))
    with engine.begin() as conn:
        step("removing earlier results of the quarter")
        conn.execute(delete(AR).where(AR.c.quarter == quarter))
        step("assessing every merchant")
        conn.execute(insert(AR).from_select(
            ["quarter", "merchant_id", "outcome", "missed", "assessed_at"], source))
        step("summarising")
        outcomes = dict(conn.execute(select(AR.c.outcome, func.count())
                                     .where(AR.c.quarter == quarter).group_by(AR.c.outcome)).all())
        no_tier = and_(AR.c.quarter == quarter, AR.c.outcome == rules_engine.NONE)
        counts = conn.execute(select(*[
            func.sum(case((AR.c.missed.like(f"%{t.metric},%"), 1), else_=0)).label(t.metric)
            for t in rules.tiers[rules_engine.SILVER]]).where(no_tier)).one()
    missed = sorted(((k, int(v or 0)) for k, v in counts._mapping.items() if v), key=lambda kv: -kv[1])
    summary = Summary(quarter, today, sum(outcomes.values()), outcomes, missed,
                      time.monotonic() - started)
    step("done")
    return summary
