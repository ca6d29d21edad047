"""The Rasa server's side of a handoff (bot/agent_relay.py), without a model or a server.

Each test gets a real Rasa `Agent`: the project's domain.yml and reply generator (bot/nlg.py, as
endpoints.yml names it), an in-memory tracker store and lock store, and Rasa's own
MessageProcessor built without loading a model (so `get_tracker` is Rasa's; `handle_message`
needs the model, and `delegate` is tested only up to where it would hand the question over).
Tickets live in a migrated database of the test's own (SQLite, and PostgreSQL when reachable)
that $DATABASE_URL and core/db/session.py's shared factory point at. The same flows over HTTP
with both servers are in tests/e2e/test_handoff_http.py and tests/reliability/.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from rasa.core.agent import Agent
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.processor import MessageProcessor
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import agent_relay
from bot.agent_relay import AGENT_KEY, DELEGATED_KEY, TICKET_SLOT
from core import contract
from core.db import session as db_session
from core.db import tickets
from core.db.models import HandoffTicket
from core.identity import Identity, conversation_id, seal
from tests.database import db_url  # noqa: F401 - fixture

PROJECT = Path(__file__).resolve().parents[2]
DOMAIN = Domain.load(PROJECT / "domain.yml")
SECRET = "agent-relay-tests-secret"
MERCHANT = Identity("M1003", "merchant", 4_102_444_800)  # the token expires in 2100
SIGNED_IN = conversation_id(SECRET, MERCHANT)
CONTEXT = {"ids": {"benefit": ["showcase"], "tier": ["gold"]}, "measure_numbers": []}

ANSWER = "金牌店铺每个月有3个橱窗。"
# Domain responses as a Taiwan merchant reads them (bot/nlg.py converts the simplified ones).
APOLOGY_TW = "抱歉,系統暫時出了點問題,這個問題我現在沒能回答。您可以稍後再問一次,或者轉人工客服處理。"
HUMAN_BUTTON_TW = [{"title": "轉人工客服", "payload": "/request_human"}]
RETURNED_TW = "人工客服已結束接待,接下來由我繼續為您服務。剛才的問題可以接著問我。"


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def signing_secret(monkeypatch):
    monkeypatch.setenv("ASSISTANT_JWT_SECRET", SECRET)


@pytest.fixture
def agent(monkeypatch) -> Agent:
    """A Rasa Agent as bot/serve.py builds it, except that its processor loads no model."""
    metadata = SimpleNamespace(model_id="no-model", assistant_id="agent-relay-tests", domain=DOMAIN)
    monkeypatch.setattr(MessageProcessor, "_load_model",
                        staticmethod(lambda path: (str(path), metadata, None)))
    made = Agent(domain=DOMAIN,
                 generator=EndpointConfig(type="bot.nlg.ScriptAwareNaturalLanguageGenerator"),
                 tracker_store=InMemoryTrackerStore(DOMAIN), lock_store=InMemoryLockStore())
    made.load_model("no-model")
    # Rasa's lock store retries a held lock once a second; the tests need not wait that long.
    lock = made.lock_store.lock
    monkeypatch.setattr(made.lock_store, "lock",
                        lambda conversation: lock(conversation, wait_time_in_seconds=0.02))
    return made


@pytest.fixture
def database(db_url, monkeypatch) -> Iterator["sessionmaker[Session]"]:  # noqa: F811 - the fixture
    """$DATABASE_URL at the test's own database, and no factory cached for another one."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    cached: Dict[str, Any] = {}
    monkeypatch.setattr(db_session, "_shared", cached)
    yield db_session.shared_factory()
    for made in cached.values():
        made.kw["bind"].dispose()


@pytest.fixture
def no_database(monkeypatch, tmp_path) -> None:
    """$DATABASE_URL at a SQLite file that cannot be created: every database call fails."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'merchants.db'}")
    monkeypatch.setattr(db_session, "_shared", {})


# --- helpers ----------------------------------------------------------------------------------

def said(text: Optional[str], intent: str = "ask_programme", original: Optional[str] = None,
         written: Optional[str] = "zh-Hans", neutral: bool = False, channel: str = "rest",
         metadata: Optional[Dict[str, Any]] = None, at: Optional[float] = None) -> UserUttered:
    """A merchant's message as the NLU left it: the text normalised to simplified, the
    original and its script in the parse data (bot/nlu/normalizer.py)."""
    parse: Dict[str, Any] = {"intent": {"name": intent, "confidence": 0.95}, "entities": [],
                             contract.PARSE_TEXT_ORIGINAL: original or text,
                             contract.PARSE_SCRIPT: written}
    if neutral:
        parse[contract.PARSE_SCRIPT_NEUTRAL] = True
    return UserUttered(text, intent=parse["intent"], parse_data=parse, input_channel=channel,
                       metadata=metadata, timestamp=at)


def reply(text: Optional[str], response: str = "utter_answer", at: Optional[float] = None,
          **data: Any) -> BotUttered:
    return BotUttered(text, data=data, metadata={"utter_action": response}, timestamp=at)


def listen(at: Optional[float] = None) -> ActionExecuted:
    return ActionExecuted(ACTION_LISTEN_NAME, timestamp=at)


def session_start() -> List[Event]:
    return [ActionExecuted("action_session_start"), SessionStarted(), listen()]


def answered_in_taiwan() -> List[Event]:
    """A Taiwan merchant's question, answered; the topic and its context set."""
    return [*session_start(), said("金牌橱窗有几个", original="金牌櫥窗有幾個", written="zh-TW"),
            ActionExecuted("action_answer_programme"), reply(ANSWER),
            SlotSet("topic", "showcase"), SlotSet("programme_context", CONTEXT), listen()]


