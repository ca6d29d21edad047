"""Clarification when the NLU is unsure, and the offer of a human after repeated failure."""
from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.fallback import ActionClarify, failures_in_a_row
from tests.actions.helpers import entity, run
from tests.conftest import knowledge_store


def user(intent: str) -> dict:
    return {"event": "user", "text": "…", "parse_data": {"intent": {"name": intent}}}


def tracker(events, entities=(), ranking=()) -> Tracker:
    return Tracker("m", {}, {"text": "…", "intent": {"name": "nlu_fallback"},
                             "entities": list(entities), "intent_ranking": list(ranking)},
                   events, False, None, {}, "action_listen")


def test_failures_are_counted_in_a_row_only():
    events = [user("nlu_fallback"), {"event": "bot"}, user("greet"), user("nlu_fallback"),
              {"event": "action"}, user("nlu_fallback")]
    assert failures_in_a_row(Tracker("m", {}, {}, events, False, None, {}, "")) == 2
    assert failures_in_a_row(Tracker("m", {}, {}, [user("greet")], False, None, {}, "")) == 0


async def test_named_entry_is_suggested_with_a_precise_payload():
    action = ActionClarify(knowledge_store())
    t = tracker([user("nlu_fallback")], [entity("measure", "measure_1"), entity("aspect", "amount")],
                [{"name": "nlu_fallback"}, {"name": "ask_programme"}, {"name": "greet"}])
    [message], events = await run(action, t)
    assert message["response"] == "utter_clarify"
    titles = [b["title"] for b in message["buttons"]]
    assert titles == ["问“第1条 湖北商家极速到账与备货贷”", "打个招呼"]
    assert message["buttons"][0]["payload"] == '/ask_programme{"measure": "measure_1"}'
    assert events == [SlotSet("pending_offer", None)]


async def test_two_close_intents_become_two_suggestions():
    action = ActionClarify(knowledge_store())
    t = tracker([user("nlu_fallback")], [], [{"name": "nlu_fallback"}, {"name": "thank"},
                                             {"name": "goodbye"}])
    [message], _ = await run(action, t)
    assert [b["payload"] for b in message["buttons"]] == ["/thank", "/goodbye"]


async def test_nothing_to_suggest_says_what_the_assistant_can_do():
    action = ActionClarify(knowledge_store())
    [message], _ = await run(action, tracker([user("nlu_fallback")], [], [{"name": "nlu_fallback"}]))
    assert message["response"] == "utter_default"


async def test_second_failure_in_a_row_offers_a_human():
    action = ActionClarify(knowledge_store())
    t = tracker([user("greet"), user("nlu_fallback"), user("nlu_fallback")], [],
                [{"name": "nlu_fallback"}, {"name": "thank"}])
    [message], events = await run(action, t)
    assert message["response"] == "utter_offer_handoff"
    assert events == [SlotSet("pending_offer", "handoff")]


async def test_an_unrecognised_wording_gets_the_entries_the_ranking_finds():
    action = ActionClarify(knowledge_store())
    t = tracker([user("nlu_fallback")], [], [{"name": "nlu_fallback"}, {"name": "ask_programme"}])
    # Two entries ranked almost alike (the delay measure and the trade-violation points).
    t.latest_message["text"] = "发货延迟会扣分吗"
    [message], _ = await run(action, t)
    assert message["response"] == "utter_clarify"
    assert [b["payload"] for b in message["buttons"]] == [
        '/ask_programme{"measure": "measure_15"}',
        '/ask_programme{"violation": "violation_trade_points"}']


async def test_an_unsure_wording_that_one_entry_clearly_answers_is_answered():
    action = ActionClarify(knowledge_store())
    t = tracker([user("nlu_fallback")], [], [{"name": "nlu_fallback"}, {"name": "ask_programme"}])
    t.latest_message["text"] = "三天上网率最低要多少"
    messages, events = await run(action, t)
    assert messages[0]["response"] == "utter_answer" and "85%" in messages[0]["answer"]
    assert SlotSet("topic", "metric_online_72h") in events
    # No offer to check the merchant's store: its acceptance rule follows a programme answer.
    assert SlotSet("pending_offer", None) in events
    assert all(m.get("response") != "utter_offer_check_status" for m in messages)


