"""The anonymous REST channel (bot/channels/rest.py) over HTTP, without a server or a model."""
from __future__ import annotations

import json

import pytest
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.lock_store import LockError
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError

from bot.channels import limits
from bot.channels.delivery import MAX_MESSAGE_CHARS, RETRY_AFTER_SECONDS, UNAVAILABLE
from bot.channels.guard import AS_TEXT
from bot.channels.rest import MAX_SENDER_CHARS, RESERVED_PREFIXES, PublicRestInput
from bot.nlu.normalizer import INTENT_PREFIX
from core.db import session as db_session
from core.db import tickets
from core.identity import METADATA_KEY
from tests.bot.channels.conftest import ADDRESS, OTHER_ADDRESS, REPLY, audit_rows, paused

WEBHOOK = "/webhooks/rest/webhook"
MESSAGES = "/webhooks/rest/messages"


@pytest.fixture
async def rest(serve):
    return await serve(PublicRestInput())


async def say(served, sender, message="金牌有几个橱窗?", client=None):
    return await (client or served.client).post(WEBHOOK, json={"sender": sender, "message": message})


async def test_health_answers_ok(rest):
    answer = await rest.client.get("/webhooks/rest/")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


async def test_a_message_is_handed_on_with_its_sender_channel_and_client_address(rest):
    answer = await say(rest, "shop-1.a@b:c_d", "金牌有几个橱窗?")
    assert answer.status_code == 200
    assert answer.json() == [{"recipient_id": "shop-1.a@b:c_d", "text": REPLY}]
    message = rest.received.only
    assert (message.text, message.sender_id, message.input_channel) == (
        "金牌有几个橱窗?", "shop-1.a@b:c_d", PublicRestInput.name())
    assert isinstance(message.output_channel, CollectingOutputChannel)
    # Anonymous: the client's address, and never an identity.
    assert message.metadata == {limits.CLIENT_ADDRESS: ADDRESS}
    assert METADATA_KEY not in message.metadata


async def test_a_numeric_sender_is_taken_as_its_text(rest):
    answer = await rest.client.post(WEBHOOK, json={"sender": 42, "message": "你好"})
    assert answer.status_code == 200
    assert rest.received.only.sender_id == "42"


async def test_a_sender_of_the_longest_allowed_length_is_taken(rest):
    sender = "s" * MAX_SENDER_CHARS
    assert (await say(rest, sender)).status_code == 200
    assert rest.received.only.sender_id == sender


@pytest.mark.parametrize("body", [
    {"message": "你好"},  # no sender: all such clients would share one conversation
    {"sender": None, "message": "你好"},
    {"sender": "", "message": "你好"},
    {"sender": "   ", "message": "你好"},
    {"sender": True, "message": "你好"},
    {"sender": ["a"], "message": "你好"},
    {"sender": "s" * (MAX_SENDER_CHARS + 1), "message": "你好"},
    {"sender": "a\u0000b", "message": "你好"},
    {"sender": "a\u202eb", "message": "你好"},  # a direction override
    {"sender": "商家", "message": "你好"},
    {"sender": "-abc", "message": "你好"},
    {"sender": "a b", "message": "你好"},
], ids=["missing", "null", "empty", "blank", "bool", "list", "too-long", "nul", "bidi",
        "non-ascii", "leading-dash", "space"])
async def test_bad_senders_are_refused_400_and_nothing_is_handed_on(rest, body):
    answer = await rest.client.post(WEBHOOK, json=body)
    assert answer.status_code == 400
    assert "'sender'" in answer.json()["error"]
    assert rest.received.messages == []


@pytest.mark.parametrize("sender", [f"{prefix}T9001:abc" for prefix in RESERVED_PREFIXES]
                         + ["Merchant:T9001", "WEBCHAT:x"])
async def test_ids_of_signed_in_channels_are_refused_403_and_audited(rest, sender):
    answer = await say(rest, sender)
    assert answer.status_code == 403
    assert rest.received.messages == []
    rows = audit_rows("rest_refused")
    assert len(rows) == 1
    assert rows[0]["source"] == ADDRESS and rows[0]["allowed"] is False
    assert sender in rows[0]["reason"] and rows[0]["actor"] is None


