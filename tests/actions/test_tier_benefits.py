"""The tier-benefit action: answers from knowledge/, cites the source, states validity."""
from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import KnowledgeStore
from actions.tier_benefits import ActionAnswerTierBenefit
from tests.conftest import KNOWLEDGE


def tracker_for(text: str, entities: List[Dict[str, Any]]) -> Tracker:
    """A tracker whose latest message carries the given (synonym-mapped) entities."""
    return Tracker(
        sender_id="merchant-1",
        slots={"tier": None, "benefit": None},
        latest_message={"text": text, "intent": {"name": "ask_tier_benefit", "confidence": 0.99},
                        "entities": entities, "script": "zh-TW"},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def entity(kind: str, value: str) -> Dict[str, Any]:
    return {"entity": kind, "value": value, "start": 0, "end": 1}


async def run(action, tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return dispatcher.messages, events


@pytest.fixture
def action():
    return ActionAnswerTierBenefit(KnowledgeStore(KNOWLEDGE), today=lambda: dt.date(2026, 11, 22))


async def test_gold_showcase_answer_comes_from_knowledge_with_source(action, kb):
    messages, events = await run(action, tracker_for("金牌店铺每个月有几个橱窗?",
                                                     [entity("tier", "gold"), entity("benefit", "showcase")]))
    [message] = messages
    assert message["response"] == "utter_tier_benefit_expired"
    assert message["answer"] == kb.benefit("showcase").by_tier["gold"].answer
    assert "3个橱窗" in message["answer"]
    assert message["source"].startswith(kb.programme.document)
    assert "1、金牌权益 1)流量扶持" in message["source"]
    assert message["valid_until"] == "2024年3月31日"
    assert message["validity_note"] == kb.programme.validity_note
    assert events == [SlotSet("tier", "gold"), SlotSet("benefit", "showcase")]


async def test_silver_loan_discount(action):
    messages, _ = await run(action, tracker_for("银牌贷款打几折?",
                                                [entity("tier", "silver"), entity("benefit", "loan"),
                                                 entity("benefit", "loan")]))
    [message] = messages
    assert "95折" in message["answer"] and "9折贷款" not in message["answer"].replace("95折", "")
    assert "二、银牌商家规则" in message["source"]


async def test_unmapped_alias_value_still_resolves(action):
    # If the synonym mapper did not run, the raw alias is resolved through the knowledge base.
    messages, _ = await run(action, tracker_for("金牌卖家 window", [entity("tier", "金牌卖家"),
                                                                    entity("benefit", "window")]))
    assert "3个橱窗" in messages[0]["answer"]


async def test_no_tier_answers_for_both_tiers(action):
    messages, events = await run(action, tracker_for("橱窗有几个", [entity("benefit", "showcase")]))
    answer = messages[0]["answer"]
    assert "3个" in answer and "2个" in answer
    assert "一、金牌商家规则" in messages[0]["source"] and "二、银牌商家规则" in messages[0]["source"]
    assert SlotSet("tier", None) in events


async def test_no_benefit_lists_every_benefit_of_the_tier(action, kb):
    messages, _ = await run(action, tracker_for("金牌有什么权益", [entity("tier", "gold")]))
    answer = messages[0]["answer"]
    for benefit in kb.benefits:
        assert benefit.name in answer
        assert benefit.by_tier["gold"].answer in answer
    assert "银牌" not in answer


async def test_unknown_benefit_says_so_and_lists_what_is_known(action, kb):
    messages, events = await run(action, tracker_for("金牌有免费午餐吗", [entity("benefit", "免费午餐")]))
    [message] = messages
    assert message["response"] == "utter_tier_benefit_unknown"
    assert all(b.name in message["benefit_names"] for b in kb.benefits)
    assert events == []


async def test_within_the_validity_window_no_expiry_warning(kb):
    action = ActionAnswerTierBenefit(KnowledgeStore(KNOWLEDGE), today=lambda: dt.date(2023, 9, 1))
    messages, _ = await run(action, tracker_for("金牌橱窗", [entity("tier", "gold"),
                                                              entity("benefit", "showcase")]))
    assert messages[0]["response"] == "utter_tier_benefit"


async def test_answers_follow_an_edited_knowledge_base(knowledge_copy):
    path = knowledge_copy / "aliexpress_tiers.yml"
    action = ActionAnswerTierBenefit(KnowledgeStore(knowledge_copy))
    tracker = tracker_for("金牌橱窗", [entity("tier", "gold"), entity("benefit", "showcase")])
    assert "3个橱窗" in (await run(action, tracker))[0][0]["answer"]
    path.write_text(path.read_text(encoding="utf-8").replace("享受3个橱窗", "享受5个橱窗"), encoding="utf-8")
    import os
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert "5个橱窗" in (await run(action, tracker))[0][0]["answer"]


def test_action_server_modules_do_not_import_rasa():
    import subprocess
    import sys
    code = ("import sys, actions.tier_benefits, actions.knowledge; "
            "bad = [m for m in sys.modules if m == 'rasa' or m.startswith('rasa.')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_gold_and_silver_together_answers_both(action, kb):
    assert kb.resolve("tier", "金银牌") == "all"
    messages, _ = await run(action, tracker_for("金银牌橱窗几个", [entity("tier", "all"),
                                                                  entity("benefit", "showcase")]))
    assert "3个" in messages[0]["answer"] and "2个" in messages[0]["answer"]
