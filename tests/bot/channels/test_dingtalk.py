"""The DingTalk robot channel (bot/channels/dingtalk.py) over HTTP, without a server or a model;
replies go to a session webhook served in the test (aiohttp on 127.0.0.1)."""
from __future__ import annotations

import socket
import time
import uuid
from typing import Any, Dict, List, Optional

import pytest
from aiohttp import web
from rasa.core.lock_store import LockError

from bot.channels.delivery import MAX_MESSAGE_CHARS, UNAVAILABLE
from bot.channels.dingtalk import (
    MAX_CLOCK_SKEW_MS,
    DingTalkInput,
    conversation_for,
    signature,
    to_dingtalk,
)
from bot.channels.guard import AS_TEXT
from bot.channels.linked import SEAL_SECONDS
from bot.nlu.normalizer import INTENT_PREFIX
from core.db import session as db_session
from core.db.models import DingTalkUser
from core.identity import METADATA_KEY, unseal
from tests.bot.channels.conftest import ADDRESS, REPLY, SECRET, audit_rows

APP_SECRET = "SEC-dingtalk-app-secret-for-tests"
WEBHOOK = "/webhooks/dingtalk/webhook"
REFUSED = f"{DingTalkInput.name()}_refused"


class SessionWebhook:
    """DingTalk's session webhook: records what the channel posts."""

    def __init__(self) -> None:
        self.posted: List[Dict[str, Any]] = []
        self.url = ""

    async def receive(self, request: web.Request) -> web.Response:
        self.posted.append(await request.json())
        return web.json_response({"errcode": 0})


