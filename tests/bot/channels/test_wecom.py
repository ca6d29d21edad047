"""The WeCom channel (bot/channels/wecom.py) over HTTP, without a server or a model: callbacks are
encrypted and signed as WeCom does (tests/wecom.py, without the channel's library); replies go to
a fake WeCom API on 127.0.0.1 (tests/e2e/fake_wecom.py)."""
from __future__ import annotations

import logging
import socket
import time
from types import SimpleNamespace
from typing import Any, Dict, Optional

import pytest
from rasa.core.lock_store import LockError

from bot.channels import wecom as channel
from bot.channels.delivery import MAX_MESSAGE_CHARS, UNAVAILABLE
from bot.channels.guard import AS_TEXT
from bot.channels.linked import SEAL_SECONDS
from bot.channels.wecom import (
    MAX_BODY_BYTES,
    MAX_CLOCK_SKEW_SECONDS,
    MAX_TEXT_BYTES,
    WeComInput,
    conversation_for,
    pieces,
    to_wecom,
)
from bot.nlu.normalizer import INTENT_PREFIX
from core.db import session as db_session
from core.db.models import WeComUser
from core.identity import METADATA_KEY, unseal
from tests.bot.channels.conftest import ADDRESS, REPLY, SECRET, audit_rows
from tests.e2e.fake_wecom import FakeWeCom
from tests.wecom import (
    AES_KEY,
    AGENT_ID,
    APP_SECRET,
    CORP_ID,
    TOKEN,
    callback,
    encrypt,
    envelope,
    query,
    sign,
    text_message,
)

WEBHOOK = "/webhooks/wecom/webhook"
REFUSED = f"{WeComInput.name()}_refused"
# WeCom's own sample of a URL check (its documentation's and every official SDK's test).
SAMPLE = {"token": "QDG6eK", "aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
          "corp_id": "wx5823bf96d3bd56c7", "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
          "timestamp": "1409659589", "nonce": "263014780",
          "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp"
                     "+4RPcs8TgAE7OaBO+FZXvnaqQ==",
          "plain": "1616140317555161061"}
SETTINGS = {"WECOM_CORP_ID": CORP_ID, "WECOM_TOKEN": TOKEN, "WECOM_ENCODING_AES_KEY": AES_KEY,
            "WECOM_SECRET": APP_SECRET, "WECOM_AGENT_ID": AGENT_ID}


@pytest.fixture
def api():
    fake = FakeWeCom()
    yield fake
    fake.close()


@pytest.fixture
async def app(serve, monkeypatch, api):
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WECOM_API_BASE", api.base + "/")
    served = await serve(WeComInput())
    served.api = api
    return served


async def post(app, inner: Optional[str] = None, *, user: str = "zhangsan", content: str = "金牌有几个橱窗?",
               msg_id: Optional[str] = None, params: Optional[Dict[str, str]] = None,
               body: Any = None):
    """A callback: the message `inner` (else a text message of `user`), encrypted and signed;
    `params` or `body` in place of the signed ones."""
    signed_params, signed_body = callback(inner or text_message(user, content, msg_id))
    return await app.client.post(WEBHOOK, params=signed_params if params is None else params,
                                 content=signed_body if body is None else body,
                                 headers={"Content-Type": "text/xml"})


def sent_text(text: str, user: str = "zhangsan") -> Dict[str, Any]:
    return {"touser": user, "msgtype": "text", "agentid": int(AGENT_ID), "text": {"content": text},
            "safe": 0}


def link(user: str, merchant: str) -> None:
    with db_session.shared_factory().begin() as session:
        session.add(WeComUser(user_id=user, merchant_id=merchant))


def one_refusal(reason: str) -> None:
    rows = audit_rows(REFUSED)
    assert len(rows) == 1, rows
    assert rows[0]["reason"] == reason and rows[0]["source"] == ADDRESS and rows[0]["allowed"] is False


def nothing_happened(app) -> None:
    assert app.received.messages == [] and app.api.sent == []