def handed_off(ticket: int) -> List[Event]:
    """The Taiwan merchant asked for a human (actions/handoff.py), then wrote to the agent."""
    return [*answered_in_taiwan(),
            said("转人工", "request_human", original="轉人工", written="zh-TW"),
            ActionExecuted("action_handoff"),
            reply(f"已為您轉接人工客服,工單號:{ticket}。", "utter_handoff_created"),
            SlotSet(TICKET_SLOT, str(ticket)), ConversationPaused(), listen(),
            said("我的店铺是M1003", original="我的店鋪是M1003", written="zh-TW")]


async def keep(agent: Agent, sender: str, events: List[Event]) -> None:
    await agent.tracker_store.save(DialogueStateTracker.from_events(sender, events, slots=DOMAIN.slots))


async def stored(agent: Agent, sender: str) -> DialogueStateTracker:
    tracker = await agent.tracker_store.retrieve_full_tracker(sender)
    assert tracker is not None, f"no conversation {sender}"
    return tracker


def open_claimed(factory: "sessionmaker[Session]", conversation: str, written: Optional[str],
                 holder: str = "agent-1", channel: str = "rest") -> HandoffTicket:
    with factory.begin() as session:
        ticket = tickets.open_ticket(session, conversation, channel, None, "requested", written, {})
        return tickets.claim(session, ticket.id, holder)


def history(factory: "sessionmaker[Session]", ticket_id: int) -> List[Tuple[Any, ...]]:
    """(kind, actor, text, for the merchant, delivered) of each of the ticket's events."""
    with factory() as session:
        return [(e.kind, e.actor, e.text, e.for_merchant, e.delivered_at is not None)
                for e in tickets.events(session, ticket_id)]


def ticket_row(factory: "sessionmaker[Session]", ticket_id: int) -> HandoffTicket:
    with factory() as session:
        return tickets.get_ticket(session, ticket_id)


def from_outbox(conversation: str, kind: str, ticket: int, text: str) -> Dict[str, Any]:
    return {"recipient_id": conversation, "text": text, "custom": {"from": kind, "ticket": ticket}}


def own_metadata(event: Event) -> Dict[str, Any]:
    """An event's metadata without the model and assistant ids Rasa's tracker stamps on it."""
    return {k: v for k, v in (event.metadata or {}).items() if k not in ("model_id", "assistant_id")}


def agent_lines(tracker: DialogueStateTracker) -> List[str]:
    return [e.text for e in tracker.events
            if isinstance(e, BotUttered) and (e.metadata or {}).get(AGENT_KEY)]


# --- the merchant's script --------------------------------------------------------------------

@pytest.mark.parametrize("text, target, expected", [
    # Taiwan: traditional characters and Taiwan wording (軟體, 網路, 設定).
    ("请检查一下您的软件和网络设置", "zh-TW", "請檢查一下您的軟體和網路設定"),
    ("请检查一下您的软件和网络设置", "zh-HK", "請檢查一下您的軟件和網絡設置"),
    # An agent writing Taiwan traditional, to a simplified, an unknown and a Hong Kong merchant.
    ("請檢查一下您的軟體和網路設定", "zh-Hans", "请检查一下您的软件和网络设置"),
    ("請檢查一下您的軟體和網路設定", None, "请检查一下您的软件和网络设置"),
    ("請檢查一下您的軟體和網路設定", "zh-HK", "請檢查一下您的軟件和網絡設置"),
    # Invisible characters dropped, runs of blanks collapsed; no Chinese: unchanged.
    ("请\u200b稍等  一下\t我查查", "zh-TW", "請稍等 一下 我查查"),
    ("OK, V2", "zh-TW", "OK, V2"),
])
def test_an_agents_text_is_converted_to_the_merchants_script(text, target, expected):
    assert agent_relay.to_merchant_script(text, target) == expected


