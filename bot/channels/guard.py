"""End users type text, not intents: "/intent{...}" is honoured only as a button just offered.

Rasa reads a message that starts with "/" as an intent with entities, skipping the NLU; from
a client that would let anyone pick any intent and set any entity. A payload of a button the
assistant offered in its latest turn (what a chat widget sends when the button is clicked)
goes through unchanged; anything else starting with "/" is passed on as plain text.

Text a client sends may also hold what cannot be processed or stored: JSON allows lone UTF-16
surrogates ("\\ud800"), which no encoder takes (OpenCC in the NLU fails on them); they are
replaced by U+FFFD. Ids a client chooses (the REST sender) must be printable: a lone surrogate
or a NUL byte in a conversation id makes the SQL tracker store fail, and Rasa takes that
failure for a missing database schema and exits.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Optional, Set

from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.channels.auth import audit_refusal
from bot.nlu.normalizer import INTENT_PREFIX, TEXT_SLASH
from core.identity import Identity

# The full-width solidus reads the same (the normaliser keeps it so), but Rasa no longer
# takes the message for an intent.
AS_TEXT = TEXT_SLASH
_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """The text with lone surrogates (not characters; they cannot be encoded) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def printable_id(value: str) -> bool:
    """Whether a client-chosen id has no control characters (NUL included) and no lone
    surrogates, so that every store can keep it."""
    return not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value)


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


async def guarded(agent, sender: str, text: str, channel: str,
                  actor: Optional[Identity] = None, source: Optional[str] = None) -> str:
    """as_user_text, reading the conversation only when the text looks like an intent; a
    payload that was not offered is audited as a refused attempt, under the signed-in caller
    (`actor`) when there is one, with the client's address (`source`). Lone surrogates become
    U+FFFD (valid_text)."""
    text = valid_text(text)
    if not text.strip().startswith(INTENT_PREFIX):
        return text
    read = as_user_text(text, await agent.tracker_store.retrieve(sender))
    if read != text.strip():
        await audit_refusal(channel, f"intent payload not offered, read as text: {text.strip()[:200]}",
                            actor, source=source)
    return read
