"""Identity edges on real servers: a token whose subject differs from a merchant id only in
letter case reads nothing of that merchant; ticket numbers no database column holds are "no such
ticket" on every agent desk route, audited; a replayed DingTalk callback is dropped and audited;
the web chat page never echoes a token sent in its query (tokens belong in the fragment).

Covered elsewhere in this suite: log injection through a REST message
(test_flood.py::test_a_message_cannot_forge_a_log_line) and a text/plain body refused by the
REST channel (test_bad_input.py::test_rest, kind "JSON sent as text/plain ...").
"""
from __future__ import annotations

import http.client as httpclient
import json
import time
import uuid
from typing import Any, Dict, List

import pytest

from bot.channels.dingtalk import conversation_for, signature
from tests.e2e.fake_dingtalk import FakeDingTalk
from tests.reliability.conftest import (
    DINGTALK_SECRET,
    JWT_SECRET,
    PRIVATE,
    audit_since,
    http,
    last_audit_id,
    query,
    say_signed,
    token,
)

pytestmark = pytest.mark.e2e

MERCHANT = "/webhooks/merchant/webhook"
DINGTALK = "/webhooks/dingtalk/webhook"
DESK = "/webhooks/agent/tickets"
OWN_LEVEL = "我现在是什么等级?"


# --- the database, as the servers write it ---------------------------------------------------

def _audit_until(database_url: str, after: int, wanted, seconds: float = 3.0) -> List[Dict[str, Any]]:
    """The rows since `after`, once `wanted(rows)` holds (or after `seconds`)."""
    rows = audit_since(database_url, after)
    deadline = time.monotonic() + seconds
    while not wanted(rows) and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = audit_since(database_url, after)
    return rows


# --- 1. a token for "r7001" is not R7001's ---------------------------------------------------

def test_a_token_for_the_merchant_id_in_another_letter_case_reads_nothing(reliable):
    port, url = reliable.rasa_port, reliable.database_url
    # The same question with R7001's own token shows R7001's data: the question reads it.
    assert any(s in say_signed(port, token("R7001"), OWN_LEVEL) for s in PRIVATE["R7001"])

    before = last_audit_id(url)
    reply = say_signed(port, token("r7001"), OWN_LEVEL)
    assert reply.strip(), "no reply"
    assert not [s for s in PRIVATE["R7001"] if s in reply], reply
    rows = _audit_until(url, before, lambda rs: any(r["action"] == "read_tier_status" for r in rs))
    reads = [r for r in rows if r["action"] == "read_tier_status"]
    assert reads, f"the lookup was not audited: {rows}"
    # Audited under the subject exactly as issued, never as an allowed read of R7001.
    assert all(r["actor"] == "r7001" for r in reads), reads
    assert not [r for r in rows if r["allowed"] and r["subject_merchant"] == "R7001"], rows
    # Allowed here means only "looked up, nothing found": no data was read.
    assert all(r["reason"] == "no such merchant or no metrics" for r in reads if r["allowed"]), reads


# --- 2. ticket numbers no column holds --------------------------------------------------------

HUGE = "99999999999999999999"
DESK_ROUTES = [("GET", ""), ("POST", "/claim"), ("POST", "/messages"), ("POST", "/handback"),
               ("POST", "/delegate")]


@pytest.mark.parametrize("method,route", DESK_ROUTES, ids=[f"{m} {r or '/'}" for m, r in DESK_ROUTES])
def test_an_oversized_ticket_number_is_no_such_ticket_and_audited(reliable, method, route):
    port, url = reliable.rasa_port, reliable.database_url
    agent = f"agent-huge-{uuid.uuid4().hex[:8]}"
    path = f"{DESK}/{HUGE}{route}"
    before = last_audit_id(url)
    status, raw, parsed = http(port, method, path, {"text": "您好"} if method == "POST" else None,
                               {"Authorization": f"Bearer {token(agent, role='agent')}"})
    assert (status, (parsed or {}).get("error")) == (404, "no such ticket"), (status, raw[:300])
    rows = _audit_until(url, before, lambda rs: any(r["actor"] == agent for r in rs))
    mine = [r for r in rows if r["actor"] == agent]
    assert [(r["actor_role"], r["action"], r["allowed"], r["source"]) for r in mine] == [
        ("agent", "agent_desk", False, "127.0.0.1")], rows
    assert f"{method} {path}" in mine[0]["reason"] and "no such ticket" in mine[0]["reason"], mine