def test_an_agents_line_breaks_reach_the_merchant():
    lines = ["请按以下步骤操作:", "1. 登录卖家后台", "2. 打开金银牌页面"]
    converted = agent_relay.to_merchant_script("\n".join(lines), "zh-TW")
    assert converted.split("\n") == [agent_relay.to_merchant_script(line, "zh-TW") for line in lines]


# --- reading a conversation -------------------------------------------------------------------

def test_the_transcript_shows_who_said_what_in_order_in_the_merchants_own_words():
    events = [
        ActionExecuted("action_session_start", timestamp=1), SessionStarted(timestamp=2), listen(3),
        said("金牌橱窗有几个", original="金牌櫥窗有幾個", written="zh-TW", at=10),
        ActionExecuted("action_answer_programme", timestamp=11), reply(ANSWER, at=12),
        SlotSet("topic", "showcase", timestamp=13), listen(14),
        UserUttered("你好", intent={"name": "greet"}, timestamp=15),  # no original kept: the text
        UserUttered(None, intent={"name": "greet"}, timestamp=16),   # an intent without text
        said("转人工", "request_human", original="轉人工", written="zh-TW", at=20),
        reply("已為您轉接人工客服,工單號:5。", "utter_handoff_created", at=21),
        SlotSet(TICKET_SLOT, "5", timestamp=22), ConversationPaused(timestamp=23), listen(24),
        said("我的店铺是M1003", original="我的店鋪是M1003", written="zh-TW", at=30),
        BotUttered("您好,請問是哪個店鋪?", metadata={AGENT_KEY: "agent-7", "ticket": 5}, timestamp=31),
        BotUttered(None, data={"custom": {"card": 1}}, timestamp=32),  # nothing to read
        ConversationResumed(timestamp=40), listen(41),
        said("好评率要求多少", original="好評率要求多少", written="zh-TW",
             metadata={DELEGATED_KEY: "agent-7"}, at=42),
        reply("金牌要求好评率≥92%。", at=43), ConversationPaused(timestamp=44),
    ]
    tracker = DialogueStateTracker.from_events("rest-tw", events, slots=DOMAIN.slots)
    assert agent_relay.transcript(tracker) == [
        {"at": 10, "from": "merchant", "text": "金牌櫥窗有幾個", DELEGATED_KEY: None},
        {"at": 12, "from": "assistant", "agent": None, "text": ANSWER},
        {"at": 15, "from": "merchant", "text": "你好", DELEGATED_KEY: None},
        {"at": 20, "from": "merchant", "text": "轉人工", DELEGATED_KEY: None},
        {"at": 21, "from": "assistant", "agent": None, "text": "已為您轉接人工客服,工單號:5。"},
        {"at": 23, "from": "system", "event": "paused"},
        {"at": 30, "from": "merchant", "text": "我的店鋪是M1003", DELEGATED_KEY: None},
        {"at": 31, "from": "agent", "agent": "agent-7", "text": "您好,請問是哪個店鋪?"},
        {"at": 40, "from": "system", "event": "resumed"},
        # The question an agent handed to the assistant: the agent's, and who delegated it.
        {"at": 42, "from": "agent", "text": "好評率要求多少", DELEGATED_KEY: "agent-7"},
        {"at": 43, "from": "assistant", "agent": None, "text": "金牌要求好评率≥92%。"},
        {"at": 44, "from": "system", "event": "paused"},
    ]


def test_merchant_messages_leave_out_delegated_questions_and_messages_without_text():
    events = [said("第一个问题", at=1), said("代问的问题", metadata={DELEGATED_KEY: "agent-7"}, at=2),
              UserUttered(None, intent={"name": "greet"}, timestamp=3), said("第二个问题", at=4)]
    tracker = DialogueStateTracker.from_events("c", events, slots=DOMAIN.slots)
    assert [e.text for e in agent_relay.merchant_messages(tracker)] == ["第一个问题", "第二个问题"]


async def test_reading_a_conversation_spans_its_sessions_and_an_unknown_one_is_empty(agent):
    await keep(agent, "rest-1", [*session_start(), said("第一次来问"), reply("第一次的回答"), listen(),
                                 *session_start(), said("第二次来问")])
    latest_session = await agent.tracker_store.retrieve("rest-1")
    assert [e.text for e in agent_relay.merchant_messages(latest_session)] == ["第二次来问"]
    whole = await agent_relay.read_conversation(agent, "rest-1")
    assert [line["text"] for line in agent_relay.transcript(whole)] == ["第一次来问", "第一次的回答",
                                                                          "第二次来问"]
    unknown = await agent_relay.read_conversation(agent, "nobody")
    assert (unknown.sender_id, list(unknown.events)) == ("nobody", [])
    assert TICKET_SLOT in unknown.slots and unknown.get_slot(TICKET_SLOT) is None
    assert await agent.tracker_store.retrieve("nobody") is None  # reading stored nothing


