"""Handing a conversation to a human agent: the ticket, its summary, and pausing the assistant."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core import contract, limits, script
from core.db import tickets
from core.db.session import shared_factory
from core.identity import secret, unseal
from core.logsafe import failure

logger = logging.getLogger(__name__)

TICKET_SLOT = contract.SLOT_HANDOFF_TICKET
OFFER_SLOT = contract.SLOT_PENDING_OFFER
# Turns that are not questions: left out of the summary.
SMALL_TALK = {"greet", "goodbye", "thank", "affirm", "deny", "request_human", "start_over",
              "ask_capabilities"}
# Responses that mean the assistant did not answer the question.
NOT_ANSWERED = {"utter_default", "utter_out_of_scope", "utter_clarify", "utter_offer_handoff",
                "utter_ask_which_programme", "utter_other_platform"}
# Outcomes of the tier-status action that are refusals, not a status.
REFUSED = {"refused", "unavailable", "missing"}
MAX_QUESTIONS = 30
MAX_TEXT = 1000


def conversation_summary(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    """What the merchant asked since the last restart, what was answered and what was not."""
    turns: List[Dict[str, Any]] = []
    for event in events:
        kind = event.get("event")
        if kind == "restart":
            turns = []
        elif kind == "user":
            parse = event.get("parse_data") or {}
            written = parse.get(contract.PARSE_TEXT_ORIGINAL) or event.get("text") or ""
            turns.append({"text": str(written)[:MAX_TEXT],
                          "intent": (parse.get("intent") or {}).get("name"),
                          "bot": []})
        elif kind == "bot" and turns:
            metadata = event.get("metadata") or {}
            turns[-1]["bot"].append((metadata.get("utter_action"), metadata.get("outcome"),
                                     str(event.get("text") or "")[:MAX_TEXT]))
    questions, unanswered, tier_status = [], [], None
    for turn in turns:
        if turn["intent"] in SMALL_TALK or not turn["text"]:
            continue
        replies = [text for _, _, text in turn["bot"] if text]
        # What was sent decides, not the classifier's guess: an unsure or "not ours" guess may
        # still be answered from the knowledge base (actions/fallback.py, programme_terms.py).
        answered = bool(replies) and not any(r in NOT_ANSWERED or o in REFUSED for r, o, _ in turn["bot"])
        questions.append({"text": turn["text"], "answered": answered,
                          "reply": replies[0] if answered else ""})
        if not answered:
            unanswered.append(turn["text"])
        tier_status = next((text for _, o, text in turn["bot"] if o == "status" and text),
                           tier_status)
    return {"questions": questions[-MAX_QUESTIONS:], "unanswered": unanswered[-MAX_QUESTIONS:],
            "tier_status": tier_status}


def _latest_script(tracker: Tracker) -> Optional[str]:
    """The merchant's script, as the replies follow it (see bot/nlg.py reply_script)."""
    return script.merchant_script(event.get("parse_data") or {} for event in reversed(tracker.events)
                                  if event.get("event") == "user")


class ActionHandoff(Action):
    """Open a ticket with a summary, tell the merchant its number, and pause the assistant."""

    def __init__(self, factory: Optional["sessionmaker[Session]"] = None) -> None:
        self._factory = factory

    def name(self) -> Text:
        return "action_handoff"

    def _open(self, conversation: str, channel: str, merchant: Optional[str], reason: str,
              script: Optional[str], summary: Dict[str, Any]) -> int:
        factory = self._factory or shared_factory()
        with factory.begin() as session:
            return tickets.open_ticket(session, conversation, channel, merchant, reason, script,
                                       summary).id

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        message = tracker.latest_message or {}
        channel = tracker.get_latest_input_channel() or "unknown"
        identity = unseal(secret(), tracker.sender_id, message.get("metadata"), channel)
        merchant = identity.sub if identity and identity.role == "merchant" else None
        offered = tracker.get_slot(OFFER_SLOT) == "handoff"
        reason = "repeated_failure" if offered else "requested"
        address = (message.get("metadata") or {}).get(limits.CLIENT_ADDRESS)
        if merchant is None and address and not limits.shared().anonymous_ticket(address):
            # One client opening ticket after ticket under new names would bury real merchants
            # (the REST channel sends the address; signed channels vouch for their senders).
            logger.warning("anonymous handoff from %s refused: ticket limit reached", address)
            dispatcher.utter_message(response="utter_handoff_unavailable")
            return [SlotSet(OFFER_SLOT, None)]
        summary = dict(conversation_summary(tracker.events), reason=reason,
                       topic=tracker.get_slot(contract.SLOT_TOPIC))
        try:
            ticket = await asyncio.to_thread(self._open, tracker.sender_id, channel, merchant,
                                             reason, _latest_script(tracker), summary)
        except SQLAlchemyError as e:
            logger.error("handoff ticket not opened: %s", failure(e))
            dispatcher.utter_message(response="utter_handoff_unavailable")
            return [SlotSet(OFFER_SLOT, None)]
        dispatcher.utter_message(response="utter_handoff_created", ticket=str(ticket))
        # Listening, though paused: what the merchant writes now is kept for the agent, and
        # the assistant's rules apply again as soon as the agent hands the conversation back.
        return [SlotSet(TICKET_SLOT, str(ticket)), SlotSet(OFFER_SLOT, None), ConversationPaused(),
                ActionExecuted("action_listen")]


class ActionDeclineOffer(Action):
    """The merchant said no to an offer: acknowledge and withdraw it."""

    def name(self) -> Text:
        return "action_decline_offer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(response="utter_offer_declined")
        return [SlotSet(OFFER_SLOT, None)]


class ActionSessionStart(Action):
    """A new session keeps the slots, and stays with the agent while a ticket is open."""

    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        events: List[EventType] = [SessionStarted()]
        events += [SlotSet(name, value) for name, value in tracker.slots.items()
                   if value is not None and name != OFFER_SLOT]
        if tracker.get_slot(TICKET_SLOT):
            # The agent has not handed the conversation back yet: keep the assistant quiet.
            events.append(ConversationPaused())
        events.append(ActionExecuted("action_listen"))
        return events
