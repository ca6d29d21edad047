"""The channels read a message on a worker thread (bot/channels/understanding.py): the event loop
keeps serving while one message is parsed, and Rasa takes the result without parsing again."""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Dict, List

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.channels import understanding

PARSED = {"text": "金牌有几个橱窗", "intent": {"name": "ask_programme", "confidence": 0.9},
          "entities": []}


class SlowProcessor:
    """Stands in for Rasa's processor: a parse that holds its thread for a while."""

    http_interpreter = None

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.threads: List[str] = []

    async def parse_message(self, message: UserMessage) -> Dict[str, Any]:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.seconds)
        return dict(PARSED, text=message.text)


class FakeAgent:
    def __init__(self, processor: Any, ready: bool = True) -> None:
        self.processor, self._ready = processor, ready

    def is_ready(self) -> bool:
        return self._ready


def test_the_loop_keeps_serving_while_a_message_is_parsed():
    processor = SlowProcessor(0.3)

    async def scenario():
        ticks = 0

        async def other_conversation():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        other = asyncio.ensure_future(other_conversation())
        message = await understanding.understood(FakeAgent(processor), UserMessage("金牌有几个橱窗"))
        other.cancel()
        return message, ticks

    message, ticks = asyncio.run(scenario())
    assert message.parse_data["text"] == "金牌有几个橱窗"
    assert processor.threads and processor.threads[0].startswith("nlu")
    # Parsed on the loop, the other conversation would not have run at all during the 0.3 s.
    assert ticks >= 10, ticks


def test_one_message_at_a_time_reaches_the_nlu():
    processor = SlowProcessor(0.05)
    seen: List[int] = []
    lock = threading.Lock()
    active = 0

    async def parse_message(message):
        nonlocal active
        with lock:
            active += 1
            seen.append(active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return dict(PARSED, text=message.text)

    processor.parse_message = parse_message  # type: ignore[method-assign]

    async def scenario():
        agent = FakeAgent(processor)
        await asyncio.gather(*(understanding.understood(agent, UserMessage(f"问题{n}"))
                               for n in range(4)))

    asyncio.run(scenario())
    assert seen == [1, 1, 1, 1]


@pytest.mark.parametrize("ready, interpreter", [(False, None), (True, object())])
def test_rasa_parses_itself_without_a_model_or_with_an_nlu_server(ready, interpreter):
    processor = SlowProcessor(0)
    processor.http_interpreter = interpreter
    message = asyncio.run(understanding.understood(FakeAgent(processor, ready), UserMessage("你好")))
    assert message.parse_data is None and processor.threads == []


def test_rasa_logs_the_parse_it_is_given_without_parsing_again():
    """Pins the stock behaviour the channels rely on: a UserMessage that carries parse data is
    logged with it (MessageProcessor._handle_message_with_tracker)."""
    processor = MessageProcessor.__new__(MessageProcessor)
    processor.domain = Domain.empty()

    async def no_parse(*args, **kwargs):
        raise AssertionError("parsed again")

    processor.parse_message = no_parse  # type: ignore[method-assign]
    tracker = DialogueStateTracker.from_events("s1", [])
    message = UserMessage("金牌有几个橱窗", sender_id="s1", parse_data=dict(PARSED))
    asyncio.run(processor._handle_message_with_tracker(message, tracker))
    uttered = [e for e in tracker.events if isinstance(e, UserUttered)]
    assert len(uttered) == 1
    assert uttered[0].intent["name"] == "ask_programme"
    assert uttered[0].parse_data["text"] == "金牌有几个橱窗"