@pytest.mark.parametrize("latest_action, added", [
    # Paused by action_handoff, which ends with action_listen: only resumed.
    (ACTION_LISTEN_NAME, [ConversationResumed]),
    # Paused after another action: resumed as if the assistant had just listened.
    ("action_handoff", [ConversationResumed, ActionExecuted]),
])
def test_resuming_leaves_the_assistant_listening(latest_action, added):
    events = [said("转人工", "request_human"), ActionExecuted(latest_action), ConversationPaused()]
    tracker = DialogueStateTracker.from_events("c", events, slots=DOMAIN.slots)
    agent_relay.resume(tracker)
    assert [type(e) for e in list(tracker.events)[len(events):]] == added
    assert not tracker.is_paused() and tracker.latest_action_name == ACTION_LISTEN_NAME


# --- the database -----------------------------------------------------------------------------

async def test_in_transaction_commits_or_rolls_back_off_the_event_loop(database):
    threads = []

    def open_one(session: Session, conversation: str) -> int:
        threads.append(threading.get_ident())
        return tickets.open_ticket(session, conversation, "rest", None, "requested", None, {}).id

    def open_then_fail(session: Session) -> None:
        open_one(session, "rest-lost")
        raise RuntimeError("after the insert")

    kept = await agent_relay.in_transaction(open_one, "rest-kept")
    with pytest.raises(RuntimeError):
        await agent_relay.in_transaction(open_then_fail)
    with database() as session:
        rows = [(t.id, t.conversation_id) for t in session.execute(select(HandoffTicket)).scalars()]
    assert rows == [(kept, "rest-kept")]
    assert len(threads) == 2 and threading.get_ident() not in threads


# --- agents' messages and the outbox ----------------------------------------------------------

async def test_an_agents_message_goes_into_the_conversation_and_the_outbox_in_the_merchants_script(
        agent, database):
    ticket = open_claimed(database, "rest-tw", "zh-TW")
    await keep(agent, "rest-tw", handed_off(ticket.id))
    sent = await agent_relay.post_agent_message(agent, ticket, "agent-1", "您好,请问是哪个店铺?")
    assert sent == "您好,請問是哪個店鋪?"
    tracker = await stored(agent, "rest-tw")
    last = tracker.events[-1]
    assert isinstance(last, BotUttered)
    assert (last.text, own_metadata(last)) == (sent, {AGENT_KEY: "agent-1", "ticket": ticket.id})
    assert tracker.is_paused() and tracker.get_slot(TICKET_SLOT) == str(ticket.id)  # still the agent's
    assert agent_relay.transcript(tracker)[-1] == {"at": last.timestamp, "from": "agent",
                                                   "agent": "agent-1", "text": sent}
    assert history(database, ticket.id)[-1] == ("agent_message", "agent-1", sent, True, False)
    # Passed on once, then marked delivered.
    assert await agent_relay.pending_for_merchant("rest-tw") == [
        from_outbox("rest-tw", "agent", ticket.id, sent)]
    assert await agent_relay.pending_for_merchant("rest-tw") == []
    assert history(database, ticket.id)[-1] == ("agent_message", "agent-1", sent, True, True)


async def test_an_agents_message_follows_the_script_the_merchant_writes_in_after_the_ticket_opened(
        agent, database):
    ticket = open_claimed(database, "rest-menu", None)  # ActionHandoff found no Chinese message
    await keep(agent, "rest-menu", [
        *session_start(), said("/request_human", "request_human", written=None, neutral=True),
        ActionExecuted("action_handoff"),
        reply(f"已为您转接人工客服,工单号:{ticket.id}。", "utter_handoff_created"),
        SlotSet(TICKET_SLOT, str(ticket.id)), ConversationPaused(), listen(),
        said("我的金牌怎么没了", "ask_tier_status", original="我的金牌怎麼沒了", written="zh-TW")])
    waiting = await agent.nlg.generate("utter_handoff_waiting", await stored(agent, "rest-menu"), "rest",
                                       ticket=str(ticket.id))
    assert waiting["text"] == f"您的訊息已轉給人工客服(工單號:{ticket.id}),客服會盡快答覆。"
    sent = await agent_relay.post_agent_message(agent, ticket, "agent-1", "您好,请问是哪个店铺?")
    assert sent == "您好,請問是哪個店鋪?"


