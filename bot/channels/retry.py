"""Pass a message to the assistant, again if the conversation's lock slipped away.

With several Rasa servers on one Redis lock store, a message queued behind others of the
same conversation can lose its place (Rasa's lock store updates the lock without an atomic
read-modify-write) and Rasa then raises LockError before it has touched the message. Trying
again is safe then, and a merchant's message is not dropped with a 500.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import UserMessage
from rasa.core.lock_store import LockError

logger = logging.getLogger(__name__)
ATTEMPTS = 5


async def handle(on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage) -> None:
    """on_new_message(message), retried on LockError (raised before any processing)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            await on_new_message(message)
            return
        except LockError:
            if attempt == ATTEMPTS:
                raise
            logger.warning("conversation lock lost for a queued message; trying again (%d)", attempt)
            await asyncio.sleep(0.2 * attempt)