def freeze_clock(monkeypatch, at: float, monotonic: Optional[float] = None) -> SimpleNamespace:
    clock = SimpleNamespace(time=lambda: at, monotonic=lambda: clock.now)
    clock.now = time.monotonic() if monotonic is None else monotonic
    monkeypatch.setattr(channel, "time", clock)
    return clock


# --- configuration ---------------------------------------------------------------------------

async def test_health_says_whether_the_channel_is_configured(app, monkeypatch):
    assert (await app.client.get("/webhooks/wecom/")).json() == {"status": "ok"}
    monkeypatch.delenv("WECOM_SECRET")
    assert (await app.client.get("/webhooks/wecom/")).json() == {"status": "not configured"}


@pytest.mark.parametrize("unset", [*SETTINGS, "ASSISTANT_JWT_SECRET"])
async def test_without_its_settings_the_channel_answers_503(app, monkeypatch, unset):
    monkeypatch.delenv(unset)
    answer = await post(app)
    assert answer.status_code == 503
    nothing_happened(app)


@pytest.mark.parametrize("name, value", [
    ("WECOM_ENCODING_AES_KEY", AES_KEY[:-1]), ("WECOM_ENCODING_AES_KEY", "!" * 43),
    ("WECOM_ENCODING_AES_KEY", AES_KEY + "="), ("WECOM_AGENT_ID", "app-one")],
    ids=["short-key", "not-base64", "padded-key", "agent-not-a-number"])