@pytest.mark.parametrize("case", ["handed back meanwhile", "held by another agent"])
async def test_post_agent_message_refuses_a_ticket_the_agent_does_not_hold(agent, database, case):
    ticket = open_claimed(database, "rest-tw", "zh-TW")
    await keep(agent, "rest-tw", handed_off(ticket.id))
    poster = "agent-2"
    if case == "handed back meanwhile":
        poster = "agent-1"
        await agent_relay.hand_back(agent, ticket.id, "agent-1")
        await agent_relay.pending_for_merchant("rest-tw")  # the hand-back notice, passed on
    before = len((await stored(agent, "rest-tw")).events)
    try:
        await agent_relay.post_agent_message(agent, ticket, poster, "还有其他问题吗?")
        refused = False
    except tickets.TicketConflict:
        refused = True
    assert refused, f"a message from {poster} to ticket {ticket.id} was accepted ({case})"
    assert len((await stored(agent, "rest-tw")).events) == before
    assert await agent_relay.pending_for_merchant("rest-tw") == []


async def test_an_agents_message_waits_for_the_conversations_lock(agent, database):
    ticket = open_claimed(database, "rest-tw", "zh-TW")
    await keep(agent, "rest-tw", handed_off(ticket.id))
    async with agent.lock_store.lock("rest-tw"):
        posting = asyncio.create_task(
            agent_relay.post_agent_message(agent, ticket, "agent-1", "请稍等"))
        await asyncio.sleep(0.2)
        # A merchant's turn holds the conversation: nothing written yet, anywhere.
        assert not posting.done()
        assert agent_lines(await stored(agent, "rest-tw")) == []
        assert [kind for kind, *_ in history(database, ticket.id)] == ["created", "claimed"]
    assert await asyncio.wait_for(posting, 5) == "請稍等"
    assert agent_lines(await stored(agent, "rest-tw")) == ["請稍等"]


async def test_the_outbox_passes_each_message_on_once_in_order_for_its_conversation_only(database):
    earlier = open_claimed(database, "rest-a", "zh-Hans")
    with database.begin() as session:
        tickets.add_event(session, earlier.id, "agent_message", "agent-1", "第一条", True)
        tickets.add_event(session, earlier.id, "delegated", "agent-1", "好评率要求多少")  # not for them
        tickets.add_event(session, earlier.id, "assistant_answer", None, "金牌要求好评率≥92%。", True)
        tickets.close(session, earlier.id, "agent-1")
        tickets.add_event(session, earlier.id, "handed_back", "agent-1", "人工客服已结束接待。", True)
    other = open_claimed(database, "rest-b", "zh-Hans")
    with database.begin() as session:
        tickets.add_event(session, other.id, "agent_message", "agent-2", "给另一位商家", True)
    later = open_claimed(database, "rest-a", "zh-Hans")  # a new ticket of the same conversation
    assert later.id != earlier.id
    with database.begin() as session:
        tickets.add_event(session, later.id, "agent_message", "agent-3", "第二张工单", True)

    assert await agent_relay.pending_for_merchant("rest-a") == [
        from_outbox("rest-a", "agent", earlier.id, "第一条"),
        from_outbox("rest-a", "assistant", earlier.id, "金牌要求好评率≥92%。"),
        from_outbox("rest-a", "assistant", earlier.id, "人工客服已结束接待。"),
        from_outbox("rest-a", "agent", later.id, "第二张工单")]
    assert await agent_relay.pending_for_merchant("rest-a") == []
    delivered = {kind: done for kind, _, _, for_merchant, done in history(database, earlier.id)
                 if for_merchant}
    assert delivered == {"agent_message": True, "assistant_answer": True, "handed_back": True}
    assert [row[-1] for row in history(database, earlier.id) if not row[3]] == [False] * 3
    assert history(database, other.id)[-1][-1] is False  # the other merchant's is still waiting
    assert await agent_relay.pending_for_merchant("rest-b") == [
        from_outbox("rest-b", "agent", other.id, "给另一位商家")]


async def test_the_outbox_is_empty_when_the_database_is_down(no_database, caplog):
    with caplog.at_level(logging.ERROR, logger=agent_relay.__name__):
        assert await agent_relay.pending_for_merchant("rest-a") == []
    assert "handoff outbox not read" in caplog.text


# --- handing back -----------------------------------------------------------------------------