# --- 4. a replayed DingTalk callback ----------------------------------------------------------

@pytest.fixture(scope="module")
def fake_dingtalk():
    fake = FakeDingTalk()
    yield fake
    fake.server.shutdown()


def _user_turns(tracker_db: str, sender: str) -> int:
    return query(f"sqlite:///{tracker_db}",
                  "SELECT COUNT(*) AS n FROM events WHERE sender_id = :s AND type_name = 'user'",
                  s=sender)[0]["n"]


def test_a_replayed_dingtalk_callback_is_dropped_and_audited(reliable, fake_dingtalk):
    port, url = reliable.rasa_port, reliable.database_url
    staff, session, message_id = "staff-r7001", f"replay-{uuid.uuid4().hex[:8]}", f"msg-{uuid.uuid4().hex}"
    body = json.dumps({
        "msgtype": "text", "text": {"content": OWN_LEVEL}, "msgId": message_id,
        "senderStaffId": staff, "senderNick": "张三", "conversationId": "cid-replay",
        "conversationType": "1", "sessionWebhook": fake_dingtalk.webhook(session),
        "sessionWebhookExpiredTime": int(time.time() * 1000) + 3_600_000}, ensure_ascii=False)
    ts = str(int(time.time() * 1000))
    headers = {"timestamp": ts, "sign": signature(DINGTALK_SECRET, ts)}
    tracker_db = str(reliable.state / "trackers.db")
    conversation = conversation_for(JWT_SECRET, staff)
    turns_before = _user_turns(tracker_db, conversation)

    status, raw, first = http(port, "POST", DINGTALK, body, headers)
    assert status == 200 and first["delivered"] >= 1, raw
    time.sleep(0.3)  # the replies are posted before the response; let the fake's log settle
    posted = len(fake_dingtalk._posted(session))
    assert posted == first["delivered"]
    assert any(s in fake_dingtalk.texts(session) for s in PRIVATE["R7001"])  # the linked account's data
    assert _user_turns(tracker_db, conversation) == turns_before + 1

    before = last_audit_id(url)
    status, raw, again = http(port, "POST", DINGTALK, body, headers)  # the very same callback
    assert (status, again) == (200, {"delivered": 0, "duplicate": True}), raw
    time.sleep(0.5)
    assert len(fake_dingtalk._posted(session)) == posted, fake_dingtalk.posted(session)
    assert _user_turns(tracker_db, conversation) == turns_before + 1, "the replay was processed"
    rows = _audit_until(url, before, lambda rs: any(r["action"] == "dingtalk_refused" for r in rs))
    replays = [r for r in rows if r["action"] == "dingtalk_refused" and not r["allowed"]
               and (r["reason"] or "").startswith("replayed message")]
    assert len(replays) == 1 and message_id[:64] in replays[0]["reason"], rows
    assert replays[0]["source"] == "127.0.0.1", replays
    assert not [r for r in rows if r["allowed"]], f"the replay read data: {rows}"


# --- 5. the chat page and a token in its query ------------------------------------------------

def _get(port: int, path: str):
    """One GET, redirects not followed: (status, Location, body)."""
    conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer.getheader("Location"), answer.read().decode("utf-8", "replace")
    finally:
        conn.close()


@pytest.mark.parametrize("page", ["/webhooks/webchat", "/webhooks/webchat/"])
def test_the_chat_page_never_echoes_a_token_sent_in_itsquery(reliable, page):
    bearer = token("R7001")
    status, location, body = _get(reliable.rasa_port, f"{page}?token={bearer}")
    signature_part = bearer.rsplit(".", 1)[1]
    if page.endswith("/"):
        assert status == 200 and "<html" in body.lower(), (status, body[:300])
        assert location is None
    else:
        # To the page's own address, the query dropped (the fragment stays in the browser).
        assert (status, location) == (301, "/webhooks/webchat/"), (status, location)
    for seen in (location or "", body):
        assert bearer not in seen and signature_part not in seen, seen[:300]

