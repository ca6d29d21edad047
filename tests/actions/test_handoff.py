"""Handing a conversation to a human agent: the summary, the ticket, and pausing the assistant."""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, SessionStarted, SlotSet
from sqlalchemy import select, text

from actions.handoff import ActionDeclineOffer, ActionHandoff, ActionSessionStart, conversation_summary
from core.db import tickets
from core.db.migrate import upgrade
from core.db.models import HandoffTicket
from core.db.session import make_engine, make_session_factory
from core.identity import Identity, conversation_id, seal
from tests.actions.helpers import run

SECRET = "test-secret"
STATUS_REPLY = "您的店铺(M1003)当前的等级:银牌……近90天店铺好评率:您是90.2%,要求≥92%,差1.8%"


def user(text: str, intent: str, original: Optional[str] = None, channel: str = "merchant",
         script: str = "zh-Hans") -> Dict[str, Any]:
    """A user event as Rasa sends it to the action server (text normalised to simplified)."""
    return {"event": "user", "text": text, "input_channel": channel,
            "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": [],
                           "text": text, "text_original": original or text, "script": script}}


def bot(text: Optional[str], response: str, outcome: Optional[str] = None) -> Dict[str, Any]:
    """A bot event; its metadata carries the response name and the action's extra fields."""
    metadata: Dict[str, Any] = {"utter_action": response}
    if outcome:
        metadata["outcome"] = outcome
    return {"event": "bot", "text": text, "data": {}, "metadata": metadata}


def action(name: str) -> Dict[str, Any]:
    return {"event": "action", "name": name}


def slot(name: str, value: Any) -> Dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


# A conversation: small talk, an answer, an out-of-scope question, a status check, a failure.
CONVERSATION = [
    action("action_session_start"), {"event": "session_started"}, action("action_listen"),
    user("你好", "greet"), action("utter_greet"), bot("您好!请问有什么可以帮您?", "utter_greet"),
    action("action_listen"),
    user("金牌橱窗有几个", "ask_programme", original="金牌櫥窗有幾個", script="zh-TW"),
    action("action_answer_programme"), bot("金牌店铺每个月可以享受3个橱窗激励。", "utter_answer"),
    slot("topic", "showcase"), action("action_listen"),
    user("你们能退款吗", "out_of_scope"), action("utter_out_of_scope"),
    bot("这个问题我回答不了。", "utter_out_of_scope"), action("action_listen"),
    user("我离金牌还差多少", "ask_tier_status"), action("action_tier_status"),
    bot(STATUS_REPLY, "utter_plain", outcome="status"), action("action_listen"),
    user("第20条保证金怎么退", "nlu_fallback"), action("action_clarify"),
    bot("抱歉,我不太确定您的意思。您是想:", "utter_clarify"), action("action_listen"),
    user("嗯嗯", "affirm"), action("action_listen"),
    user("转人工", "request_human"),
]


def test_summary_lists_questions_answered_or_not():
    summary = conversation_summary(CONVERSATION)
    assert summary == {
        "questions": [
            {"text": "金牌櫥窗有幾個", "answered": True, "reply": "金牌店铺每个月可以享受3个橱窗激励。"},
            {"text": "你们能退款吗", "answered": False, "reply": ""},
            {"text": "我离金牌还差多少", "answered": True, "reply": STATUS_REPLY},
            {"text": "第20条保证金怎么退", "answered": False, "reply": ""},
        ],
        "unanswered": ["你们能退款吗", "第20条保证金怎么退"],
        "tier_status": STATUS_REPLY,
    }


@pytest.mark.parametrize("outcome", ["refused", "unavailable", "missing"])
def test_a_refused_status_is_neither_an_answer_nor_a_status(outcome):
    events = [user("我离金牌还差多少", "ask_tier_status"),
              bot("查询店铺状态需要先登录。", "utter_plain", outcome=outcome)]
    assert conversation_summary(events) == {
        "questions": [{"text": "我离金牌还差多少", "answered": False, "reply": ""}],
        "unanswered": ["我离金牌还差多少"], "tier_status": None}


