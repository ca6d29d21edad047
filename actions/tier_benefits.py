"""Answers questions about what AliExpress gold and silver sellers get, from the knowledge base."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import KnowledgeBase, KnowledgeStore
from actions.knowledge.model import ALL_TIERS


def chinese_date(day: dt.date) -> str:
    """Format a date the way merchants write it (2024年3月31日)."""
    return f"{day.year}年{day.month}月{day.day}日"


def _resolved(kb: KnowledgeBase, tracker: Tracker, entity: Text) -> tuple[List[str], bool]:
    """Return the knowledge ids named in the latest message, and whether any name was unknown."""
    ids: List[str] = []
    unknown = False
    for value in tracker.get_latest_entity_values(entity):
        entry_id = kb.resolve(entity, value)
        if entry_id is None:
            unknown = True
        elif entry_id not in ids:
            ids.append(entry_id)
    return ids, unknown


class ActionAnswerTierBenefit(Action):
    """Answer "what does gold/silver get" for one benefit, or list all of a tier's benefits."""

    def __init__(
        self,
        store: Optional[KnowledgeStore] = None,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        self._store = store
        self._today = today

    def name(self) -> Text:
        return "action_answer_tier_benefit"

    def _knowledge(self) -> KnowledgeBase:
        if self._store is None:
            self._store = KnowledgeStore()
        return self._store.get()

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        kb = self._knowledge()
        tier_ids, _ = _resolved(kb, tracker, "tier")
        benefit_ids, unknown_benefit = _resolved(kb, tracker, "benefit")
        if unknown_benefit and not benefit_ids:
            dispatcher.utter_message(
                response="utter_tier_benefit_unknown",
                benefit_names="、".join(b.name for b in kb.benefits),
            )
            return []

        if ALL_TIERS in tier_ids:
            tier_ids = []
        tiers = [kb.tier(t) for t in tier_ids] or list(kb.tiers)
        benefits = [kb.benefit(b) for b in benefit_ids] or list(kb.benefits)
        lines: List[str] = []
        # Cite each heading once with its items: "一、金牌商家规则 1、金牌权益 1)流量扶持、4)金融扶持".
        sections: Dict[str, List[str]] = {}
        for tier in tiers:
            for benefit in benefits:
                granted = benefit.by_tier.get(tier.id)
                if granted is None:
                    continue
                # Listing several benefits: name each one so the list reads on its own.
                lines.append(granted.answer if len(benefits) == 1 else f"· {benefit.name}:{granted.answer}")
                heading, _, item = granted.source.section.rpartition(" ")
                items = sections.setdefault(heading, [])
                if item not in items:
                    items.append(item)

        programme = kb.programme
        expired = not programme.is_open_on(self._today())
        dispatcher.utter_message(
            response="utter_tier_benefit_expired" if expired else "utter_tier_benefit",
            answer="\n".join(lines),
            source=f"{programme.document} "
            + ";".join(f"{heading} {'、'.join(items)}" for heading, items in sections.items()),
            valid_from=chinese_date(programme.valid_from) if programme.valid_from else "",
            valid_until=chinese_date(programme.valid_until) if programme.valid_until else "",
            validity_note=programme.validity_note,
        )
        return [
            SlotSet("tier", tier_ids[0] if len(tier_ids) == 1 else None),
            SlotSet("benefit", benefit_ids[0] if len(benefit_ids) == 1 else None),
        ]
