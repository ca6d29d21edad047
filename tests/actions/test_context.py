"""Follow-up questions ("那银牌呢?", "第3条呢?", "V2呢?", "怎么申请?") read against the last one."""
from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.context import families, from_slot, is_elliptical, resolve, to_slot
from actions.programme_terms import ActionAnswerProgramme
from actions.questions import Question, parse_question
from actions.tier_status import ActionTierStatus
from core.db.demo import seed_demo
from core.db.migrate import upgrade
from core.db.session import make_engine, make_session_factory
from core.identity import Identity, seal
from tests.actions.helpers import run
from tests.conftest import knowledge_store

TODAY = dt.date(2026, 11, 22)
SECRET = "test-secret"


def mention(text: str, kind: str, value: str, surface: str) -> Dict[str, Any]:
    """An entity as the NLU pipeline emits it: the knowledge id and its offsets in the text."""
    start = text.index(surface)
    return {"entity": kind, "value": value, "start": start, "end": start + len(surface)}


def follow(kb, text: str, entities: List[Dict[str, Any]], previous: Optional[Question]) -> Question:
    """The question a message asks, read against the previous one."""
    return resolve(parse_question(kb, entities), previous,
                   is_elliptical(text, entities, kb.follow_up))


GOLD_SHOWCASE_AMOUNT = Question(ids={"tier": ["gold"], "benefit": ["showcase"], "aspect": ["amount"]})


# --- which messages are follow-ups ------------------------------------------------------------

@pytest.mark.parametrize("text, surface", [
    ("那银牌呢?", "银牌"),
    ("那么银牌呢", "银牌"),
    ("银牌的呢?", "银牌"),
    ("要是银牌呢", "银牌"),
    ("银牌", "银牌"),
])
def test_only_a_name_and_follow_up_words_is_elliptical(kb, text, surface):
    assert is_elliptical(text, [mention(text, "tier", "silver", surface)], kb.follow_up)


@pytest.mark.parametrize("text, surface", [
    ("那银牌有什么权益", "银牌"),
    ("银牌怎么评", "银牌"),
    ("那银牌呢,和金牌比", "银牌"),
])
def test_other_words_make_it_a_question_of_its_own(kb, text, surface):
    assert not is_elliptical(text, [mention(text, "tier", "silver", surface)], kb.follow_up)


def test_entities_without_offsets_do_not_count_as_covered_text(kb):
    # A /intent{...} payload has no offsets: the name is still in the text, so not elliptical.
    assert not is_elliptical("银牌呢", [{"entity": "tier", "value": "silver"}], kb.follow_up)
    assert is_elliptical("银牌呢", [{"entity": "tier", "value": "silver", "start": 0, "end": 2}],
                         kb.follow_up)


def test_families_name_the_subject_not_what_is_asked():
    assert families(Question(ids={"guarantee": ["g"], "aspect": ["apply"],
                                  "platform": ["other"]})) == {"measure"}
    assert families(Question(ids={"aspect": ["apply"]}, measure_numbers=[3])) == {"measure"}
    assert families(Question(ids={"metric": ["m"], "violation": ["v"], "tier": ["gold"]})) == {"rule", "tier"}
    assert families(Question(ids={"aspect": ["apply"]})) == set()


# --- resolving follow-ups ---------------------------------------------------------------------

def test_another_tier_keeps_benefit_and_aspect(kb):
    text = "那银牌呢?"
    resolved = follow(kb, text, [mention(text, "tier", "silver", "银牌")], GOLD_SHOWCASE_AMOUNT)
    assert resolved == Question(ids={"tier": ["silver"], "benefit": ["showcase"], "aspect": ["amount"]})


def test_another_measure_number_keeps_the_apply_aspect(kb):
    first = "第2条怎么申请"
    previous = follow(kb, first, [mention(first, "measure_number", "2", "第2条"),
                                  mention(first, "aspect", "apply", "怎么申请")], None)
    assert previous == Question(ids={"aspect": ["apply"]}, measure_numbers=[2])
    text = "第3条呢?"
    resolved = follow(kb, text, [mention(text, "measure_number", "3", "第3条")], previous)
    assert resolved == Question(ids={"aspect": ["apply"]}, measure_numbers=[3])


