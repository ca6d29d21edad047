"""Read a message (Rasa's NLU) on a worker thread, so that the server's event loop keeps serving
other conversations meanwhile.

Rasa parses a message on its one event loop: for as long as the NLU works on one message (a
question takes about 13 ms, a message at the 4,000-character cap about three times that), every
other conversation waits, however short its own turn. The channels therefore parse the message
here first and hand Rasa the result (`UserMessage.parse_data`, which Rasa's processor uses in
place of parsing again). The Python work of two threads still takes turns (the GIL), but the
event loop gets its share every few milliseconds instead of waiting for the whole parse, and
TensorFlow's classifier runs outside the GIL.

The parse is Rasa's own (`MessageProcessor.parse_message`, with its checks of the result against
the domain), run on one worker thread with its own event loop. When the model
reads messages through an NLU server (an `nlu` endpoint) the parse stays with Rasa.
"""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict

from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor

_local = threading.local()
# One worker: the NLU never reads two messages at once (its components were written for one
# caller), and a worker thread beside the event loop is what keeps the loop answering.
_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nlu")


def _parse(processor: MessageProcessor, message: UserMessage) -> Dict[str, Any]:
    loop = getattr(_local, "loop", None)
    if loop is None:
        loop = _local.loop = asyncio.new_event_loop()
    return loop.run_until_complete(processor.parse_message(message))


async def understood(agent: Agent, message: UserMessage) -> UserMessage:
    """`message` with its parse data, read on a worker thread (unchanged when Rasa must parse it
    itself: no model loaded, or an NLU server configured)."""
    processor = agent.processor
    if processor is None or not agent.is_ready() or processor.http_interpreter is not None:
        return message
    if message.parse_data is None:
        message.parse_data = await asyncio.get_running_loop().run_in_executor(
            _pool, _parse, processor, message)
    return message