async def test_handing_back_resumes_the_conversation_with_its_context(agent, database):
    ticket = open_claimed(database, "rest-tw", "zh-TW")
    await keep(agent, "rest-tw", handed_off(ticket.id))
    sent = await agent_relay.post_agent_message(agent, ticket, "agent-1", "已经帮您处理好了")
    before = len((await stored(agent, "rest-tw")).events)

    result = await agent_relay.hand_back(agent, ticket.id, "agent-1")
    assert result == {"ticket": ticket.id, "status": tickets.CLOSED, "notice": RETURNED_TW}
    row = ticket_row(database, ticket.id)
    assert (row.status, row.claimed_by) == (tickets.CLOSED, "agent-1") and row.closed_at is not None

    tracker = await stored(agent, "rest-tw")
    added = list(tracker.events)[before:]
    assert [type(e) for e in added] == [ConversationResumed, SlotSet, BotUttered]
    assert (added[1].key, added[1].value) == (TICKET_SLOT, None)
    assert (added[2].text, own_metadata(added[2])) == (RETURNED_TW,
                                                       {"utter_action": "utter_handoff_returned"})
    assert not tracker.is_paused() and tracker.latest_action_name == ACTION_LISTEN_NAME
    # The context the assistant needs for a follow-up, and everything the merchant wrote, kept.
    assert (tracker.get_slot("topic"), tracker.get_slot("programme_context")) == ("showcase", CONTEXT)
    assert [e.text for e in agent_relay.merchant_messages(tracker)] == [
        "金牌橱窗有几个", "转人工", "我的店铺是M1003"]

    assert history(database, ticket.id)[-1] == ("handed_back", "agent-1", RETURNED_TW, True, False)
    # The agent's last message first, then the notice: each once.
    assert await agent_relay.pending_for_merchant("rest-tw") == [
        from_outbox("rest-tw", "agent", ticket.id, sent),
        from_outbox("rest-tw", "assistant", ticket.id, RETURNED_TW)]
    assert await agent_relay.pending_for_merchant("rest-tw") == []


async def test_only_the_holder_hands_back_and_a_refusal_changes_nothing(agent, database):
    ticket = open_claimed(database, "rest-tw", "zh-TW")
    await keep(agent, "rest-tw", handed_off(ticket.id))
    before = list((await stored(agent, "rest-tw")).events)
    with pytest.raises(tickets.TicketConflict):
        await agent_relay.hand_back(agent, ticket.id, "agent-2")
    with pytest.raises(tickets.TicketNotFound):
        await agent_relay.hand_back(agent, ticket.id + 1000, "agent-1")
    tracker = await stored(agent, "rest-tw")
    assert list(tracker.events) == before
    assert tracker.is_paused() and tracker.get_slot(TICKET_SLOT) == str(ticket.id)
    row = ticket_row(database, ticket.id)
    assert (row.status, row.claimed_by, row.closed_at) == (tickets.CLAIMED, "agent-1", None)
    assert await agent_relay.pending_for_merchant("rest-tw") == []


# --- a turn without a reply -------------------------------------------------------------------

async def test_a_turn_without_a_reply_gets_an_apology_with_a_human_button_in_the_merchants_script(agent):
    await keep(agent, "rest-tw", [*answered_in_taiwan(),
                                  said("第20条保证金怎么退", original="第20條保證金怎麼退", written="zh-TW")])
    replies = await agent_relay.answer_silence(agent, "rest-tw", "rest")
    assert replies == [{"recipient_id": "rest-tw", "text": APOLOGY_TW, "buttons": HUMAN_BUTTON_TW}]
    tracker = await stored(agent, "rest-tw")
    last = tracker.events[-1]
    assert isinstance(last, BotUttered)
    assert (last.text, last.data, own_metadata(last)) == (APOLOGY_TW, {"buttons": HUMAN_BUTTON_TW},
                                                     {"utter_action": "utter_service_failed"})
    assert not tracker.is_paused() and tracker.get_slot(TICKET_SLOT) is None
    # Answered now: asking again for the same turn apologises no more.
    assert await agent_relay.answer_silence(agent, "rest-tw", "rest") == []


@pytest.mark.parametrize("case", ["answered", "with the agent"])
async def test_no_apology_when_the_turn_was_answered_or_an_agent_holds_the_conversation(agent, case):
    question = said("第20条保证金怎么退")
    if case == "answered":
        events = [*session_start(), question, ActionExecuted("action_answer_programme"),
                  reply("第20条不存在。")]
    else:
        events = [*session_start(), said("转人工", "request_human"), ActionExecuted("action_handoff"),
                  SlotSet(TICKET_SLOT, "3"), ConversationPaused(), listen(), question]
    await keep(agent, "rest-1", events)
    before = list((await stored(agent, "rest-1")).events)
    assert await agent_relay.answer_silence(agent, "rest-1", "rest") == []
    assert list((await stored(agent, "rest-1")).events) == before


async def test_a_reply_saved_while_waiting_for_the_lock_means_no_apology(agent):
    await keep(agent, "rest-1", [*session_start(), said("第20条保证金怎么退")])
    async with agent.lock_store.lock("rest-1"):
        silence = asyncio.create_task(agent_relay.answer_silence(agent, "rest-1", "rest"))
        await asyncio.sleep(0.2)
        assert not silence.done()
        # The turn holding the lock answers after all.
        tracker = await agent.tracker_store.retrieve("rest-1")
        tracker.update(reply("第20条不存在。"))
        await agent.tracker_store.save(tracker)
    assert await asyncio.wait_for(silence, 5) == []
    assert [e.text for e in (await stored(agent, "rest-1")).events if isinstance(e, BotUttered)] == [
        "第20条不存在。"]