async def test_unusable_settings_answer_503_not_500(app, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    assert (await post(app)).status_code == 503
    assert (await app.client.get(WEBHOOK, params={**query("x"), "echostr": "x"})).status_code == 503
    nothing_happened(app)


async def test_credentials_yml_comes_before_the_environment(serve, monkeypatch, api):
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WECOM_API_BASE", "http://127.0.0.1:9/not-this-one")
    other_token = "token-from-credentials"
    served = await serve(WeComInput.from_credentials({"token": other_token, "agent_id": 1000009,
                                                      "api_base": api.base}))
    signed_params, body = callback(text_message("lisi", "你好"), token=TOKEN)
    assert (await served.client.post(WEBHOOK, params=signed_params, content=body)).status_code == 401
    signed_params, body = callback(text_message("lisi", "你好", agent_id="1000009"), token=other_token)
    answer = await served.client.post(WEBHOOK, params=signed_params, content=body)
    assert answer.status_code == 200
    assert [(m["touser"], m["agentid"]) for m in api.sent] == [("lisi", 1000009)]


# --- URL verification (GET) --------------------------------------------------------------------

async def test_wecoms_own_url_check_sample_is_answered_with_its_plain_text(serve, monkeypatch):
    monkeypatch.setenv("WECOM_CORP_ID", SAMPLE["corp_id"])
    monkeypatch.setenv("WECOM_TOKEN", SAMPLE["token"])
    monkeypatch.setenv("WECOM_ENCODING_AES_KEY", SAMPLE["aes_key"])
    monkeypatch.setenv("WECOM_SECRET", APP_SECRET)
    monkeypatch.setenv("WECOM_AGENT_ID", AGENT_ID)
    freeze_clock(monkeypatch, int(SAMPLE["timestamp"]) + 2)
    served = await serve(WeComInput())
    answer = await served.client.get(WEBHOOK, params={k: SAMPLE[k] for k in (
        "msg_signature", "timestamp", "nonce", "echostr")})
    assert answer.status_code == 200 and answer.text == SAMPLE["plain"]
    assert answer.headers["content-type"].startswith("text/plain")


async def test_a_url_check_of_our_own_app_is_answered(app):
    echo = encrypt("5927782489442352469")
    answer = await app.client.get(WEBHOOK, params={**query(echo), "echostr": echo})
    assert answer.status_code == 200 and answer.text == "5927782489442352469"


@pytest.mark.parametrize("change, status, reason", [
    (dict(token="another-token"), 401, "bad signature"),
    (dict(timestamp=int(time.time()) - MAX_CLOCK_SKEW_SECONDS - 60), 401, "stale timestamp"),
    (dict(drop="echostr"), 400, "missing echostr"),
    (dict(drop="msg_signature"), 401, "missing msg_signature, timestamp or nonce"),
    (dict(corp_id="ww-another-organisation"), 400, "echostr does not decrypt for this organisation"),
], ids=["wrong-token", "stale", "no-echostr", "no-signature", "another-corp"])
async def test_url_checks_that_are_not_wecoms_are_refused_and_audited(app, change, status, reason):
    echo = encrypt("5927782489442352469", corp_id=change.get("corp_id", CORP_ID))
    params = {**query(echo, token=change.get("token", TOKEN), timestamp=change.get("timestamp")),
              "echostr": echo}
    params.pop(change.get("drop", ""), None)
    answer = await app.client.get(WEBHOOK, params=params)
    assert answer.status_code == status and answer.json() == {"error": reason}
    assert "5927782489442352469" not in answer.text
    one_refusal(reason)


# --- refused callbacks (POST) ------------------------------------------------------------------

def forged(kind: str):
    """(query, body) of a callback that is not WeCom's, or not fresh."""
    encrypted = encrypt(text_message("zhangsan", "我离金牌还差多少?"))
    now = int(time.time())
    params = {
        "wrong-token": lambda: query(encrypted, token="not-the-token"),
        "another-timestamp": lambda: {**query(encrypted, timestamp=now), "timestamp": str(now + 1)},
        "stale": lambda: query(encrypted, timestamp=now - MAX_CLOCK_SKEW_SECONDS - 60),
        "future": lambda: query(encrypted, timestamp=now + MAX_CLOCK_SKEW_SECONDS + 60),
        "no-signature": lambda: {k: v for k, v in query(encrypted).items() if k != "msg_signature"},
        "none": dict,
        "bad-timestamp": lambda: {**query(encrypted), "timestamp": "12ab"},
        "superscript-timestamp": lambda: {**query(encrypted), "timestamp": "\u00b2"},
        "long-timestamp": lambda: {**query(encrypted), "timestamp": "1" * 5000},
    }[kind]()
    return params, envelope(encrypted)


@pytest.mark.parametrize("kind, reason", [
    ("wrong-token", "bad signature"), ("another-timestamp", "bad signature"),
    ("stale", "stale timestamp"), ("future", "stale timestamp"),
    ("no-signature", "missing msg_signature, timestamp or nonce"),
    ("none", "missing msg_signature, timestamp or nonce"),
    ("bad-timestamp", "bad timestamp"), ("superscript-timestamp", "bad timestamp"),
    ("long-timestamp", "bad timestamp"),
])
async def test_unsigned_forged_or_stale_callbacks_get_401_and_an_audit_row(app, kind, reason):
    params, body = forged(kind)
    answer = await post(app, params=params, body=body)
    assert answer.status_code == 401 and answer.json() == {"error": reason}
    nothing_happened(app)
    one_refusal(reason)


def signed_body(encrypted: str, wrap=envelope) -> Dict[str, Any]:
    return {"params": query(encrypted), "body": wrap(encrypted)}


BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
                  '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><xml><Encrypt>&b;</Encrypt></xml>')


