"""Building trackers and running actions in tests."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher


def entity(kind: str, value: str) -> Dict[str, Any]:
    """An entity as the NLU pipeline emits it (value = knowledge id)."""
    return {"entity": kind, "value": value, "start": 0, "end": 1}


def tracker_for(text: str, entities: List[Dict[str, Any]], intent: str = "ask_programme",
                script: str = "zh-Hans") -> Tracker:
    """A tracker whose latest message carries the given entities."""
    return Tracker(
        sender_id="merchant-1",
        slots={"topic": None},
        latest_message={"text": text, "intent": {"name": intent, "confidence": 0.99},
                        "entities": entities, "script": script},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


async def run(action, tracker) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Run the action; return the dispatched messages and the returned events."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return dispatcher.messages, events