@pytest.mark.parametrize("content_type, body, error", [
    ("text/plain", json.dumps({"sender": "a", "message": "你好"}), "Content-Type"),
    ("application/x-www-form-urlencoded", "sender=a&message=hi", "Content-Type"),
    (None, json.dumps({"sender": "a", "message": "你好"}), "Content-Type"),
    ("application/json", "{not json", "JSON object"),
    ("application/json", json.dumps([{"sender": "a", "message": "你好"}]), "JSON object"),
    ("application/json", json.dumps("你好"), "JSON object"),
    ("application/json", "", "JSON object"),
], ids=["text-plain", "form", "none", "not-json", "array", "string", "empty"])
async def test_bodies_that_are_not_a_json_object_are_refused_400(rest, content_type, body, error):
    headers = {"Content-Type": content_type} if content_type else {}
    answer = await rest.client.post(WEBHOOK, content=body.encode(), headers=headers)
    assert answer.status_code == 400 and error in answer.json()["error"]
    assert rest.received.messages == []


async def test_json_with_a_charset_is_json(rest):
    answer = await rest.client.post(WEBHOOK, content=json.dumps({"sender": "a", "message": "hi"}),
                                    headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert answer.status_code == 200 and rest.received.only.text == "hi"


@pytest.mark.parametrize("message", [None, 42, ["你好"], {"text": "你好"}])
async def test_a_message_that_is_not_text_is_refused_400(rest, message):
    answer = await rest.client.post(WEBHOOK, json={"sender": "a", "message": message})
    assert answer.status_code == 400 and "'message' must be a text" in answer.json()["error"]
    assert rest.received.messages == []


async def test_a_missing_message_is_refused_400(rest):
    answer = await rest.client.post(WEBHOOK, json={"sender": "a"})
    assert answer.status_code == 400 and rest.received.messages == []


async def test_a_message_over_the_length_cap_is_refused_413(rest):
    assert (await say(rest, "a", "好" * MAX_MESSAGE_CHARS)).status_code == 200
    answer = await say(rest, "a", "好" * (MAX_MESSAGE_CHARS + 1))
    assert answer.status_code == 413 and str(MAX_MESSAGE_CHARS) in answer.json()["error"]
    assert len(rest.received.messages) == 1


async def test_lone_surrogates_reach_the_assistant_as_replacement_characters(rest):
    raw = '{"sender": "a", "message": "\\ud800\\u91d1\\u724c"}'
    answer = await rest.client.post(WEBHOOK, content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 200
    assert rest.received.only.text == "\ufffd金牌"


async def test_a_typed_intent_payload_is_passed_on_as_text_and_audited(rest):
    forged = '/ask_tier_status{"merchant_id": "T9002"}'
    answer = await say(rest, "a", forged)
    assert answer.status_code == 200
    text = rest.received.only.text
    assert not text.startswith(INTENT_PREFIX)
    assert text == AS_TEXT + forged[len(INTENT_PREFIX):]
    rows = audit_rows("rest_refused")
    assert len(rows) == 1 and "intent payload not offered" in rows[0]["reason"]
    assert rows[0]["source"] == ADDRESS and rows[0]["actor"] is None


async def test_the_payload_of_a_button_just_offered_goes_through_unaudited(rest):
    rest.agent.tracker_store.trackers["a"] = DialogueStateTracker.from_events("a", [
        UserUttered("asdf"),
        BotUttered("要转人工吗?", data={"buttons": [{"title": "转人工", "payload": "/request_human"}]})])
    assert (await say(rest, "a", " /request_human ")).status_code == 200
    assert rest.received.only.text == "/request_human"
    assert audit_rows("rest_refused") == []


async def test_over_the_per_conversation_limit_a_message_gets_429(rest, monkeypatch):
    monkeypatch.setenv("ASSISTANT_LIMIT_PER_CONVERSATION", "2/minute")
    assert [(await say(rest, "a")).status_code for _ in range(2)] == [200, 200]
    answer = await say(rest, "a")
    assert answer.status_code == 429
    wait = int(answer.headers["Retry-After"])
    assert 1 <= wait <= 61
    assert answer.json() == {"error": limits.TOO_MANY_HTTP.format(seconds=wait)}
    assert len(rest.received.messages) == 2  # nothing reached the conversation
    # Another conversation from the same address is not held back.
    assert (await say(rest, "b")).status_code == 200


async def test_over_the_per_address_limit_a_message_gets_429(rest, monkeypatch):
    monkeypatch.setenv("ASSISTANT_LIMIT_PER_ADDRESS", "2/minute")
    assert [(await say(rest, s)).status_code for s in ("a", "b", "c")] == [200, 200, 429]
    assert [m.sender_id for m in rest.received.messages] == ["a", "b"]
    # Another client address is not held back.
    answer = await say(rest, "c", client=rest.client_from(OTHER_ADDRESS))
    assert answer.status_code == 200
    assert rest.received.messages[-1].metadata[limits.CLIENT_ADDRESS] == OTHER_ADDRESS


@pytest.mark.parametrize("error", [
    LockError("lock store down"), RedisConnectionError("redis down"),
    OperationalError("SELECT 1", {}, Exception("database is locked"))],
    ids=["lock", "redis", "database"])
async def test_an_unreachable_store_is_answered_503_and_the_next_message_served(rest, error):
    rest.received.error = error
    answer = await say(rest, "a")
    assert answer.status_code == 503
    assert answer.json() == {"error": UNAVAILABLE}
    assert answer.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    rest.received.error = None
    answer = await say(rest, "a")
    assert answer.status_code == 200 and answer.json()[0]["text"] == REPLY


async def test_other_failures_are_not_passed_off_as_unavailable_stores(rest):
    rest.received.error = RuntimeError("a bug")
    answer = await say(rest, "a")
    assert answer.status_code == 500


def _agent_message(sender: str, text: str) -> int:
    with db_session.shared_factory().begin() as session:
        ticket = tickets.open_ticket(session, sender, "rest", None, "requested", None, {})
        tickets.add_event(session, ticket.id, "agent_message", "agent-1", text, True)
        return ticket.id


async def test_while_an_agent_holds_the_conversation_the_merchant_hears_so_and_gets_the_agents_messages(
        rest):
    rest.received.replies = []  # a paused conversation: the assistant says nothing
    rest.agent.tracker_store.trackers["a"] = paused("a", ticket="7")
    number = _agent_message("a", "您好,我是客服小王")
    first = (await say(rest, "a", "还在吗")).json()
    assert first == [{"recipient_id": "a", "text": "waiting for an agent (ticket 7)"},
                     {"recipient_id": "a", "text": "您好,我是客服小王",
                      "custom": {"from": "agent", "ticket": number}}]
    assert rest.received.only.text == "还在吗"
    # Each agent message is passed on once.
    second = (await say(rest, "a", "还在吗")).json()
    assert second == [{"recipient_id": "a", "text": "waiting for an agent (ticket 7)"}]


async def test_agent_messages_can_be_polled_once(rest):
    number = _agent_message("a", "您好,我是客服小王")
    answer = await rest.client.get(MESSAGES, params={"sender": "a"})
    assert answer.status_code == 200
    assert answer.json() == [{"recipient_id": "a", "text": "您好,我是客服小王",
                              "custom": {"from": "agent", "ticket": number}}]
    assert (await rest.client.get(MESSAGES, params={"sender": "a"})).json() == []
    # Another sender's outbox is its own.
    _agent_message("b", "给b的消息")
    assert (await rest.client.get(MESSAGES, params={"sender": "a"})).json() == []


async def test_polling_needs_a_valid_anonymous_sender(rest):
    assert (await rest.client.get(MESSAGES)).status_code == 400
    assert (await rest.client.get(MESSAGES, params={"sender": "a b"})).status_code == 400
    _agent_message("merchant:T9001:abc", "private")
    answer = await rest.client.get(MESSAGES, params={"sender": "merchant:T9001:abc"})
    assert answer.status_code == 403 and "private" not in answer.text
    assert len(audit_rows("rest_refused")) == 1