@pytest.mark.parametrize("request_, reason", [
    (dict(body="this is not xml"), "body is not WeCom's encrypted XML"),
    (dict(body="<xml><Encrypt>abc</Encrypt>"), "body is not WeCom's encrypted XML"),
    (dict(body='{"Encrypt": "abc"}'), "body is not WeCom's encrypted XML"),
    (dict(body=""), "body is not WeCom's encrypted XML"),
    (dict(body=b"<xml>\xff\xfe</xml>"), "body is not WeCom's encrypted XML"),
    (dict(body="<xml></xml>"), "body is not WeCom's encrypted XML"),
    (dict(body="<xml><ToUserName>x</ToUserName></xml>"), "no Encrypt"),
    (dict(body="<other><Encrypt>abc</Encrypt></other>"), "body is not WeCom's encrypted XML"),
    (dict(body="<xml><Encrypt><a>b</a></Encrypt></xml>"), "no Encrypt"),
    (dict(body=BILLION_LAUGHS), "body is not WeCom's encrypted XML"),
    (signed_body("not base64 at all!"), "message does not decrypt"),
    (signed_body("QUJD"), "message does not decrypt"),
    (signed_body(encrypt("<xml><MsgType>text</MsgType></xml>", corp_id="ww-another-organisation")),
     "message does not decrypt"),
    (signed_body(encrypt("plain words, no XML")), "message does not decrypt"),
    (signed_body(encrypt("<xml><Content>unclosed</xml>")), "message does not decrypt"),
], ids=["text", "unclosed", "json", "empty", "not-utf8", "empty-xml", "no-encrypt", "other-root",
        "encrypt-not-text", "entities", "signed-not-base64", "signed-short-ciphertext",
        "another-corp", "decrypts-to-text", "decrypts-to-broken-xml"])
async def test_bodies_that_are_not_wecoms_encrypted_xml_get_400_and_an_audit_row(app, request_, reason):
    body = request_["body"]
    params = request_.get("params") or query(envelope("x"))
    answer = await app.client.post(WEBHOOK, params=params, content=body)
    assert answer.status_code == 400 and reason in answer.json()["error"]
    nothing_happened(app)
    rows = audit_rows(REFUSED)
    assert len(rows) == 1 and reason in rows[0]["reason"] and rows[0]["source"] == ADDRESS


async def test_an_oversized_body_gets_413_and_an_audit_row(app):
    signed_params, body = callback(text_message("zhangsan", "好"))
    padded = body.replace("</xml>", "<Pad>" + "x" * MAX_BODY_BYTES + "</Pad></xml>")
    answer = await app.client.post(WEBHOOK, params=signed_params, content=padded)
    assert answer.status_code == 413
    nothing_happened(app)
    one_refusal(f"body larger than {MAX_BODY_BYTES} bytes")


async def test_a_replayed_message_is_refused_409_and_audited(app):
    inner = text_message("zhangsan", "金牌有几个橱窗?", msg_id="7000000000000000001")
    first = await post(app, inner)
    assert first.status_code == 200
    # The same message again, even under a fresh signature and nonce.
    again = await post(app, inner)
    assert again.status_code == 409
    assert len(app.received.messages) == 1 and app.api.sent == [sent_text(REPLY)]
    one_refusal("replayed message: 7000000000000000001")


# --- messages the channel takes without answering, and bad messages ------------------------------

@pytest.mark.parametrize("inner", [
    ("<xml><ToUserName><![CDATA[c]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>"
     "<CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[enter_agent]]>"
     "</Event><AgentID>1000002</AgentID></xml>"),
    text_message("zhangsan", "", msg_type="image"),
], ids=["event", "picture"])
async def test_events_and_other_messages_are_taken_and_not_answered(app, inner):
    answer = await post(app, inner)
    assert answer.status_code == 200 and answer.text == ""
    nothing_happened(app)
    assert audit_rows(REFUSED) == []


@pytest.mark.parametrize("inner, status, error", [
    (text_message("", "你好"), 400, "missing FromUserName"),
    (text_message("u" * 129, "你好"), 400, "at most 128 characters"),
    (text_message("zhang\u007fsan", "你好"), 400, "without control characters"),
    (text_message("zhangsan", "你好").replace("<MsgId>", "<Other>").replace("</MsgId>", "</Other>"),
     400, "missing MsgId"),
    (text_message("zhangsan", "你好").replace("<Content><![CDATA[你好]]></Content>", ""),
     400, "'Content' must be a text"),
    (text_message("zhangsan", "好" * (MAX_MESSAGE_CHARS + 1)), 413, "longer than"),
    (text_message("zhangsan", "你好", agent_id="1000003"), 400, "another app"),
], ids=["no-user", "long-user", "control-user", "no-msgid", "no-content", "too-long", "other-app"])
async def test_messages_the_channel_cannot_take_get_4xx(app, inner, status, error):
    answer = await post(app, inner)
    assert answer.status_code == status and error in answer.json()["error"]
    nothing_happened(app)