@pytest.mark.parametrize("previous, text, entity, expected", [
    # A number replaces a measure named by its name...
    (Question(ids={"measure": ["measure_2"], "aspect": ["apply"]}), "第3条呢?",
     ("measure_number", "3", "第3条"), Question(ids={"aspect": ["apply"]}, measure_numbers=[3])),
    # ... and a name replaces a number.
    (Question(ids={"aspect": ["deadline"]}, measure_numbers=[2]), "那电票贴现呢?",
     ("measure", "measure_3", "电票贴现"), Question(ids={"aspect": ["deadline"], "measure": ["measure_3"]})),
    # A tier condition replaces another one ("metric" and "violation" are both rules).
    (Question(ids={"tier": ["gold"], "metric": ["metric_online_72h"]}), "那交易违规扣分呢",
     ("violation", "violation_trade_points", "交易违规扣分"),
     Question(ids={"tier": ["gold"], "violation": ["violation_trade_points"]})),
])
def test_a_name_replaces_one_of_its_family(kb, previous, text, entity, expected):
    kind, value, surface = entity
    assert follow(kb, text, [mention(text, kind, value, surface)], previous) == expected


def test_another_version_keeps_the_feature(kb):
    previous = Question(ids={"version": ["version_v3"], "feature": ["feature_keyword"]})
    text = "V2呢?"
    resolved = follow(kb, text, [mention(text, "version", "version_v2", "V2")], previous)
    assert resolved == Question(ids={"version": ["version_v2"], "feature": ["feature_keyword"]})


@pytest.mark.parametrize("previous, expected", [
    (Question(measure_numbers=[2]), Question(ids={"aspect": ["apply"]}, measure_numbers=[2])),
    (Question(ids={"measure": ["measure_2"], "aspect": ["rate"]}),
     Question(ids={"measure": ["measure_2"], "aspect": ["apply"]})),
])
def test_an_aspect_alone_asks_about_the_same_subject(kb, previous, expected):
    text = "怎么申请?"
    assert follow(kb, text, [mention(text, "aspect", "apply", "怎么申请")], previous) == expected


def test_another_kind_of_subject_starts_a_new_topic(kb):
    text = "第3条呢?"
    resolved = follow(kb, text, [mention(text, "measure_number", "3", "第3条")], GOLD_SHOWCASE_AMOUNT)
    assert resolved == Question(measure_numbers=[3])


def test_a_full_question_starts_a_new_topic(kb):
    text = "那银牌有什么权益"
    resolved = follow(kb, text, [mention(text, "tier", "silver", "银牌")], GOLD_SHOWCASE_AMOUNT)
    assert resolved == Question(ids={"tier": ["silver"]})


def test_a_message_naming_nothing_and_asking_nothing_keeps_no_context(kb):
    assert follow(kb, "你好", [], GOLD_SHOWCASE_AMOUNT) == Question()


def test_without_a_previous_question_the_new_one_is_answered(kb):
    text = "那银牌呢?"
    assert (follow(kb, text, [mention(text, "tier", "silver", "银牌")], None)
            == Question(ids={"tier": ["silver"]}))


# --- the slot ---------------------------------------------------------------------------------

@pytest.mark.parametrize("question", [
    GOLD_SHOWCASE_AMOUNT,
    Question(ids={"aspect": ["apply"]}, measure_numbers=[3]),
    Question(measure_numbers=[2, 15]),
    Question(ids={"version": ["version_v2", "version_v3"], "aspect": ["compare"]}),
])
def test_slot_round_trip(question):
    value = to_slot(question)
    assert json.loads(json.dumps(value)) == value  # storable in any tracker store
    assert from_slot(value) == question


def test_empty_kinds_are_not_stored():
    assert to_slot(Question(ids={"tier": ["gold"], "benefit": []})) == {
        "ids": {"tier": ["gold"]}, "measure_numbers": []}


@pytest.mark.parametrize("value", [
    None, "", "gold", 3, [], ["tier", "gold"], {},
    {"ids": None},
    {"ids": "tier"},
    {"ids": ["tier"]},
    {"measure_numbers": [2]},                           # no ids at all
    {"ids": {"tier": "gold"}, "measure_numbers": []},   # a kind that is not a list
    {"ids": {}, "measure_numbers": "3"},
    {"ids": {}, "measure_numbers": ["3", None]},
    {"ids": {"tier": []}, "measure_numbers": []},
])
def test_malformed_slot_values_are_no_context(value):
    assert from_slot(value) is None


def test_the_well_formed_part_of_a_slot_value_is_kept():
    value = {"ids": {"tier": ["gold"], "benefit": "showcase"}, "measure_numbers": [2, "x", 3.0]}
    assert from_slot(value) == Question(ids={"tier": ["gold"]}, measure_numbers=[2])
    assert from_slot({"ids": {"tier": ["gold"]}, "measure_numbers": None}) == Question(ids={"tier": ["gold"]})


# --- through the answering action -------------------------------------------------------------

@pytest.fixture
def action():
    return ActionAnswerProgramme(knowledge_store(), today=lambda: TODAY)