def test_a_question_without_a_reply_or_with_a_non_answer_is_unanswered():
    events = [user("第15条呢", "ask_programme"),  # the conversation ended before a reply
              user("怎么申请", "ask_programme"), bot("您想了解哪一项呢?", "utter_ask_which_programme"),
              user("天猫的扣分规则", "ask_programme"),
              bot("其他平台的规则我这里没有。", "utter_other_platform")]
    summary = conversation_summary(events)
    assert [q["answered"] for q in summary["questions"]] == [False, False, False]
    assert summary["unanswered"] == ["第15条呢", "怎么申请", "天猫的扣分规则"]


def test_a_restart_clears_earlier_turns():
    events = CONVERSATION[:-1] + [
        user("重新开始", "start_over"), action("action_restart"), {"event": "restart"},
        action("action_listen"), user("第15条是什么", "ask_programme"),
        bot("第15条 规则调整保障……", "utter_answer"), user("转人工", "request_human")]
    assert conversation_summary(events) == {
        "questions": [{"text": "第15条是什么", "answered": True, "reply": "第15条 规则调整保障……"}],
        "unanswered": [], "tier_status": None}


def test_long_texts_are_cut_and_the_latest_questions_kept():
    events = []
    for n in range(35):
        events += [user(f"问题{n}" + "长" * 2000, "ask_programme"), bot("回答" * 1000, "utter_answer")]
    summary = conversation_summary(events)
    assert len(summary["questions"]) == 30
    assert summary["questions"][0]["text"].startswith("问题5长")
    assert all(len(q["text"]) == 1000 and len(q["reply"]) == 1000 for q in summary["questions"])


def test_summary_of_no_conversation():
    assert conversation_summary([]) == {"questions": [], "unanswered": [], "tier_status": None}
    # Replies before the first user message belong to no question.
    assert conversation_summary([bot("您好", "utter_greet")])["questions"] == []


# --- the handoff action -----------------------------------------------------------------------

@pytest.fixture
def database(tmp_path):
    url = f"sqlite:///{tmp_path / 'merchants.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(database):
    return make_session_factory(database)


@pytest.fixture(autouse=True)
def jwt_secret(monkeypatch):
    monkeypatch.setenv("ASSISTANT_JWT_SECRET", SECRET)


MERCHANT = Identity("M1003", "merchant", int(time.time()) + 3600)
SENDER = conversation_id(SECRET, MERCHANT)


def handoff_tracker(events: List[Dict[str, Any]], metadata: Optional[Dict[str, Any]] = None,
                    sender: str = SENDER, slots: Optional[Dict[str, Any]] = None) -> Tracker:
    return Tracker(sender, {"topic": "showcase", "pending_offer": None, "handoff_ticket": None,
                            **(slots or {})},
                   {"text": "转人工", "intent": {"name": "request_human"}, "entities": [],
                    "metadata": metadata or {}},
                   events, False, None, {}, "action_listen")


def stored(factory) -> List[HandoffTicket]:
    with factory() as s:
        return list(s.execute(select(HandoffTicket).order_by(HandoffTicket.id)).scalars())


async def test_handoff_opens_a_ticket_and_pauses(factory):
    tracker = handoff_tracker(CONVERSATION, seal(SECRET, SENDER, MERCHANT))
    [message], events = await run(ActionHandoff(factory=factory), tracker)
    [ticket] = stored(factory)
    assert message["response"] == "utter_handoff_created" and message["ticket"] == str(ticket.id)
    # Paused, but listening: what the merchant writes now is kept for the agent.
    assert events == [SlotSet("handoff_ticket", str(ticket.id)), SlotSet("pending_offer", None),
                      ConversationPaused(), ActionExecuted("action_listen")]
    assert (ticket.conversation_id, ticket.channel, ticket.merchant_id, ticket.reason,
            ticket.status) == (SENDER, "merchant", "M1003", "requested", "open")
    # The script of the latest message that had one: "转人工" was typed in simplified Chinese.
    assert ticket.script == "zh-Hans"
    assert tickets.summary_of(ticket) == dict(conversation_summary(CONVERSATION),
                                              reason="requested", topic="showcase")