# --- answers -----------------------------------------------------------------------------------

async def test_an_unlinked_member_gets_programme_answers_through_the_send_api(app):
    answer = await post(app, content="  金牌有几个橱窗?  ")
    # An empty 200: no passive reply; the answer went through the send API.
    assert answer.status_code == 200 and answer.text == ""
    message = app.received.only
    assert (message.text, message.sender_id, message.input_channel) == (
        "金牌有几个橱窗?", conversation_for(SECRET, CORP_ID, "zhangsan"), WeComInput.name())
    # No identity, and no client address: callbacks come from WeCom's servers.
    assert message.metadata == {}
    assert app.api.sent == [sent_text(REPLY)]


async def test_a_linked_member_speaks_as_its_merchant_sealed_for_a_short_while(app):
    link("wangwu", "M7001")
    before = int(time.time())
    assert (await post(app, user="wangwu")).status_code == 200
    message = app.received.only
    identity = unseal(SECRET, message.sender_id, message.metadata, WeComInput.name())
    assert identity is not None and (identity.sub, identity.role) == ("M7001", "merchant")
    assert before + SEAL_SECONDS <= identity.expires <= int(time.time()) + SEAL_SECONDS
    # Another member's conversation cannot use the seal, nor can another channel.
    assert unseal(SECRET, conversation_for(SECRET, CORP_ID, "zhangsan"), message.metadata, "wecom") is None
    assert unseal(SECRET, message.sender_id, message.metadata, "rest") is None
    assert app.api.to("wangwu") == [sent_text(REPLY, "wangwu")]


async def test_an_unlinked_member_never_gets_an_identity_even_if_a_merchant_is_linked(app):
    link("wangwu", "M7001")
    await post(app, user="zhangsan")
    assert METADATA_KEY not in app.received.only.metadata


def test_a_conversation_is_the_members_of_one_organisation():
    assert conversation_for(SECRET, CORP_ID, "wangwu") != conversation_for(SECRET, "ww-other", "wangwu")
    assert conversation_for(SECRET, CORP_ID, "wangwu").startswith("wecom:")
    assert "wangwu" not in conversation_for(SECRET, CORP_ID, "wangwu")


async def test_a_typed_intent_payload_is_text_and_audited_under_the_linked_merchant(app):
    link("wangwu", "M7001")
    typed = '/ask_tier_status{"merchant_id": "T9002"}'
    await post(app, user="wangwu", content=typed)
    assert app.received.only.text == AS_TEXT + typed[len(INTENT_PREFIX):]
    rows = audit_rows(REFUSED)
    assert len(rows) == 1 and (rows[0]["actor"], rows[0]["actor_role"]) == ("M7001", "merchant")


async def test_choices_are_listed_under_the_text(app):
    app.received.replies = [{"text": "需要转人工吗?", "buttons": [
        {"title": "转人工客服", "payload": "/request_human"}, {"title": "不用了", "payload": "/deny"}]}]
    assert (await post(app)).status_code == 200
    assert app.api.sent == [sent_text("需要转人工吗?\n\n- 转人工客服\n- 不用了")]


async def test_a_long_reply_goes_out_in_pieces_wecom_does_not_cut():
    text = "\n".join(["第一段" * 200, "第二段" * 200, "好" * 1500])
    sent = to_wecom({"text": text})
    assert all(len(piece.encode()) <= MAX_TEXT_BYTES for piece in sent)
    assert "".join(sent).replace("\n", "") == text.replace("\n", "")
    assert sent[0] == "第一段" * 200 and sent[1] == "第二段" * 200
    assert pieces("短") == ["短"] and to_wecom({"text": "  "}) == [] and to_wecom({}) == []


# --- the access token ----------------------------------------------------------------------------

async def test_the_access_token_is_fetched_once_and_kept(app):
    for n in range(3):
        assert (await post(app, user=f"user-{n}")).status_code == 200
    assert app.api.tokens_issued == 1 and len(app.api.sent) == 3