def conversation(text: str, entities: List[Dict[str, Any]], context: Any,
                 intent: str = "ask_programme") -> Tracker:
    """The latest message (normalised text, entities with offsets) after a previous answer."""
    return Tracker("merchant-1", {"topic": None, "programme_context": context},
                   {"text": text, "intent": {"name": intent, "confidence": 0.99},
                    "entities": entities, "script": "zh-Hans"},
                   [], False, None, {}, "action_listen")


async def test_action_answers_the_other_tier_and_stores_the_merged_question(action, kb):
    text = "那银牌呢?"
    tracker = conversation(text, [mention(text, "tier", "silver", "银牌")],
                           {"ids": {"tier": ["gold"], "benefit": ["showcase"], "aspect": ["amount"]},
                            "measure_numbers": []})
    [message], events = await run(action, tracker)
    assert message["response"] == "utter_answer"
    assert message["answer"] == kb.benefit("showcase").by_tier["silver"].answer
    assert events == [SlotSet("topic", "showcase"),
                      SlotSet("programme_context", {"ids": {"tier": ["silver"], "benefit": ["showcase"],
                                                            "aspect": ["amount"]},
                                                    "measure_numbers": []}),
                      SlotSet("pending_offer", None)]


async def test_action_answers_how_to_apply_for_the_next_measure(action, kb):
    text = "第3条呢?"
    tracker = conversation(text, [mention(text, "measure_number", "3", "第3条")],
                           {"ids": {"aspect": ["apply"]}, "measure_numbers": [2]})
    [message], events = await run(action, tracker)
    # The facet asked for first, then the measure's key figures it does not state.
    assert message["answer"].split("\n") == ["第3条 电票贴现优惠:" + kb.entries["measure_3"].facets["apply"],
                                           kb.entries["measure_3"].answer]
    assert "20bps" in message["answer"]
    assert events == [SlotSet("topic", "measure_3"),
                      SlotSet("programme_context", {"ids": {"aspect": ["apply"]}, "measure_numbers": [3]}),
                      SlotSet("pending_offer", None)]


async def test_action_answers_an_aspect_about_the_measure_just_discussed(action, kb):
    text = "怎么申请?"
    tracker = conversation(text, [mention(text, "aspect", "apply", "怎么申请")],
                           {"ids": {"measure": ["measure_2"]}, "measure_numbers": []})
    [message], events = await run(action, tracker)
    assert (message["answer"].split("\n")[0]
            == "第2条 保理融资利率优惠:" + kb.entries["measure_2"].facets["apply"])
    assert "6%" in message["answer"]
    assert events[1] == SlotSet("programme_context", {"ids": {"measure": ["measure_2"], "aspect": ["apply"]},
                                                      "measure_numbers": []})


async def test_action_answers_the_same_feature_for_another_version(action):
    text = "V2呢?"
    tracker = conversation(text, [mention(text, "version", "version_v2", "V2")],
                           {"ids": {"version": ["version_v3"], "feature": ["feature_keyword"]},
                            "measure_numbers": []})
    [message], events = await run(action, tracker)
    assert message["answer"].startswith("询价单订阅V2.0的关键词订阅:")
    assert "V3.0" not in message["answer"]
    assert events[0] == SlotSet("topic", "inquiry_versions")


async def test_action_replaces_the_context_on_a_new_topic(action, kb):
    text = "那银牌有什么权益"
    tracker = conversation(text, [mention(text, "tier", "silver", "银牌")],
                           {"ids": {"tier": ["gold"], "benefit": ["showcase"]}, "measure_numbers": []})
    [message], events = await run(action, tracker)
    for benefit in kb.benefits:
        if "silver" in benefit.by_tier:
            assert benefit.by_tier["silver"].answer in message["answer"]
    assert kb.benefit("showcase").by_tier["gold"].answer not in message["answer"]
    assert events == [SlotSet("topic", "silver"),
                      SlotSet("programme_context", {"ids": {"tier": ["silver"]}, "measure_numbers": []}),
                      SlotSet("pending_offer", None)]


@pytest.mark.parametrize("context", [None, "gold", {"ids": "tier"}, {"ids": {"tier": "gold"}}])
async def test_action_ignores_a_malformed_context(action, kb, context):
    text = "那银牌呢?"
    [message], events = await run(action, conversation(text, [mention(text, "tier", "silver", "银牌")],
                                                       context))
    assert kb.benefit("showcase").by_tier["silver"].answer in message["answer"]
    assert kb.benefit("loan").by_tier["silver"].answer in message["answer"]
    assert events[1] == SlotSet("programme_context", {"ids": {"tier": ["silver"]}, "measure_numbers": []})


