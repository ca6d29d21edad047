"""When the assistant is unsure: suggest what the merchant may have meant, then offer a human."""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.choose import MIN_SCORE
from actions.programme_terms import ActionAnswerProgramme
from actions.questions import parse_question
from core import contract
from core.knowledge import KnowledgeBase, KnowledgeStore, shared_store
from core.knowledge.retrieval import retriever_for

FALLBACK = "nlu_fallback"
# Acts worth asking about when the classifier hesitates between two of them.
CONVERSATIONAL = {"greet", "goodbye", "thank", "affirm", "deny", "request_human", "start_over",
                  "ask_capabilities"}
# After this many misunderstood messages in a row, offer a human instead of guessing again.
FAILURES_BEFORE_HANDOFF = 2
MAX_SUGGESTIONS = 2


def failures_in_a_row(tracker: Tracker) -> int:
    """How many of the latest user messages in a row fell back (the current one included). A
    message the classifier was unsure of but that was answered (a topic set after it) ends
    the run like any understood message."""
    count = 0
    answered = False
    for event in reversed(tracker.events):
        if (event.get("event") == "slot" and event.get("name") == contract.SLOT_TOPIC
                and event.get("value") is not None):
            answered = True
        if event.get("event") != "user":
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent != FALLBACK or answered:
            break
        count += 1
    return count


# Kinds offered as suggestions besides the entries of kb.entries.
_NAMED_KINDS = ("benefit", "tier", "programme")


def _entry_name(kb: KnowledgeBase, kind: str, entry_id: str) -> Optional[str]:
    entry = kb.entries.get(entry_id)
    if entry is not None and entry.number:
        return kb.replies["measure_label"].format(number=entry.number, name=entry.name)
    return kb.name_of(entry_id) if entry is not None or kind in _NAMED_KINDS else None


def suggestions(kb: KnowledgeBase, tracker: Tracker) -> List[Dict[str, str]]:
    """Buttons for the likeliest meanings: named knowledge entries first, then intents."""
    message = tracker.latest_message or {}
    entities = message.get("entities") or []
    buttons: List[Dict[str, str]] = []
    question = parse_question(kb, entities)
    for kind, ids in question.ids.items():
        if kind == "aspect":
            continue
        for entry_id in ids:
            name = _entry_name(kb, kind, entry_id)
            if name:
                payload = "/ask_programme" + json.dumps({kind: entry_id}, ensure_ascii=False)
                buttons.append({"title": kb.replies["suggest_entry"].format(name=name),
                                "payload": payload})
    # Entries the ranking finds for the wording, when no name was recognised.
    if not buttons:
        for hit in retriever_for(kb).rank(message.get("text") or "", limit=MAX_SUGGESTIONS):
            name = _entry_name(kb, hit.kind, hit.id)
            if hit.score >= MIN_SCORE and name and hit.kind != "programme":
                payload = "/ask_programme" + json.dumps({hit.kind: hit.id}, ensure_ascii=False)
                buttons.append({"title": kb.replies["suggest_entry"].format(name=name),
                                "payload": payload})
    ranking = [r.get("name") for r in message.get("intent_ranking") or []]
    for intent in ranking:
        key = f"suggest_intent_{intent}"
        if intent == FALLBACK or key not in kb.replies:
            continue
        if intent == "ask_programme" and buttons:
            continue  # the entries above already are programme questions
        buttons.append({"title": kb.replies[key], "payload": f"/{intent}"})
    return buttons[:MAX_SUGGESTIONS]


class ActionClarify(Action):
    """Two close guesses: ask which one; nothing to suggest: say what we can do; twice: offer a human."""

    def __init__(self, store: Optional[KnowledgeStore] = None,
                 answerer: Optional[ActionAnswerProgramme] = None) -> None:
        self._store = store
        self._answerer = answerer

    def name(self) -> Text:
        return "action_clarify"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        if failures_in_a_row(tracker) >= FAILURES_BEFORE_HANDOFF:
            # "好的" now accepts a human agent (data/rules/handoff.yml).
            dispatcher.utter_message(response="utter_offer_handoff")
            return [SlotSet(contract.SLOT_PENDING_OFFER, contract.OFFER_HANDOFF)]
        if self._store is None:
            self._store = shared_store()
        kb = self._store.get()
        question = parse_question(kb, (tracker.latest_message or {}).get("entities") or [])
        if question.of("platform") and not question.specific:
            dispatcher.utter_message(response="utter_other_platform")
            return [SlotSet(contract.SLOT_PENDING_OFFER, None)]
        if self._answerer is None:
            self._answerer = ActionAnswerProgramme(self._store)
        if question.of("platform"):
            # "美国对跨境小包关税多少": another platform's or authority's word beside one of
            # ours; a programme question decides that (the entry of ours only when it answers
            # what is asked), not a choice between guesses.
            return await self._answerer.run(dispatcher, tracker, domain)
        answered = await self._answerer.answer_if_clear(dispatcher, tracker)
        if answered is not None:
            # The classifier hesitated over the wording, the knowledge base did not.
            return answered
        buttons = suggestions(kb, tracker)
        ranking = [r.get("name") for r in (tracker.latest_message or {}).get("intent_ranking") or []]
        knowledge = [b for b in buttons if b["payload"].startswith("/ask_programme{")]
        asks = bool((tracker.latest_message or {}).get(contract.PARSE_ASKS))
        if not knowledge and (asks or not set(ranking[1:3]) <= CONVERSATIONAL):
            # Unsure, nothing in the knowledge base matches, and a question with content
            # ("国际快递寄欧洲哪家便宜") or not between two conversational acts: say so
            # rather than offer guesses at intents.
            dispatcher.utter_message(response="utter_out_of_scope")
            return [SlotSet(contract.SLOT_PENDING_OFFER, None)]
        if buttons:
            dispatcher.utter_message(response="utter_clarify", buttons=buttons)
        else:
            dispatcher.utter_message(response="utter_default")
        return [SlotSet(contract.SLOT_PENDING_OFFER, None)]
