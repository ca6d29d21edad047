"""Render a tier verdict as a reply, from the phrases in knowledge/replies.yml."""
from __future__ import annotations

import datetime as dt
from typing import List, Optional

from actions.status import format_date
from core.knowledge.model import KnowledgeBase
from core.tiers import engine
from core.tiers.engine import Criterion, Metrics, Rules, Verdict

OPS = {">=": "≥", "<=": "≤", "==": ""}
# What the source says where it gives no number (the threshold is the platform's setting).


def _number(value: float) -> str:
    return f"{value:g}"


def _value(kb: KnowledgeBase, rules: Rules, metric: str, value: float) -> str:
    spec = rules.metric_names.get(metric, {})
    if metric in ("industry_conditions_met", "banned_or_frozen"):
        return kb.replies["value_yes" if value else "value_no"]
    if metric == "payment_rank_top_pct":
        return kb.replies["rank_value"].format(value=_number(value))
    return f"{_number(value)}{spec.get('unit', '')}"


def month(kb: KnowledgeBase, day: dt.date) -> str:
    """'2027年1月' from the `month` reply template."""
    return kb.replies["month"].format(year=day.year, month=day.month)


def criterion_line(kb: KnowledgeBase, rules: Rules, c: Criterion) -> str:
    """'· 近90天店铺好评率:您是90.2%,要求≥92%,差1.8%' (or '已达标')."""
    name = rules.metric_names.get(c.metric, {}).get("name", c.metric)
    unit = rules.metric_names.get(c.metric, {}).get("unit", "")
    r = kb.replies
    if c.metric == "payment_rank_top_pct":
        threshold = r["rank_value"].format(value=_number(c.threshold))
        gap = r["rank_gap"].format(gap=_number(c.gap))
    elif c.metric == "industry_conditions_met":
        threshold, gap = r["condition_met"], r["condition_unmet"]
    else:
        threshold, gap = f"{_number(c.threshold)}{unit}", f"{_number(c.gap)}{unit}"
    op = "" if c.metric in ("payment_rank_top_pct", "industry_conditions_met") else OPS[c.op]
    key = "status_met_line" if c.met else "status_missed_line"
    line = kb.replies[key].format(name=name, value=_value(kb, rules, c.metric, c.value), op=op,
                                  threshold=threshold, gap=gap)
    if c.platform_setting:
        wording = rules.metric_names.get(c.metric, {}).get("wording", "")
        line += kb.replies["status_platform_setting"].format(vague=wording)
    return line


def _benefits(kb: KnowledgeBase, tier: str) -> str:
    return "、".join(f"{b.name}({b.by_tier[tier].short})" for b in kb.benefits
                    if tier in b.by_tier and b.by_tier[tier].short)


def render_status(kb: KnowledgeBase, rules: Rules, metrics: Metrics, verdict: Verdict,
                  today: dt.date, who: str, only_metrics: Optional[List[str]] = None) -> str:
    """The whole status reply: header, the conditions that matter, assessment window, benefits."""
    r = kb.replies
    next_day = engine.next_assessment(rules, today)
    next_month = month(kb, next_day)
    projected = r[f"status_projected_{verdict.outcome}"].format(
        until=format_date(kb, verdict.protected_until))
    lines = [r["status_header"].format(
        who=who, assigned=r[f"tier_name_{metrics.current_tier}"], as_of=format_date(kb, metrics.as_of),
        next_month=next_month, projected=projected)]

    lower, higher = r[f"tier_name_{engine.SILVER}"], r[f"tier_name_{engine.GOLD}"]
    if only_metrics:
        for metric in only_metrics:
            per_tier = [(tier, criterion_line(kb, rules, c)) for tier in (engine.SILVER, engine.GOLD)
                        for c in verdict.tiers[tier] if c.metric == metric]
            if len(per_tier) == 2 and per_tier[0][1] == per_tier[1][1]:
                # The same requirement for both tiers: said once.
                lines.append(per_tier[0][1] + r["status_same_for_tiers"].format(lower=lower, higher=higher))
            else:
                lines += [r[f"tier_name_{tier}"] + line for tier, line in per_tier]
    elif verdict.outcome == engine.DISQUALIFIED:
        for v in verdict.violations:
            name = rules.metric_names.get(v.metric, {}).get("name", v.metric)
            lines.append(r["status_violation_line"].format(
                name=name, value=_value(kb, rules, v.metric, v.value),
                threshold=_value(kb, rules, v.metric, v.threshold)))
    elif verdict.outcome == engine.SILVER:
        missed_gold = [criterion_line(kb, rules, c) for c in verdict.missed(engine.GOLD)]
        if missed_gold:
            lines.append(r["status_missed_header"].format(tier=higher))
            lines += missed_gold
    elif verdict.outcome == engine.NONE:
        # What silver needs, then only what gold needs beyond it (each condition once).
        missed_silver = [criterion_line(kb, rules, c) for c in verdict.missed(engine.SILVER)]
        beyond = [line for line in (criterion_line(kb, rules, c) for c in verdict.missed(engine.GOLD))
                  if line not in missed_silver]
        if missed_silver and not beyond:
            lines.append(r["status_missed_header_both"].format(lower=lower, higher=higher))
            lines += missed_silver
        else:
            if missed_silver:
                lines.append(r["status_missed_header"].format(tier=lower))
                lines += missed_silver
            if beyond:
                lines.append(r["status_missed_header_more" if missed_silver else "status_missed_header"]
                             .format(tier=higher))
                lines += beyond

    start, end = engine.data_window(rules, next_day)
    lines.append(r["status_window"].format(next_month=next_month, start=format_date(kb, start),
                                           end=format_date(kb, end)))
    projected_tier = verdict.outcome if verdict.outcome in (engine.GOLD, engine.SILVER) else None
    current = metrics.current_tier if metrics.current_tier in (engine.GOLD, engine.SILVER) else None
    if projected_tier and projected_tier != current and (current is None or projected_tier == engine.GOLD):
        lines.append(r["status_gain"].format(tier=r[f"tier_name_{projected_tier}"],
                                             benefits=_benefits(kb, projected_tier)))
    elif current and verdict.outcome not in (engine.PROTECTED,) and projected_tier != current:
        lines.append(r["status_loss"].format(tier=r[f"tier_name_{current}"],
                                             benefits=_benefits(kb, current)))
    return "\n".join(lines)