def test_an_unsure_message_that_was_answered_is_not_a_failure():
    answered = [user("nlu_fallback"), {"event": "action", "name": "action_clarify"},
                {"event": "slot", "name": "topic", "value": "metric_online_72h"}, {"event": "bot"},
                user("nlu_fallback")]
    assert failures_in_a_row(Tracker("m", {}, {}, answered, False, None, {}, "")) == 1
    unanswered = [user("nlu_fallback"), {"event": "slot", "name": "topic", "value": None},
                  {"event": "bot"}, user("nlu_fallback")]
    assert failures_in_a_row(Tracker("m", {}, {}, unanswered, False, None, {}, "")) == 2


async def test_unsure_and_likely_out_of_scope_with_nothing_found_is_declined():
    action = ActionClarify(knowledge_store())
    t = tracker([user("nlu_fallback")], [], [{"name": "nlu_fallback"}, {"name": "out_of_scope"},
                                             {"name": "ask_programme"}])
    t.latest_message["text"] = "表格公式vlookup怎么写"
    [message], _ = await run(action, t)
    assert message["response"] == "utter_out_of_scope"


async def test_another_platform_is_declined_as_such():
    action = ActionClarify(knowledge_store())
    t = tracker([user("nlu_fallback")], [{"entity": "platform", "value": "亚马逊"}],
                [{"name": "nlu_fallback"}, {"name": "ask_programme"}])
    [message], _ = await run(action, t)
    assert message["response"] == "utter_other_platform"


async def test_an_unsure_question_with_content_that_nothing_matches_is_declined():
    # Between two conversational guesses, a question the knowledge base has nothing for is
    # declined (saying what the assistant answers), not met with "hello" and "thanks" buttons.
    action = ActionClarify(knowledge_store())
    ranking = [{"name": "nlu_fallback"}, {"name": "thank"}, {"name": "goodbye"}]
    t = tracker([user("nlu_fallback")], [], ranking)
    t.latest_message.update(text="国际快递寄去德国哪家最便宜", asks=True)
    [message], _ = await run(action, t)
    assert message["response"] == "utter_out_of_scope"
    # Asking nothing, the two guesses are offered.
    t = tracker([user("nlu_fallback")], [], ranking)
    t.latest_message.update(text="嗯嗯那行", asks=False)
    [message], _ = await run(action, t)
    assert [b["payload"] for b in message["buttons"]] == ["/thank", "/goodbye"]


async def test_an_entry_named_in_pinyin_is_answered_when_nothing_else_comes_near():
    action = ActionClarify(knowledge_store())
    t = tracker([user("nlu_fallback")], [], [{"name": "nlu_fallback"}, {"name": "ask_tier_status"}])
    t.latest_message["text"] = "jiaoyixunzhang会不会降"
    messages, events = await run(action, t)
    assert messages[0]["response"] == "utter_answer" and "第14条" in messages[0]["answer"]


async def test_another_platforms_question_beside_one_of_our_words_is_declined():
    # Unsure, a question about another authority's charge that shares a section's word
    # (跨境) is the other's, not a choice between that section and a guess.
    action = ActionClarify(knowledge_store())
    t = tracker([user("nlu_fallback")],
                [entity("section", "home_cross_border"), {"entity": "platform", "value": "other"},
                 entity("aspect", "amount")],
                [{"name": "nlu_fallback"}, {"name": "ask_programme"}, {"name": "out_of_scope"}])
    t.latest_message["text"] = "欧洲对跨境小包的关税现在收多少"
    [message], _ = await run(action, t)
    assert message["response"] == "utter_other_platform"
