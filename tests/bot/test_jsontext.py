"""bot/jsontext.py: the JSON the Rasa server sends and stores reads back as `json.dumps`'s
does, and what ujson cannot write alike is written (or refused) by `json.dumps`."""
from __future__ import annotations

import json
import math

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

from bot import jsontext
from bot.action_calls import KeepAliveSessions


def _events() -> list:
    parse = {"intent": {"name": "ask_programme", "confidence": 0.9312345678901234},
             "entities": [{"entity": "tier", "value": "gold", "start": 0, "end": 2}],
             "intent_ranking": [{"name": f"intent_{k}", "confidence": 1 / (k + 3)} for k in range(10)],
             "text": "金牌每个月有几个橱窗? a/b \"引号\" \\ \n\t\u0000 😀"}
    return [e.as_dict() for e in (
        ActionExecuted("action_listen"),
        UserUttered(parse["text"], parse["intent"], parse["entities"], parse),
        BotUttered("每月10个橱窗。", {"buttons": [{"title": "金牌", "payload": "/ask{\"tier\": \"gold\"}"}]},
                   {"agent": None, "n": 2**53 + 1}),
        SlotSet("entries", ["gold", 1.5e-9, 1e300, -0.0, True, None]))]


def test_events_read_back_as_jsons_own_text_does():
    events = _events()
    text = jsontext.dumps({"events": events})
    assert json.loads(text) == json.loads(json.dumps({"events": events}))
    assert text.isascii(), "escaped as json.dumps escapes"
    stamp = events[0]["timestamp"]
    assert json.loads(jsontext.dumps(stamp)) == stamp


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 2**70, -(2**70), "\ud800"])
def test_what_ujson_writes_otherwise_is_written_by_json(value):
    assert jsontext.dumps(value) == json.dumps(value)


def test_keys_that_are_not_strings_become_the_strings_json_makes():
    value = {1: "a", None: 2, 1.5: 3, True: 4}
    assert json.loads(jsontext.dumps(value)) == json.loads(json.dumps(value))


def test_a_value_json_refuses_is_refused_alike():
    class Opaque:
        pass

    with pytest.raises(TypeError):
        jsontext.dumps({"x": Opaque()})
    assert math.isnan(json.loads(jsontext.dumps(float("nan"))))


async def test_the_action_calls_are_written_with_it():
    from rasa.utils.endpoints import EndpointConfig

    sessions = KeepAliveSessions(EndpointConfig("http://127.0.0.1:1/webhook"), 2.0)
    async with sessions.session() as session:
        assert session._json_serialize is jsontext.dumps
    await sessions.close()