@pytest.mark.parametrize("channel, merchant", [
    ("merchant", "M1003"),  # signed in: the seal of the merchant channel names them
    ("rest", None),         # the same seal replayed through the anonymous channel names nobody
])
async def test_asking_for_a_human_without_the_action_server_opens_the_ticket_here(
        agent, database, channel, merchant):
    request = said("转人工", "request_human", channel=channel, metadata=seal(SECRET, SIGNED_IN, MERCHANT))
    await keep(agent, SIGNED_IN, [*session_start(),
                                  said("金牌橱窗有几个", original="金牌櫥窗有幾個", channel=channel),
                                  ActionExecuted("action_answer_programme"), reply(ANSWER),
                                  SlotSet("topic", "showcase"), listen(), request])
    [answer] = await agent_relay.answer_silence(agent, SIGNED_IN, channel)

    with database() as session:
        [ticket] = session.execute(select(HandoffTicket)).scalars().all()
    assert answer == {"recipient_id": SIGNED_IN,
                      "text": f"已为您转接人工客服,工单号:{ticket.id}。客服接入后会在这里回复您;"
                              "在这期间您发的消息都会转给客服,我先不作答。"}
    assert (ticket.conversation_id, ticket.channel, ticket.merchant_id, ticket.reason, ticket.status,
            ticket.script) == (SIGNED_IN, channel, merchant, "assistant_unavailable", tickets.OPEN, "zh-Hans")
    assert tickets.summary_of(ticket) == {
        "questions": [{"text": "金牌櫥窗有幾個", "answered": True, "reply": ANSWER}],
        "unanswered": [], "tier_status": None, "reason": "assistant_unavailable", "topic": "showcase"}
    assert history(database, ticket.id) == [("created", None, "assistant_unavailable", False, False)]

    tracker = await stored(agent, SIGNED_IN)
    assert tracker.is_paused() and tracker.get_slot(TICKET_SLOT) == str(ticket.id)
    assert tracker.latest_action_name == ACTION_LISTEN_NAME  # what the merchant writes now is kept
    notice = [e for e in tracker.events if isinstance(e, BotUttered)][-1]
    assert (notice.text, own_metadata(notice)) == (answer["text"], {"utter_action": "utter_handoff_created"})


async def test_asking_for_a_human_with_the_database_down_too_gets_the_apology(agent, no_database, caplog):
    await keep(agent, "rest-1", [*session_start(), said("转人工", "request_human")])
    with caplog.at_level(logging.ERROR, logger=agent_relay.__name__):
        [answer] = await agent_relay.answer_silence(agent, "rest-1", "rest")
    assert answer["text"] == DOMAIN.responses["utter_service_failed"][0]["text"]
    assert answer["buttons"] == [{"title": "转人工客服", "payload": "/request_human"}]
    assert "handoff ticket not opened by the Rasa server" in caplog.text
    tracker = await stored(agent, "rest-1")
    assert not tracker.is_paused() and tracker.get_slot(TICKET_SLOT) is None


@pytest.mark.parametrize("text, written", [("/request_human", None), ("人工客服", "zh-Hans")])
async def test_a_ticket_opened_after_the_apology_keeps_the_merchants_script(agent, database, text, written):
    await keep(agent, "rest-tw", [
        *answered_in_taiwan(), said("第20条保证金怎么退", original="第20條保證金怎麼退", written="zh-TW"),
        reply(APOLOGY_TW, "utter_service_failed", buttons=HUMAN_BUTTON_TW),
        said(text, "request_human", written=written, neutral=True)])
    [answer] = await agent_relay.answer_silence(agent, "rest-tw", "rest")
    assert answer["text"].startswith("已為您轉接人工客服")  # the notice follows the merchant's script
    with database() as session:
        [ticket] = session.execute(select(HandoffTicket)).scalars().all()
    assert ticket.script == "zh-TW"


# --- what a merchant's request returns --------------------------------------------------------

async def test_the_assistants_replies_come_first_then_waiting_messages(agent, database):
    ticket = open_claimed(database, "rest-tw", "zh-TW")
    await keep(agent, "rest-tw", handed_off(ticket.id))
    sent = await agent_relay.post_agent_message(agent, ticket, "agent-1", "请稍等")
    before = list((await stored(agent, "rest-tw")).events)
    produced = [{"recipient_id": "rest-tw", "text": ANSWER}]
    replies = await agent_relay.replies_for_merchant(agent, "rest-tw", produced, "rest")
    assert replies == [*produced, from_outbox("rest-tw", "agent", ticket.id, sent)]
    assert list((await stored(agent, "rest-tw")).events) == before
    assert await agent_relay.replies_for_merchant(agent, "rest-tw", produced, "rest") == produced