async def test_handoff_after_repeated_failure(factory):
    conversation = CONVERSATION[:-1] + [user("转人工", "request_human", original="轉人工", script="zh-TW")]
    tracker = handoff_tracker(conversation, seal(SECRET, SENDER, MERCHANT),
                              slots={"pending_offer": "handoff"})
    [message], events = await run(ActionHandoff(factory=factory), tracker)
    [ticket] = stored(factory)
    assert message["response"] == "utter_handoff_created"
    assert (ticket.reason, ticket.script) == ("repeated_failure", "zh-TW")
    assert tickets.summary_of(ticket)["reason"] == "repeated_failure"
    assert SlotSet("pending_offer", None) in events


@pytest.mark.parametrize("sender, metadata, channel", [
    ("rest-user", {}, "rest"),                                          # anonymous
    (SENDER, seal(SECRET, SENDER, MERCHANT), "rest"),                   # replayed via another channel
    (SENDER, seal("other-secret", SENDER, MERCHANT), "merchant"),       # forged
    (SENDER, seal(SECRET, "merchant:M1001:x", MERCHANT), "merchant"),   # sealed for another conversation
])
async def test_merchant_id_only_from_a_valid_seal(factory, sender, metadata, channel):
    events = [user("第20条怎么申请", "ask_programme", channel=channel),
              bot("第20条不存在。", "utter_plain"), user("转人工", "request_human", channel=channel)]
    [message], returned = await run(ActionHandoff(factory=factory), handoff_tracker(events, metadata, sender))
    [ticket] = stored(factory)
    assert (ticket.conversation_id, ticket.channel, ticket.merchant_id) == (sender, channel, None)
    assert message["ticket"] == str(ticket.id) and ConversationPaused() in returned


async def test_no_input_channel_is_recorded_as_unknown(factory):
    await run(ActionHandoff(factory=factory), handoff_tracker([], sender="someone"))
    [ticket] = stored(factory)
    assert (ticket.channel, ticket.merchant_id, ticket.script) == ("unknown", None, None)
    assert tickets.summary_of(ticket) == {"questions": [], "unanswered": [], "tier_status": None,
                                          "reason": "requested", "topic": "showcase"}


async def test_asking_again_keeps_the_same_ticket(factory):
    action = ActionHandoff(factory=factory)
    tracker = handoff_tracker(CONVERSATION, seal(SECRET, SENDER, MERCHANT))
    [first], _ = await run(action, tracker)
    [again], events = await run(action, tracker)
    assert first["ticket"] == again["ticket"] == str(stored(factory)[0].id)
    assert len(stored(factory)) == 1 and events[0] == SlotSet("handoff_ticket", first["ticket"])


async def test_no_database_means_no_handoff_and_no_pause(tmp_path):
    broken = make_session_factory(make_engine(f"sqlite:///{tmp_path / 'missing' / 'merchants.db'}"))
    [message], events = await run(ActionHandoff(factory=broken), handoff_tracker(CONVERSATION))
    assert message["response"] == "utter_handoff_unavailable"
    assert events == [SlotSet("pending_offer", None)]


async def test_missing_tables_mean_no_handoff_and_no_pause(database, factory):
    with database.begin() as conn:
        conn.execute(text("DROP TABLE ticket_events"))
        conn.execute(text("DROP TABLE handoff_tickets"))
    [message], events = await run(ActionHandoff(factory=factory), handoff_tracker(CONVERSATION))
    assert message["response"] == "utter_handoff_unavailable"
    assert events == [SlotSet("pending_offer", None)]


# --- a new session and declined offers --------------------------------------------------------

