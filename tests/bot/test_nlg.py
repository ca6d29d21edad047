"""Replies are rendered from domain responses and converted to the merchant's script."""
from __future__ import annotations

from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.nlg import ScriptAwareNaturalLanguageGenerator, reply_script
from core import contract, script

DOMAIN = Path(__file__).resolve().parents[2] / "domain.yml"


def tracker_with(*scripts):
    events = []
    for detected in scripts:
        events.append(UserUttered("…", {"name": "greet", "confidence": 1.0}, [],
                                  parse_data={"script": detected}))
        events.append(ActionExecuted("utter_greet"))
    return DialogueStateTracker.from_events("merchant", events)


@pytest.fixture(scope="module")
def nlg():
    return ScriptAwareNaturalLanguageGenerator(domain=Domain.load(str(DOMAIN)))


def test_script_follows_the_latest_chinese_message():
    assert reply_script(tracker_with(script.SIMPLIFIED, script.TAIWAN)) == script.TAIWAN
    assert reply_script(tracker_with(script.TAIWAN, script.HONG_KONG)) == script.HONG_KONG
    # A message with no Chinese in it ("ok", an emoji) keeps the script from before.
    assert reply_script(tracker_with(script.HONG_KONG, None)) == script.HONG_KONG
    assert reply_script(tracker_with()) is None


async def test_domain_response_rendered_in_taiwan_traditional(nlg):
    response = await nlg.generate("utter_answer", tracker_with(script.TAIWAN), "rest",
                                  answer="金牌店铺每个月可以享受3个橱窗激励。", source="速卖通规则",
                                  status="有效期至2024年3月31日")
    assert response["text"].startswith("金牌店鋪每個月可以享受3個櫥窗激勵。")
    assert "來源:速賣通規則" in response["text"]


async def test_domain_response_stays_simplified_for_simplified_merchants(nlg):
    response = await nlg.generate("utter_greet", tracker_with(script.SIMPLIFIED), "rest")
    assert response["text"] == Domain.load(str(DOMAIN)).responses["utter_greet"][0]["text"]


async def test_button_titles_are_converted(nlg):
    nlg.responses["utter_test_buttons"] = [
        {"text": "您是想问银牌吗?", "buttons": [{"title": "银牌权益", "payload": "/greet"}]}]
    response = await nlg.generate("utter_test_buttons", tracker_with(script.HONG_KONG), "rest")
    assert response["text"] == "您是想問銀牌嗎?"
    assert response["buttons"][0]["title"] == "銀牌權益"
    assert response["buttons"][0]["payload"] == "/greet"


async def test_unknown_response_is_none(nlg):
    assert await nlg.generate("utter_does_not_exist", tracker_with(script.TAIWAN), "rest") is None


async def test_buttons_sent_by_an_action_are_converted_in_place(nlg):
    buttons = [{"title": "问“备货贷”", "payload": '/ask_programme{"measure": "measure_1"}'}]
    await nlg.generate("utter_clarify", tracker_with(script.TAIWAN), "rest", buttons=buttons)
    assert buttons[0]["title"] == "問“備貨貸”"
    assert buttons[0]["payload"] == '/ask_programme{"measure": "measure_1"}'


def test_a_message_that_reads_the_same_in_both_scripts_keeps_the_earlier_script():
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.nlu.normalizer import SCRIPT, SCRIPT_NEUTRAL

    def said(detected, neutral=False):
        parse = {SCRIPT: detected, **({SCRIPT_NEUTRAL: True} if neutral else {})}
        return UserUttered("…", parse_data=parse)

    taiwan_then_ok = DialogueStateTracker.from_events(
        "m", [said(script.TAIWAN), said(script.SIMPLIFIED, neutral=True)])
    assert reply_script(taiwan_then_ok) == script.TAIWAN
    only_ok = DialogueStateTracker.from_events("m", [said(script.SIMPLIFIED, neutral=True)])
    assert reply_script(only_ok) == script.SIMPLIFIED
    assert script.is_neutral("好的") and script.is_neutral("OK 88")
    assert not script.is_neutral("轉人工") and not script.is_neutral("转人工")


def test_before_any_chinese_the_browsers_script_of_the_greeting_decides():
    greeting = BotUttered("您好!", metadata={"utter_action": "utter_chat_opening",
                                            contract.META_BROWSER_SCRIPT: script.TAIWAN})
    payload = UserUttered("/ask_tier_status", parse_data={"intent": {"name": "ask_tier_status"}})
    tracker = DialogueStateTracker.from_events("s", [greeting, payload])
    assert reply_script(tracker) == script.TAIWAN
    # Once the merchant writes Chinese, their writing decides.
    written = UserUttered("金牌每个月有几个橱窗", parse_data={contract.PARSE_SCRIPT: script.SIMPLIFIED})
    later = DialogueStateTracker.from_events("s", [greeting, payload, written])
    assert reply_script(later) == script.SIMPLIFIED
    # A hint that is not a script is ignored.
    odd = BotUttered("您好!", metadata={contract.META_BROWSER_SCRIPT: "klingon"})
    assert reply_script(DialogueStateTracker.from_events("s", [odd, payload])) is None