async def test_the_outbox_is_read_only_when_the_tracker_store_says_it_may_hold_messages(
        agent, database, monkeypatch):
    """bot/tracker_store.py knows which conversations show no handoff (tested there); a message
    left in the outbox is read at the next turn that may hold one, not lost."""
    ticket = open_claimed(database, "rest-tw", "zh-TW")
    await keep(agent, "rest-tw", handed_off(ticket.id))
    sent = await agent_relay.post_agent_message(agent, ticket, "agent-1", "请稍等")
    produced = [{"recipient_id": "rest-tw", "text": ANSWER}]
    store = getattr(agent.tracker_store, "_tracker_store", agent.tracker_store)
    monkeypatch.setattr(store, "may_hold_agent_messages", lambda sender: False, raising=False)
    assert await agent_relay.replies_for_merchant(agent, "rest-tw", produced, "rest") == produced
    monkeypatch.setattr(store, "may_hold_agent_messages", lambda sender: sender == "rest-tw",
                        raising=False)
    marked: list = []
    monkeypatch.setattr(store, "outbox_read", marked.append, raising=False)
    assert await agent_relay.replies_for_merchant(agent, "rest-tw", produced, "rest") == \
        [*produced, from_outbox("rest-tw", "agent", ticket.id, sent)]
    assert marked == ["rest-tw"], "the store hears that the outbox was read"


async def test_an_outbox_that_could_not_be_read_is_not_marked_read(agent, no_database, monkeypatch, caplog):
    store = getattr(agent.tracker_store, "_tracker_store", agent.tracker_store)
    marked: list = []
    monkeypatch.setattr(store, "may_hold_agent_messages", lambda sender: True, raising=False)
    monkeypatch.setattr(store, "outbox_read", marked.append, raising=False)
    produced = [{"recipient_id": "rest-tw", "text": ANSWER}]
    with caplog.at_level(logging.ERROR):
        assert await agent_relay.replies_for_merchant(agent, "rest-tw", produced, "rest") == produced
    assert marked == [] and "handoff outbox not read" in caplog.text


async def test_while_an_agent_holds_the_conversation_the_merchant_hears_it_reached_them(agent, database):
    ticket = open_claimed(database, "rest-tw", "zh-TW")
    await keep(agent, "rest-tw", handed_off(ticket.id))
    sent = await agent_relay.post_agent_message(agent, ticket, "agent-1", "您好,请问是哪个店铺?")
    before = list((await stored(agent, "rest-tw")).events)
    replies = await agent_relay.replies_for_merchant(agent, "rest-tw", [], "rest")
    assert replies == [
        {"recipient_id": "rest-tw", "text": f"您的訊息已轉給人工客服(工單號:{ticket.id}),客服會盡快答覆。"},
        from_outbox("rest-tw", "agent", ticket.id, sent)]
    # The assistant says nothing in the conversation itself, and the outbox is empty now.
    assert list((await stored(agent, "rest-tw")).events) == before
    assert await agent_relay.pending_for_merchant("rest-tw") == []


async def test_a_silent_turn_gets_the_apology_then_waiting_messages(agent, database):
    earlier = open_claimed(database, "rest-tw", "zh-TW")
    with database.begin() as session:
        tickets.close(session, earlier.id, "agent-1")
        tickets.add_event(session, earlier.id, "handed_back", "agent-1", RETURNED_TW, True)
    await keep(agent, "rest-tw", [*answered_in_taiwan(),
                                  said("第20条保证金怎么退", original="第20條保證金怎麼退", written="zh-TW")])
    replies = await agent_relay.replies_for_merchant(agent, "rest-tw", [], "rest")
    assert replies == [{"recipient_id": "rest-tw", "text": APOLOGY_TW, "buttons": HUMAN_BUTTON_TW},
                       from_outbox("rest-tw", "assistant", earlier.id, RETURNED_TW)]


async def test_an_unknown_conversation_gets_nothing_and_stores_nothing(agent, database):
    assert await agent_relay.replies_for_merchant(agent, "nobody", [], "rest") == []
    assert await agent.tracker_store.retrieve("nobody") is None


# --- delegating -------------------------------------------------------------------------------

async def test_delegating_without_a_question_or_a_merchant_message_is_refused_untouched(agent):
    # Only the agent's own earlier delegated question: not the merchant's latest message.
    await keep(agent, "rest-1", [*session_start(), SlotSet(TICKET_SLOT, "9"), ConversationPaused(), listen(),
                                 said("好评率要求多少", metadata={DELEGATED_KEY: "agent-1"})])
    before = list((await stored(agent, "rest-1")).events)
    ticket = HandoffTicket(id=9, conversation_id="rest-1", channel="rest", script="zh-Hans")
    with pytest.raises(ValueError, match="no question"):
        await agent_relay.delegate(agent, ticket, "agent-1", None)
    tracker = await stored(agent, "rest-1")
    assert list(tracker.events) == before and tracker.is_paused()
