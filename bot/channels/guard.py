"""End users type text, not intents: "/intent{...}" is honoured only as a button just offered.

Rasa reads a message that starts with "/" as an intent with entities, skipping the NLU; from
a client that would let anyone pick any intent and set any entity. A payload of a button the
assistant offered in its latest turn (what a chat widget sends when the button is clicked)
goes through unchanged; anything else starting with "/" is passed on as plain text.
"""
from __future__ import annotations

from typing import Optional, Set

from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.nlu.normalizer import INTENT_PREFIX, TEXT_SLASH

# The full-width solidus reads the same (the normaliser keeps it so), but Rasa no longer
# takes the message for an intent.
AS_TEXT = TEXT_SLASH


def offered_payloads(tracker: Optional[DialogueStateTracker]) -> Set[str]:
    """Payloads of the buttons in the assistant's replies since the user's latest message."""
    offered: Set[str] = set()
    if tracker is None:
        return offered
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            break
        if isinstance(event, BotUttered):
            for button in (event.data or {}).get("buttons") or []:
                if isinstance(button, dict) and isinstance(button.get("payload"), str):
                    offered.add(button["payload"].strip())
    return offered


def as_user_text(text: str, tracker: Optional[DialogueStateTracker]) -> str:
    """The message as Rasa should read it: an offered button payload, or plain text."""
    stripped = text.strip()
    if not stripped.startswith(INTENT_PREFIX):
        return text
    if stripped in offered_payloads(tracker):
        return stripped
    return AS_TEXT + stripped[len(INTENT_PREFIX):]


async def guarded(agent, sender: str, text: str) -> str:
    """as_user_text, reading the conversation only when the text looks like an intent."""
    if not text.strip().startswith(INTENT_PREFIX):
        return text
    return as_user_text(text, await agent.tracker_store.retrieve(sender))