async def test_action_metric_question_offers_a_status_check(action, kb):
    text = "金牌的好评率要多少?"
    tracker = conversation(text, [mention(text, "tier", "gold", "金牌"),
                                  mention(text, "metric", "metric_positive_feedback", "好评率")], None)
    messages, events = await run(action, tracker)
    assert [m["response"] for m in messages] == ["utter_answer", "utter_offer_check_status"]
    assert messages[0]["answer"] == kb.entries["metric_positive_feedback"].answer
    assert events == [SlotSet("topic", "metric_positive_feedback"),
                      SlotSet("programme_context", {"ids": {"tier": ["gold"],
                                                            "metric": ["metric_positive_feedback"]},
                                                    "measure_numbers": []}),
                      SlotSet("pending_offer", "check_status")]
    # "那银牌呢?" keeps the metric, so the offer is made again.
    text = "那银牌呢?"
    messages, events = await run(action, conversation(text, [mention(text, "tier", "silver", "银牌")],
                                                      events[1]["value"]))
    assert [m["response"] for m in messages] == ["utter_answer", "utter_offer_check_status"]
    assert events[1] == SlotSet("programme_context", {"ids": {"metric": ["metric_positive_feedback"],
                                                              "tier": ["silver"]},
                                                      "measure_numbers": []})
    assert events[-1] == SlotSet("pending_offer", "check_status")


# --- "那我呢?": the live status of the metric just discussed ----------------------------------

@pytest.fixture
def status_action(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSISTANT_JWT_SECRET", SECRET)
    url = f"sqlite:///{tmp_path / 'merchants.db'}"
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    seed_demo(factory, TODAY)
    yield ActionTierStatus(factory, knowledge_store(), today=lambda: TODAY)
    engine.dispose()


def status_tracker(context: Any, entities: List[Dict[str, Any]] = ()) -> Tracker:
    sender = "merchant:M1003"
    identity = Identity("M1003", "merchant", int(time.time()) + 3600)
    text = "那我呢?"
    return Tracker(sender, {"programme_context": context},
                   {"text": text, "intent": {"name": "ask_tier_status"}, "entities": list(entities),
                    "metadata": seal(SECRET, sender, identity)},
                   [{"event": "user", "text": text, "input_channel": "merchant"}],
                   False, None, {}, "action_listen")


FEEDBACK_CONTEXT = {"ids": {"tier": ["gold"], "metric": ["metric_positive_feedback"]}, "measure_numbers": []}


async def test_status_focuses_on_the_metric_just_discussed(status_action):
    [message], events = await run(status_action, status_tracker(FEEDBACK_CONTEXT))
    assert message["outcome"] == "status"
    text = message["text_body"]
    assert "好评率" in text and "90.2%" in text
    assert "上网率" not in text
    assert events == [SlotSet("pending_offer", None)]


async def test_status_without_context_covers_every_missed_condition(status_action):
    [message], _ = await run(status_action, status_tracker(None))
    text = message["text_body"]
    assert "近90天店铺好评率:您是90.2%" in text and "近90天72h上网率:您是81.5%" in text


async def test_a_metric_named_in_the_message_wins_over_the_context(status_action):
    [message], _ = await run(status_action, status_tracker(
        FEEDBACK_CONTEXT, [{"entity": "metric", "value": "metric_online_72h"}]))
    text = message["text_body"]
    assert "上网率" in text and "好评率" not in text


@pytest.mark.parametrize("context, text, entities", [
    # Ids an edited knowledge base no longer has are dropped; the new question stands alone.
    ({"ids": {"benefit": ["gone"], "tier": ["gold"]}, "measure_numbers": []}, "那银牌呢?",
     [("tier", "silver", "银牌")]),
    ({"ids": {"measure": ["measure_99"]}, "measure_numbers": []}, "第3条呢?",
     [("measure_number", "3", "第3条")]),
])
async def test_action_drops_ids_the_knowledge_base_no_longer_has(action, kb, context, text, entities):
    tracker = conversation(text, [mention(text, *e) for e in entities], context)
    [message], events = await run(action, tracker)
    assert message["response"] == "utter_answer"
    stored = next(e["value"] for e in events if e["name"] == "programme_context")
    assert "gone" not in str(stored) and "measure_99" not in str(stored)


async def test_an_aspect_after_a_context_of_unknown_ids_asks_which_programme(action):
    text = "怎么申请?"
    tracker = conversation(text, [mention(text, "aspect", "apply", "怎么申请")],
                           {"ids": {"measure": ["measure_99"]}, "measure_numbers": []})
    [message], events = await run(action, tracker)
    assert message["response"] == "utter_ask_which_programme"
    assert events == [SlotSet("pending_offer", None)]
