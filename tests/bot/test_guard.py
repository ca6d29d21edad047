"""End users cannot pick intents or set entities with "/intent{...}" unless it is a button offered."""
from __future__ import annotations

from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.channels.guard import AS_TEXT, as_user_text, offered_payloads
from core import script


def conversation(*events) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("m", list(events))


OFFER = BotUttered("需要为您转接人工客服吗?", data={"buttons": [
    {"title": "转人工客服", "payload": "/request_human"}, {"title": "不用了", "payload": "/deny"}]})


def test_a_button_just_offered_goes_through_as_an_intent():
    tracker = conversation(UserUttered("asdf"), OFFER)
    assert offered_payloads(tracker) == {"/request_human", "/deny"}
    assert as_user_text("/request_human", tracker) == "/request_human"
    assert as_user_text(" /deny ", tracker) == "/deny"


def test_anything_else_starting_with_a_slash_is_plain_text():
    tracker = conversation(UserUttered("asdf"), OFFER)
    for typed in ('/ask_tier_status{"merchant_id": "T9002"}', "/restart", "/request_human{}",
                  "//request_human"):
        passed = as_user_text(typed, tracker)
        assert passed.startswith(AS_TEXT) and not passed.startswith("/")
        # The NLU still reads what was typed.
        assert script.normalize(passed)[0] == script.normalize(typed)[0]


def test_buttons_of_an_earlier_turn_are_no_longer_offered():
    tracker = conversation(UserUttered("asdf"), OFFER, UserUttered("你好"),
                           BotUttered("您好!"))
    assert offered_payloads(tracker) == set()
    assert as_user_text("/request_human", tracker).startswith(AS_TEXT)


def test_no_conversation_yet_and_ordinary_text():
    assert as_user_text("/greet", None).startswith(AS_TEXT)
    assert as_user_text("金牌有几个橱窗?", None) == "金牌有几个橱窗?"