def session_tracker(slots: Dict[str, Any]) -> Tracker:
    return Tracker(SENDER, slots, {}, [], False, None, {}, None)


async def test_new_session_keeps_the_slots_but_not_the_offer():
    context = {"ids": {"tier": ["gold"]}, "measure_numbers": []}
    messages, events = await run(ActionSessionStart(), session_tracker(
        {"topic": "gold", "programme_context": context, "pending_offer": "check_status",
         "handoff_ticket": None}))
    assert messages == []
    assert events == [SessionStarted(), SlotSet("topic", "gold"), SlotSet("programme_context", context),
                      ActionExecuted("action_listen")]


async def test_new_session_stays_with_the_agent_while_a_ticket_is_open():
    _, events = await run(ActionSessionStart(), session_tracker(
        {"topic": None, "pending_offer": "handoff", "handoff_ticket": "12"}))
    assert events == [SessionStarted(), SlotSet("handoff_ticket", "12"), ConversationPaused(),
                      ActionExecuted("action_listen")]


async def test_declining_an_offer_withdraws_it():
    tracker = handoff_tracker([user("不用了", "deny")], slots={"pending_offer": "handoff"})
    [message], events = await run(ActionDeclineOffer(), tracker)
    assert message["response"] == "utter_offer_declined"
    assert events == [SlotSet("pending_offer", None)]


def test_a_status_after_a_reply_without_text_is_still_the_status():
    events = [user("我离金牌还差多少", "ask_tier_status"), bot(None, "utter_plain"),
              bot(STATUS_REPLY, "utter_plain", outcome="status")]
    summary = conversation_summary(events)
    assert summary["tier_status"] == STATUS_REPLY
    assert summary["questions"] == [{"text": "我离金牌还差多少", "answered": True, "reply": STATUS_REPLY}]


async def test_anonymous_handoffs_from_one_address_are_limited_signed_in_ones_are_not(factory, monkeypatch):
    from core import limits
    monkeypatch.setattr(limits, "_shared", limits.Limits({"ASSISTANT_LIMIT_ANONYMOUS_TICKETS": "2/hour"}))
    action = ActionHandoff(factory=factory)
    answers = []
    for n in range(3):
        events = [user("转人工", "request_human", channel="rest")]
        tracker = handoff_tracker(events, {"client_address": "203.0.113.9"}, sender=f"anonymous-{n}")
        [message], returned = await run(action, tracker)
        answers.append((message["response"], ConversationPaused() in returned))
    assert answers == [("utter_handoff_created", True)] * 2 + [("utter_handoff_unavailable", False)]
    # Another address, and a signed-in merchant behind the same one, still reach an agent.
    other = handoff_tracker([user("转人工", "request_human", channel="rest")],
                            {"client_address": "203.0.113.10"}, sender="anonymous-x")
    assert (await run(action, other))[0][0]["response"] == "utter_handoff_created"
    signed = handoff_tracker(CONVERSATION, dict(seal(SECRET, SENDER, MERCHANT), client_address="203.0.113.9"))
    assert (await run(action, signed))[0][0]["response"] == "utter_handoff_created"
    assert len(stored(factory)) == 4


def test_an_unsure_guess_answered_from_the_knowledge_base_counts_as_answered():
    events = [user("三天上网率最低要多少", "nlu_fallback"), action("action_clarify"),
              bot("近90天的72h上网率须≥85%。", "utter_answer"), slot("topic", "metric_online_72h"),
              user("1688会给商家推疫情商机资讯吗", "out_of_scope"), action("action_answer_programme"),
              bot("第6条:……", "utter_answer"),
              user("表格公式怎么写", "nlu_fallback"), action("action_clarify"),
              bot("这个问题我回答不了。", "utter_out_of_scope")]
    summary = conversation_summary(events)
    assert [q["answered"] for q in summary["questions"]] == [True, True, False]
    assert summary["unanswered"] == ["表格公式怎么写"]