@pytest.fixture
async def robot(serve, monkeypatch):
    monkeypatch.setenv("DINGTALK_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("DINGTALK_WEBHOOK_HOSTS", "127.0.0.1")
    hook = SessionWebhook()
    app = web.Application()
    app.router.add_post("/robot/send", hook.receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    hook.url = f"http://127.0.0.1:{port}/robot/send?session=abc"
    served = await serve(DingTalkInput())
    served.webhook = hook
    yield served
    await runner.cleanup()


def signed_headers(timestamp: Optional[int] = None, app_secret: str = APP_SECRET) -> Dict[str, str]:
    stamp = str(int(time.time() * 1000) if timestamp is None else timestamp)
    return {"timestamp": stamp, "sign": signature(app_secret, stamp)}


def callback(robot, content: Any = "金牌有几个橱窗?", staff: Any = "staff-1", **changes: Any) -> Dict:
    body = {"msgtype": "text", "text": {"content": content}, "senderStaffId": staff,
            "sessionWebhook": robot.webhook.url, "conversationId": "cid-1",
            "msgId": uuid.uuid4().hex}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def post(robot, body: Dict, headers: Optional[Dict[str, str]] = None):
    return await robot.client.post(WEBHOOK, json=body,
                                   headers=signed_headers() if headers is None else headers)


def link(staff: str, merchant: str) -> None:
    with db_session.shared_factory().begin() as session:
        session.add(DingTalkUser(staff_id=staff, merchant_id=merchant))


async def test_health_says_whether_the_channel_is_configured(robot, monkeypatch):
    assert (await robot.client.get("/webhooks/dingtalk/")).json() == {"status": "ok"}
    monkeypatch.delenv("DINGTALK_APP_SECRET")
    assert (await robot.client.get("/webhooks/dingtalk/")).json() == {"status": "not configured"}


@pytest.mark.parametrize("unset", ["DINGTALK_APP_SECRET", "ASSISTANT_JWT_SECRET"])
async def test_without_its_secrets_the_channel_answers_503(robot, monkeypatch, unset):
    monkeypatch.delenv(unset)
    answer = await post(robot, callback(robot))
    assert answer.status_code == 503
    assert robot.received.messages == [] and robot.webhook.posted == []


async def test_the_app_secret_of_the_credentials_is_used(serve, monkeypatch):
    monkeypatch.delenv("DINGTALK_APP_SECRET", raising=False)
    served = await serve(DingTalkInput.from_credentials({"app_secret": "from-credentials"}))
    answer = await served.client.post(WEBHOOK, json={"msgtype": "text"},
                                      headers=signed_headers(app_secret=APP_SECRET))
    assert answer.status_code == 401
    answer = await served.client.post(WEBHOOK, json={"msgtype": "text"},
                                      headers=signed_headers(app_secret="from-credentials"))
    assert answer.status_code == 400  # past the signature: the body is what is wrong


@pytest.mark.parametrize("headers, reason", [
    ({}, "missing timestamp or sign header"),
    ({"timestamp": str(int(time.time() * 1000))}, "missing timestamp or sign header"),
    ({"timestamp": "12ab", "sign": "x"}, "bad timestamp"),
    (signed_headers(app_secret="another-app-secret"), "bad signature"),
    (signed_headers(int(time.time() * 1000) - MAX_CLOCK_SKEW_MS - 60_000), "stale timestamp"),
], ids=["none", "no-sign", "bad-timestamp", "wrong-secret", "stale"])
async def test_unsigned_forged_or_stale_callbacks_get_401_and_an_audit_row(robot, headers, reason):
    answer = await post(robot, callback(robot), headers)
    assert answer.status_code == 401 and answer.json() == {"error": reason}
    assert robot.received.messages == [] and robot.webhook.posted == []
    rows = audit_rows(REFUSED)
    assert len(rows) == 1 and rows[0]["reason"] == reason and rows[0]["source"] == ADDRESS


async def test_a_signed_callback_must_still_be_json(robot):
    answer = await robot.client.post(WEBHOOK, content=b'{"msgtype": "text"}', headers={
        **signed_headers(), "Content-Type": "text/plain"})
    assert answer.status_code == 400 and "Content-Type" in answer.json()["error"]


@pytest.mark.parametrize("changes, error", [
    ({"msgtype": "picture"}, "only text messages"),
    ({"text": "金牌有几个橱窗?"}, "only text messages"),
    ({"text": {"content": 7}}, "only text messages"),
    ({"senderStaffId": None}, "missing senderStaffId"),
    ({"senderStaffId": "  "}, "missing senderStaffId"),
    ({"senderStaffId": 12345}, "'senderStaffId' must be a text"),
    ({"senderStaffId": "s" * 129}, "at most 128 characters"),
    ({"senderStaffId": "staff\u0000x"}, "without control characters"),
    ({"sessionWebhook": "https://attacker.example.com/robot/send"}, "allowed host"),
    ({"sessionWebhook": None}, "allowed host"),
], ids=["picture", "text-not-object", "content-not-text", "no-staff", "blank-staff",
        "numeric-staff", "long-staff", "nul-staff", "foreign-webhook", "no-webhook"])
async def test_callbacks_the_channel_cannot_take_get_400(robot, changes, error):
    answer = await post(robot, callback(robot, **changes))
    assert answer.status_code == 400 and error in answer.json()["error"]
    assert robot.received.messages == [] and robot.webhook.posted == []


async def test_an_over_long_message_gets_413(robot):
    answer = await post(robot, callback(robot, "好" * (MAX_MESSAGE_CHARS + 1)))
    assert answer.status_code == 413 and robot.received.messages == []


async def test_an_unlinked_account_gets_programme_answers_through_the_session_webhook(robot):
    answer = await post(robot, callback(robot, "  金牌有几个橱窗?  "))
    assert answer.status_code == 200 and answer.json() == {"delivered": 1}
    message = robot.received.only
    assert (message.text, message.sender_id, message.input_channel) == (
        "金牌有几个橱窗?", conversation_for(SECRET, "staff-1"), DingTalkInput.name())
    # No identity, and no client address: callbacks come from DingTalk's servers.
    assert message.metadata == {"dingtalk_conversation": "cid-1"}
    assert robot.webhook.posted == [to_dingtalk({"text": REPLY})]


async def test_a_sender_id_stands_in_for_a_missing_staff_id(robot):
    answer = await post(robot, callback(robot, staff=None, senderId="$:LWCP_v1:$abc"))
    assert answer.status_code == 200
    assert robot.received.only.sender_id == conversation_for(SECRET, "$:LWCP_v1:$abc")


async def test_choices_are_posted_as_markdown(robot):
    robot.received.replies = [{"text": "需要转人工吗?", "buttons": [
        {"title": "转人工客服", "payload": "/request_human"}]}]
    assert (await post(robot, callback(robot))).json() == {"delivered": 1}
    assert robot.webhook.posted == [{"msgtype": "markdown", "markdown": {
        "title": "需要转人工吗?", "text": "需要转人工吗?\n\n- 转人工客服"}}]


async def test_a_linked_account_speaks_as_its_merchant_sealed_for_a_short_while(robot):
    link("staff-7", "M7001")
    before = int(time.time())
    assert (await post(robot, callback(robot, staff="staff-7"))).status_code == 200
    message = robot.received.only
    identity = unseal(SECRET, message.sender_id, message.metadata, DingTalkInput.name())
    assert identity is not None and (identity.sub, identity.role) == ("M7001", "merchant")
    assert before + SEAL_SECONDS <= identity.expires <= int(time.time()) + SEAL_SECONDS
    assert message.metadata["dingtalk_conversation"] == "cid-1"
    # Another account's conversation cannot use the seal.
    assert unseal(SECRET, conversation_for(SECRET, "staff-1"), message.metadata, "dingtalk") is None


async def test_an_unlinked_account_never_gets_an_identity_even_if_a_merchant_is_linked(robot):
    link("staff-7", "M7001")
    await post(robot, callback(robot, staff="staff-1"))
    assert METADATA_KEY not in robot.received.only.metadata


async def test_a_typed_intent_payload_is_text_and_audited_under_the_linked_merchant(robot):
    link("staff-7", "M7001")
    forged = '/ask_tier_status{"merchant_id": "T9002"}'
    await post(robot, callback(robot, forged, staff="staff-7"))
    assert robot.received.only.text == AS_TEXT + forged[len(INTENT_PREFIX):]
    rows = audit_rows(REFUSED)
    assert len(rows) == 1 and (rows[0]["actor"], rows[0]["actor_role"]) == ("M7001", "merchant")


async def test_a_replayed_callback_is_dropped_and_audited(robot):
    body = callback(robot, msgId="msg-1")
    assert (await post(robot, body)).json() == {"delivered": 1}
    again = await post(robot, body, signed_headers())
    assert again.status_code == 200 and again.json() == {"delivered": 0, "duplicate": True}
    assert len(robot.received.messages) == 1 and len(robot.webhook.posted) == 1
    rows = audit_rows(REFUSED)
    assert len(rows) == 1 and rows[0]["reason"] == "replayed message: msg-1"


async def test_an_unreachable_store_gets_503_and_dingtalks_retry_is_taken(robot):
    robot.received.error = LockError("lock store down")
    body = callback(robot, msgId="msg-2")
    answer = await post(robot, body)
    assert answer.status_code == 503 and answer.json() == {"error": UNAVAILABLE}
    assert robot.webhook.posted == []
    robot.received.error = None
    assert (await post(robot, body)).json() == {"delivered": 1}
    assert len(robot.received.messages) == 2


async def test_an_unreachable_session_webhook_gets_502(robot):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    answer = await post(robot, callback(robot, sessionWebhook=f"http://127.0.0.1:{closed_port}/robot/send"))
    assert answer.status_code == 502 and answer.json() == {"error": "reply not delivered"}
    assert len(robot.received.messages) == 1


async def test_a_database_that_is_down_still_gets_programme_answers(robot, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite:////nonexistent-folder/for/sure/merchants.db")
    answer = await post(robot, callback(robot, staff="staff-7"))
    assert answer.status_code == 200 and answer.json() == {"delivered": 1}
    assert METADATA_KEY not in robot.received.only.metadata



@pytest.mark.parametrize("stamp", [b"\xb2", b"1" * 5000], ids=["superscript", "too-many-digits"])
async def test_a_timestamp_that_is_no_number_gets_401(robot, stamp):
    answer = await robot.client.post(WEBHOOK, json=callback(robot),
                                     headers=[(b"timestamp", stamp), (b"sign", b"x")])
    assert answer.status_code == 401
    assert len(audit_rows(REFUSED)) == 1