async def test_an_expiring_token_is_fetched_anew_before_wecom_refuses_it(app, monkeypatch):
    clock = freeze_clock(monkeypatch, time.time())
    await post(app, user="user-1")
    clock.now += 7200 - 300 - 1
    await post(app, user="user-2")
    assert app.api.tokens_issued == 1
    clock.now += 2
    await post(app, user="user-3")
    assert app.api.tokens_issued == 2 and app.api.refused_sends == 0 and len(app.api.sent) == 3


@pytest.mark.parametrize("refusal", ["expire_tokens", "revoke_tokens"], ids=["42001", "40014"])
async def test_a_token_wecom_refuses_is_fetched_anew_and_the_reply_sent(app, refusal):
    await post(app, user="user-1")
    getattr(app.api, refusal)()
    answer = await post(app, user="user-2")
    assert answer.status_code == 200
    assert app.api.tokens_issued == 2 and app.api.refused_sends == 1
    assert app.api.to("user-2") == [sent_text(REPLY, "user-2")]


async def test_a_token_refused_again_is_not_retried_forever(app):
    app.api.always_expired = True
    answer = await post(app)
    # One fresh token, then the reply counts as not delivered.
    assert answer.status_code == 502 and answer.json() == {"error": "reply not delivered"}
    assert app.api.tokens_issued == 2 and app.api.refused_sends == 2 and app.api.sent == []


async def test_a_wrong_secret_is_reported_without_the_secret(app, monkeypatch, caplog):
    monkeypatch.setenv("WECOM_SECRET", "wrong-secret-value")
    with caplog.at_level(logging.ERROR, logger="bot.channels.wecom"):
        answer = await post(app)
    assert answer.status_code == 502 and answer.json() == {"error": "reply not delivered"}
    assert "40001" in caplog.text and "wrong-secret-value" not in caplog.text
    assert len(app.received.messages) == 1


async def test_an_unreachable_send_api_gets_502_without_the_secret_in_the_log(app, monkeypatch, caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    monkeypatch.setenv("WECOM_API_BASE", f"http://127.0.0.1:{closed_port}")
    with caplog.at_level(logging.ERROR, logger="bot.channels.wecom"):
        answer = await post(app)
    assert answer.status_code == 502 and answer.json() == {"error": "reply not delivered"}
    assert APP_SECRET not in caplog.text and "ClientConnectorError" in caplog.text
    assert len(app.received.messages) == 1


# --- stores down ---------------------------------------------------------------------------------

async def test_an_unreachable_store_gets_503_and_wecoms_retry_is_taken(app):
    app.received.error = LockError("lock store down")
    inner = text_message("zhangsan", "金牌有几个橱窗?", msg_id="7000000000000000002")
    answer = await post(app, inner)
    assert answer.status_code == 503 and answer.json() == {"error": UNAVAILABLE}
    assert app.api.sent == []
    app.received.error = None
    assert (await post(app, inner)).status_code == 200
    assert len(app.received.messages) == 2 and app.api.sent == [sent_text(REPLY)]


async def test_a_database_that_is_down_still_gets_programme_answers(app, monkeypatch):
    link("wangwu", "M7001")
    monkeypatch.setenv("DATABASE_URL", "sqlite:////nonexistent-folder/for/sure/merchants.db")
    answer = await post(app, user="wangwu")
    assert answer.status_code == 200 and app.api.to("wangwu") == [sent_text(REPLY, "wangwu")]
    assert METADATA_KEY not in app.received.only.metadata


def test_the_signature_is_wecoms():
    assert sign(SAMPLE["token"], SAMPLE["timestamp"], SAMPLE["nonce"], SAMPLE["echostr"]) == \
        SAMPLE["msg_signature"]
    assert channel.signature(SAMPLE["token"], SAMPLE["timestamp"], SAMPLE["nonce"], SAMPLE["echostr"]) == \
        SAMPLE["msg_signature"]
