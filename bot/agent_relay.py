"""The Rasa server's side of a handoff: agents act on conversations, merchants get the replies.

Tickets live in the database (core/db/tickets.py); the conversation lives in the tracker
store. Every change to a conversation is made under the lock store's lock for it, so an
agent's message, a merchant's message and a hand-back never interleave. Database calls run
in worker threads, off the event loop.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Callable, Dict, List, Optional, TypeVar

from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.channels.understanding import understood
from bot.nlg import reply_script
from core import contract, script
from core.db import tickets
from core.db.models import HandoffTicket
from core.db.session import shared_factory
from core.identity import Identity, seal_delegation, secret
from core.knowledge import shared_store
from core.logsafe import failure
from core.tiers import engine

logger = logging.getLogger(__name__)
T = TypeVar("T")
TICKET_SLOT = contract.SLOT_HANDOFF_TICKET
# Metadata keys on events the handoff adds to a conversation.
AGENT_KEY = "agent"
DELEGATED_KEY = contract.META_DELEGATED_BY


async def in_transaction(work: Callable[..., T], *args: Any) -> T:
    """Run `work(session, *args)` in one transaction in a worker thread."""
    def run() -> T:
        with shared_factory().begin() as session:
            return work(session, *args)

    return await asyncio.to_thread(run)


def to_merchant_script(text: str, target: Optional[str]) -> str:
    """An agent's text in the merchant's script (agents may write either), its line breaks
    kept (the chat shows them, as in the assistant's own replies)."""
    cleaned = "\n".join(script.clean(line) for line in text.splitlines()).strip("\n")
    simplified = script.to_simplified(cleaned, script.detect_script(cleaned))
    return script.from_simplified(simplified, target)


def resume(tracker: DialogueStateTracker) -> None:
    """Let the assistant answer again, as if it had just listened (what its rules expect)."""
    tracker.update(ConversationResumed())
    if tracker.latest_action_name != ACTION_LISTEN_NAME:
        tracker.update(ActionExecuted(ACTION_LISTEN_NAME))


def merchant_messages(tracker: DialogueStateTracker) -> List[UserUttered]:
    """What the merchant wrote (not questions an agent handed to the assistant)."""
    return [e for e in tracker.events if isinstance(e, UserUttered)
            and not (e.metadata or {}).get(DELEGATED_KEY) and e.text is not None]


def transcript(tracker: DialogueStateTracker) -> List[Dict[str, Any]]:
    """The conversation as agents read it: who said what, when."""
    lines: List[Dict[str, Any]] = []
    for event in tracker.events:
        if isinstance(event, UserUttered) and event.text is not None:
            metadata = event.metadata or {}
            lines.append({"at": event.timestamp,
                          "from": "agent" if metadata.get(DELEGATED_KEY) else "merchant",
                          "text": (event.parse_data or {}).get(contract.PARSE_TEXT_ORIGINAL) or event.text,
                          DELEGATED_KEY: metadata.get(DELEGATED_KEY)})
        elif isinstance(event, BotUttered) and event.text:
            agent = (event.metadata or {}).get(AGENT_KEY)
            lines.append({"at": event.timestamp, "from": "agent" if agent else "assistant",
                          "agent": agent, "text": event.text})
        elif isinstance(event, (ConversationPaused, ConversationResumed)):
            lines.append({"at": event.timestamp, "from": "system",
                          "event": "paused" if isinstance(event, ConversationPaused) else "resumed"})
    return lines


async def read_conversation(agent: Agent, conversation_id: str) -> DialogueStateTracker:
    """The whole conversation, all sessions."""
    tracker = await agent.tracker_store.retrieve_full_tracker(conversation_id)
    return tracker or DialogueStateTracker(conversation_id, agent.domain.slots)


async def post_agent_message(agent: Agent, ticket: HandoffTicket, agent_id: str,
                             text: str) -> str:
    """Put an agent's message into the conversation (the transcript) and the outbox; only while
    this agent holds the ticket (TicketConflict otherwise), checked under the conversation's lock,
    so that a message cannot land after a hand-back that got the lock first."""
    async with agent.lock_store.lock(ticket.conversation_id):
        await in_transaction(tickets.held_by, ticket.id, agent_id)
        tracker = await agent.processor.get_tracker(ticket.conversation_id)
        # The script the merchant writes in now (they may have written since the ticket opened).
        converted = to_merchant_script(text, reply_script(tracker) or ticket.script)
        tracker.update(BotUttered(converted, metadata={AGENT_KEY: agent_id, "ticket": ticket.id}))
        await agent.tracker_store.save(tracker)
    await in_transaction(tickets.add_event, ticket.id, "agent_message", agent_id, converted, True)
    return converted


async def delegate(agent: Agent, ticket: HandoffTicket, agent_id: str,
                   question: Optional[str]) -> Dict[str, Any]:
    """Let the assistant answer a question for the agent, straight to the merchant.

    The question is the agent's text, or else the merchant's latest message. It runs with the
    merchant's own channel and identity (from their latest message), so private data stays
    as private as if the merchant had asked; then the conversation returns to the agent.
    """
    conversation = ticket.conversation_id
    collector = CollectingOutputChannel()
    async with agent.lock_store.lock(conversation):
        tracker = await agent.processor.get_tracker(conversation)
        own = merchant_messages(tracker)
        latest = own[-1] if own else None
        text = question or ((latest.parse_data or {}).get(contract.PARSE_TEXT_ORIGINAL) or latest.text
                            if latest else None)
        if not text:
            raise ValueError("no question to hand to the assistant")
        metadata = dict((latest.metadata or {}) if latest else {})
        metadata[DELEGATED_KEY] = agent_id
        key = secret()
        if key:
            # The turn's reads are audited under the agent who delegated it.
            metadata.update(seal_delegation(key, conversation, Identity(agent_id, "agent")))
        channel = (latest.input_channel if latest else None) or ticket.channel
        resume(tracker)
        await agent.tracker_store.save(tracker)
        try:
            await agent.processor.handle_message(await understood(agent, UserMessage(
                text, collector, conversation, input_channel=channel, metadata=metadata)))
        finally:
            tracker = await agent.processor.get_tracker(conversation)
            if not tracker.is_paused():
                tracker.update(ConversationPaused())
                await agent.tracker_store.save(tracker)
    answers = [m.get("text") for m in collector.messages if m.get("text")]

    def record(session) -> None:
        tickets.add_event(session, ticket.id, "delegated", agent_id, text)
        for answer in answers:
            tickets.add_event(session, ticket.id, "assistant_answer", None, answer, True)

    await in_transaction(record)
    return {"question": text, "answers": answers}


async def hand_back(agent: Agent, ticket_id: int, agent_id: str) -> Dict[str, Any]:
    """Close the ticket and give the conversation back to the assistant, context intact."""
    ticket = await in_transaction(tickets.close, ticket_id, agent_id)
    conversation = ticket.conversation_id
    async with agent.lock_store.lock(conversation):
        tracker = await agent.processor.get_tracker(conversation)
        resume(tracker)
        tracker.update(SlotSet(TICKET_SLOT, None))
        notice = await agent.nlg.generate("utter_handoff_returned", tracker, ticket.channel)
        text = (notice or {}).get("text") or ""
        if text:
            tracker.update(BotUttered(text, metadata={"utter_action": "utter_handoff_returned"}))
        await agent.tracker_store.save(tracker)
    if text:
        await in_transaction(tickets.add_event, ticket.id, "handed_back", agent_id, text, True)
    return {"ticket": ticket.id, "status": ticket.status, "notice": text}


async def replies_for_merchant(agent: Agent, conversation_id: str, produced: List[Dict[str, Any]],
                               channel: str) -> List[Dict[str, Any]]:
    """What a merchant's request returns: the assistant's replies, then anything waiting.

    While an agent holds the conversation the assistant says nothing; the merchant is told
    their message reached the agent; if the assistant failed to answer, it apologises (see
    answer_silence). Messages from agents (and answers an agent asked the
    assistant for) are passed on once, in order.
    """
    replies = list(produced)
    if not replies:
        tracker = await agent.tracker_store.retrieve(conversation_id)
        if tracker is not None and tracker.is_paused():
            ticket = tracker.get_slot(TICKET_SLOT)
            notice = await agent.nlg.generate("utter_handoff_waiting", tracker, "rest",
                                              ticket=ticket or "")
            if notice and notice.get("text"):
                replies.append({"recipient_id": conversation_id, "text": notice["text"]})
        elif tracker is not None:
            replies = await answer_silence(agent, conversation_id, channel)
    store = agent.tracker_store
    store = getattr(store, "_tracker_store", store)  # Rasa's FailSafeTrackerStore wraps it
    # The conversations' store knows which conversations the outbox may hold messages for
    # (bot/tracker_store.py); with any other store, every one may.
    check = getattr(store, "may_hold_agent_messages", None)
    if check is not None and not check(conversation_id):
        return replies
    waiting = await _take_pending(conversation_id)
    if waiting is None:
        return replies
    read = getattr(store, "outbox_read", None)
    if read is not None:
        read(conversation_id)
    return replies + waiting


async def pending_for_merchant(conversation_id: str) -> List[Dict[str, Any]]:
    """Messages from the handoff outbox, marked as passed on; none if the database is down."""
    return await _take_pending(conversation_id) or []


async def _take_pending(conversation_id: str) -> Optional[List[Dict[str, Any]]]:
    """Messages from the handoff outbox, marked as passed on; None if it could not be read."""
    try:
        waiting = await in_transaction(tickets.take_outgoing, conversation_id)
    except Exception as e:  # noqa: BLE001 - the assistant's own replies must still go out
        logger.error("handoff outbox not read: %s", failure(e))
        return None
    return [{"recipient_id": conversation_id, "text": m.text,
             "custom": {"from": "agent" if m.kind == "agent_message" else "assistant",
                        "ticket": m.ticket_id}} for m in waiting]


async def alerts_for_merchant(conversation_id: str, merchant_id: str) -> List[Dict[str, Any]]:
    """Tier alerts waiting for the merchant's app (actions/alerts.py), marked sent; none if the
    database or the rules cannot be read."""
    from actions.alerts import take_app_alerts

    rules = engine.shared_rules().get()
    if rules is None:
        return []
    try:
        # The knowledge base is read in the worker thread, and only when an alert waits.
        texts = await in_transaction(take_app_alerts, merchant_id, shared_store().get, rules,
                                     dt.datetime.utcnow())
    except Exception as e:  # noqa: BLE001 - the agents' messages must still go out
        logger.error("tier alerts not read: %s", failure(e))
        return []
    return [{"recipient_id": conversation_id, "text": text,
             "custom": {"from": "assistant", "kind": "tier_alert"}} for text in texts]


async def answer_silence(agent: Agent, conversation_id: str, channel: str) -> List[Dict[str, Any]]:
    """The turn produced no reply although the assistant was not paused: an action failed or
    timed out (the action server is down or hung; bot/action_calls.py bounds the wait).

    If the merchant was asking for a human, the ticket is opened here, without the action
    server; otherwise the merchant hears an apology with the offer of a human (a button). The
    merchant's message is already in the conversation either way.
    """
    async with agent.lock_store.lock(conversation_id):
        tracker = await agent.processor.get_tracker(conversation_id)
        if tracker.is_paused() or _answered_since_latest_message(tracker):
            return []  # a message sent meanwhile took the conversation on
        latest = tracker.latest_message
        intent = ((latest.intent or {}).get("name") if latest else None)
        ticket = None
        if intent == "request_human":
            ticket = await _open_ticket_here(tracker, channel)
        if ticket is not None:
            name, values = "utter_handoff_created", {"ticket": str(ticket)}
        else:
            name, values = "utter_service_failed", {}
        rendered = await agent.nlg.generate(name, tracker, channel, **values) or {}
        text = rendered.get("text") or ""
        buttons = rendered.get("buttons") or []
        tracker.update(BotUttered(text, data={"buttons": buttons} if buttons else {},
                                  metadata={"utter_action": name}))
        if ticket is not None:
            tracker.update(SlotSet(TICKET_SLOT, str(ticket)))
            tracker.update(ConversationPaused())
            tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
        await agent.tracker_store.save(tracker)
    reply: Dict[str, Any] = {"recipient_id": conversation_id, "text": text}
    if buttons:
        reply["buttons"] = buttons
    return [reply]


def _answered_since_latest_message(tracker: DialogueStateTracker) -> bool:
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, BotUttered):
            return True
    return False


async def _open_ticket_here(tracker: DialogueStateTracker, channel: str) -> Optional[int]:
    """A handoff ticket opened by the Rasa server itself; None if the database is down too."""
    from actions.handoff import conversation_summary
    from core.identity import secret, unseal

    latest = tracker.latest_message
    identity = unseal(secret(), tracker.sender_id, latest.metadata if latest else None,
                      latest.input_channel if latest else channel)
    merchant = identity.sub if identity and identity.role == "merchant" else None
    events = [e.as_dict() for e in tracker.events]
    summary = dict(conversation_summary(events), reason="assistant_unavailable",
                   topic=tracker.get_slot(contract.SLOT_TOPIC))
    written = reply_script(tracker)
    try:
        opened = await in_transaction(tickets.open_ticket, tracker.sender_id, channel, merchant,
                                      "assistant_unavailable", written, summary)
    except Exception as e:  # noqa: BLE001 - then the merchant hears the apology instead
        logger.error("handoff ticket not opened by the Rasa server: %s", failure(e))
        return None
    return opened.id
