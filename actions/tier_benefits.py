"""What AliExpress gold and silver sellers get, from the knowledge base."""
from __future__ import annotations

import datetime as dt
from typing import List, Sequence

from actions.answers import Answer
from actions.status import programme_status
from core.knowledge.model import Benefit, KnowledgeBase, Tier


def benefit_answer(kb: KnowledgeBase, tiers: Sequence[Tier], benefits: Sequence[Benefit],
                   today: dt.date) -> Answer:
    """One benefit for the named tiers, or a tier's whole list when no benefit was named."""
    answer = Answer(status=programme_status(kb, kb.programme, today))
    whole = list(benefits) == list(kb.benefits)
    for tier in tiers:
        if whole:
            answer.lines.append(_categories_line(kb, "tier_benefits_header", tier=tier.name))
        for benefit in benefits:
            granted = benefit.by_tier.get(tier.id)
            if granted is None:
                continue
            # Listing several benefits: name each one so the list reads on its own.
            line = granted.answer if len(benefits) == 1 else f"· {benefit.name}:{granted.answer}"
            answer.add(line, granted.source)
    return answer


def comparison_answer(kb: KnowledgeBase, tiers: Sequence[Tier], benefits: Sequence[Benefit],
                      today: dt.date) -> Answer:
    """Tiers side by side, one line per benefit: '橱窗激励:金牌 3个/月;银牌 2个/月'."""
    answer = Answer(status=programme_status(kb, kb.programme, today))
    if list(benefits) == list(kb.benefits):
        answer.lines.append(_categories_line(kb, "tier_compare_header"))
    for benefit in benefits:
        cells: List[str] = []
        for tier in tiers:
            granted = benefit.by_tier.get(tier.id)
            if granted is not None:
                cells.append(f"{tier.name} {granted.short or granted.answer}")
                answer.cite(granted.source)
        answer.lines.append(f"· {benefit.name}:" + ";".join(cells))
    return answer


def _categories_line(kb: KnowledgeBase, reply: str, **names: str) -> str:
    """'金牌的权益共6类:流量扶持、营销权益、…' from the benefits' categories, in file order."""
    categories = list(dict.fromkeys(b.category for b in kb.benefits))
    return kb.replies[reply].format(count=len(categories), categories="、".join(categories), **names)
