"""The agent desk API (bot/channels/agent_desk.py) over HTTP, without a server or a model: tickets
in a SQLite database of the test's own, conversations in a fake tracker store."""
from __future__ import annotations

import datetime as dt
from typing import Dict, List, Optional

import pytest
from rasa.shared.core.events import BotUttered, UserUttered

from bot.agent_relay import AGENT_KEY, DELEGATED_KEY, TICKET_SLOT
from bot.channels.agent_desk import MAX_TICKET_NUMBER, PAGE_SIZE, AgentDeskInput
from bot.channels.delivery import MAX_MESSAGE_CHARS
from bot.channels.guard import AS_TEXT
from bot.nlu.normalizer import INTENT_PREFIX
from core import script
from core.db import session as db_session
from core.db import tickets
from core.identity import unseal_delegation
from tests.bot.channels.conftest import ADDRESS, SECRET, audit_rows, paused, token

DESK = "/webhooks/agent"
REFUSED = f"{AgentDeskInput.name()}_refused"


@pytest.fixture
async def desk(serve):
    return await serve(AgentDeskInput())


def bearer(sub: str = "agent-1", role: str = "agent", **kwargs) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token(sub, role, **kwargs)}"}


def open_ticket(conversation: str, merchant: Optional[str] = None, channel: str = "rest",
                written: Optional[str] = None, status: str = tickets.OPEN) -> int:
    with db_session.shared_factory().begin() as session:
        ticket = tickets.open_ticket(session, conversation, channel, merchant, "requested", written,
                                     {"topic": "tier_status"})
        if status != tickets.OPEN:
            tickets.claim(session, ticket.id, "agent-0")
        if status == tickets.CLOSED:
            tickets.close(session, ticket.id, "agent-0")
        return ticket.id


def outbox(conversation: str) -> List[str]:
    with db_session.shared_factory().begin() as session:
        return [m.text for m in tickets.take_outgoing(session, conversation)]


async def test_requests_without_a_valid_token_get_401_and_an_audit_row(desk):
    for headers in ({}, bearer(ttl=dt.timedelta(seconds=-1)), {"Authorization": "Bearer x.y.z"}):
        answer = await desk.client.get(f"{DESK}/tickets", headers=headers)
        assert answer.status_code == 401, headers
    rows = audit_rows(REFUSED)
    assert [r["reason"].split(":")[0] for r in rows] == ["missing bearer token", "token expired",
                                                         "invalid token"]
    assert {r["source"] for r in rows} == {ADDRESS}


@pytest.mark.parametrize("method, path", [("GET", "/tickets"), ("GET", "/tickets/1"),
                                          ("POST", "/tickets/1/claim")])
async def test_a_merchant_token_gets_403_and_an_audit_row(desk, method, path):
    number = open_ticket("merchant:T9001:abc", "T9001")
    assert number == 1
    answer = await desk.client.request(method, f"{DESK}{path}", headers=bearer("T9001", "merchant"))
    assert answer.status_code == 403 and "tickets" not in answer.json()
    rows = audit_rows("agent_desk")
    assert len(rows) == 1
    assert (rows[0]["actor"], rows[0]["actor_role"], rows[0]["allowed"], rows[0]["source"]) == (
        "T9001", "merchant", False, ADDRESS)
    assert rows[0]["reason"] == f"{method} {DESK}{path}: not an agent"
    # Nothing happened to the ticket.
    with db_session.shared_factory().begin() as session:
        assert tickets.get_ticket(session, number).status == tickets.OPEN


async def test_the_list_pages_through_open_tickets_signed_in_merchants_first(desk):
    anonymous = [open_ticket(f"anon-{i}") for i in range(3)]
    signed_in = open_ticket("merchant:T9001:abc", "T9001")
    claimed = open_ticket("anon-claimed", status=tickets.CLAIMED)
    open_ticket("anon-closed", status=tickets.CLOSED)
    expected = [signed_in, *anonymous, claimed]
    seen, offset, pages = [], 0, 0
    while offset is not None and pages < 10:
        answer = await desk.client.get(f"{DESK}/tickets", params={"limit": 2, "offset": offset},
                                       headers=bearer())
        assert answer.status_code == 200
        page = answer.json()
        assert page["total"] == len(expected) and len(page["tickets"]) <= 2
        seen += page["tickets"]
        offset, pages = page["next_offset"], pages + 1
    assert [t["id"] for t in seen] == expected and pages == 3
    first = seen[0]
    assert (first["status"], first["merchant_id"], first["identity"], first["conversation_id"]) == (
        tickets.OPEN, "T9001", "signed_in", "merchant:T9001:abc")
    assert seen[1]["identity"] == "anonymous" and seen[-1]["status"] == tickets.CLAIMED
    assert first["created_at"].endswith("Z") and first["claimed_at"] is None


async def test_the_list_by_status(desk):
    open_ticket("a")
    closed = open_ticket("b", status=tickets.CLOSED)
    answer = await desk.client.get(f"{DESK}/tickets", params={"status": "closed"}, headers=bearer())
    assert [t["id"] for t in answer.json()["tickets"]] == [closed]
    answer = await desk.client.get(f"{DESK}/tickets", params={"status": "all"}, headers=bearer())
    assert answer.json()["total"] == 2 and answer.json()["next_offset"] is None
    answer = await desk.client.get(f"{DESK}/tickets", params={"offset": 5}, headers=bearer())
    assert answer.json() == {"tickets": [], "total": 1, "next_offset": None}


@pytest.mark.parametrize("params", [
    {"status": "pending"}, {"status": "open,deleted"}, {"limit": 0}, {"limit": PAGE_SIZE + 1},
    {"limit": "ten"}, {"limit": "-1"}, {"limit": "\uff11"}, {"offset": -1},
    {"offset": MAX_TICKET_NUMBER + 1}, {"offset": "1e3"}])
async def test_bad_list_parameters_get_400(desk, params):
    answer = await desk.client.get(f"{DESK}/tickets", params=params, headers=bearer())
    assert answer.status_code == 400 and "error" in answer.json()


async def test_a_full_page_is_the_default(desk):
    for i in range(PAGE_SIZE + 1):
        open_ticket(f"anon-{i}")
    page = (await desk.client.get(f"{DESK}/tickets", headers=bearer())).json()
    assert len(page["tickets"]) == PAGE_SIZE and page["next_offset"] == PAGE_SIZE
    assert page["total"] == PAGE_SIZE + 1


@pytest.mark.parametrize("number", [0, -1, MAX_TICKET_NUMBER + 1, 10**30])
async def test_ticket_numbers_no_ticket_can_have_get_404_and_are_audited(desk, number):
    for path in (f"/tickets/{number}", f"/tickets/{number}/claim"):
        method = "GET" if path.endswith(str(number)) else "POST"
        answer = await desk.client.request(method, f"{DESK}{path}", headers=bearer())
        assert answer.status_code == 404 and answer.json() == {"error": "no such ticket"}
    rows = audit_rows("agent_desk")
    assert len(rows) == 2 and all(r["reason"].endswith("no such ticket") for r in rows)
    assert {(r["actor"], r["allowed"]) for r in rows} == {("agent-1", False)}


async def test_an_unknown_ticket_gets_404_and_the_attempt_is_audited(desk):
    answer = await desk.client.get(f"{DESK}/tickets/41", headers=bearer())
    assert answer.status_code == 404
    assert [(r["actor"], r["allowed"], r["reason"]) for r in audit_rows("read_ticket")] == [
        ("agent-1", False, "no ticket 41")]
    for action in ("claim", "messages", "delegate", "handback"):
        answer = await desk.client.post(f"{DESK}/tickets/41/{action}", json={"text": "你好"},
                                        headers=bearer())
        assert answer.status_code == 404, action


async def test_reading_a_ticket_shows_its_history_and_transcript_and_is_audited(desk):
    conversation = "merchant:T9001:abc"
    number = open_ticket(conversation, "T9001")
    desk.agent.tracker_store.trackers[conversation] = paused(conversation)
    desk.agent.tracker_store.trackers[conversation].update(UserUttered("我要转人工"))
    answer = await desk.client.get(f"{DESK}/tickets/{number}", headers=bearer())
    assert answer.status_code == 200
    shown = answer.json()
    assert shown["ticket"]["id"] == number and shown["summary"] == {"topic": "tier_status"}
    assert [(h["kind"], h["text"]) for h in shown["history"]] == [("created", "requested")]
    assert [line.get("text") or line.get("event") for line in shown["transcript"]] == ["paused", "我要转人工"]
    rows = audit_rows("read_ticket")
    assert [(r["actor"], r["subject"], r["allowed"], r["source"]) for r in rows] == [
        ("agent-1", "T9001", True, ADDRESS)]


async def test_a_ticket_is_claimed_once(desk):
    number = open_ticket("anon-1")
    answer = await desk.client.post(f"{DESK}/tickets/{number}/claim", headers=bearer("agent-1"))
    assert answer.status_code == 200
    assert (answer.json()["ticket"]["status"], answer.json()["ticket"]["claimed_by"]) == (
        tickets.CLAIMED, "agent-1")
    # Claiming it again is harmless; another agent cannot take it.
    assert (await desk.client.post(f"{DESK}/tickets/{number}/claim", headers=bearer("agent-1"))
            ).status_code == 200
    answer = await desk.client.post(f"{DESK}/tickets/{number}/claim", headers=bearer("agent-2"))
    assert answer.status_code == 409 and "agent-1" in answer.json()["error"]


async def test_an_agents_message_reaches_the_merchants_outbox_in_the_merchants_script(desk):
    conversation = "merchant:T9001:abc"
    number = open_ticket(conversation, "T9001", "merchant", written=script.TAIWAN)
    # Not before the agent has claimed the ticket.
    answer = await desk.client.post(f"{DESK}/tickets/{number}/messages", json={"text": "您好"},
                                    headers=bearer())
    assert answer.status_code == 409 and "claim it first" in answer.json()["error"]
    await desk.client.post(f"{DESK}/tickets/{number}/claim", headers=bearer())
    answer = await desk.client.post(f"{DESK}/tickets/{number}/messages",
                                    json={"text": "您好,我来帮您处理后台问题"}, headers=bearer())
    assert answer.status_code == 200
    sent = answer.json()["sent"]
    assert answer.json()["ticket"] == number and sent == "您好,我來幫您處理後臺問題"
    assert outbox(conversation) == [sent]
    said = desk.agent.tracker_store.trackers[conversation].events[-1]
    assert isinstance(said, BotUttered) and said.text == sent and said.metadata[AGENT_KEY] == "agent-1"


@pytest.mark.parametrize("body, status", [
    ({}, 400), ({"text": None}, 400), ({"text": 5}, 400), ({"text": "   "}, 400),
    ({"text": "\u200b\u200b"}, 400), ({"text": "好" * (MAX_MESSAGE_CHARS + 1)}, 413)],
    ids=["no-text", "null", "number", "blank", "zero-width", "too-long"])
async def test_an_agents_message_must_have_visible_text(desk, body, status):
    number = open_ticket("anon-1")
    await desk.client.post(f"{DESK}/tickets/{number}/claim", headers=bearer())
    answer = await desk.client.post(f"{DESK}/tickets/{number}/messages", json=body, headers=bearer())
    assert answer.status_code == status
    assert outbox("anon-1") == []


async def test_a_delegated_intent_payload_is_a_question_and_is_audited(desk):
    conversation = "anon-1"
    number = open_ticket(conversation)
    desk.agent.tracker_store.trackers[conversation] = paused(conversation)
    await desk.client.post(f"{DESK}/tickets/{number}/claim", headers=bearer())
    forged = '/ask_tier_status{"merchant_id": "T9002"}'
    answer = await desk.client.post(f"{DESK}/tickets/{number}/delegate", json={"text": forged},
                                    headers=bearer())
    assert answer.status_code == 200
    question = AS_TEXT + forged[len(INTENT_PREFIX):]
    assert answer.json() == {"question": question, "answers": [f"answer: {question}"], "ticket": number}
    handed = desk.agent.processor.handled[-1]
    assert handed.text == question and handed.metadata[DELEGATED_KEY] == "agent-1"
    delegated_by = unseal_delegation(SECRET, conversation, handed.metadata)
    assert delegated_by is not None and (delegated_by.sub, delegated_by.role) == ("agent-1", "agent")
    # The conversation goes back to the agent afterwards.
    assert desk.agent.tracker_store.trackers[conversation].is_paused()
    rows = audit_rows(REFUSED)
    assert len(rows) == 1 and (rows[0]["actor"], rows[0]["actor_role"]) == ("agent-1", "agent")
    assert outbox(conversation) == [f"answer: {question}"]


async def test_delegating_without_a_question_needs_a_merchant_message(desk):
    number = open_ticket("anon-1")
    await desk.client.post(f"{DESK}/tickets/{number}/claim", headers=bearer())
    answer = await desk.client.post(f"{DESK}/tickets/{number}/delegate", headers=bearer())
    assert answer.status_code == 409 and desk.agent.processor.handled == []


async def test_handing_back_closes_the_ticket_and_resumes_the_conversation(desk):
    conversation = "anon-1"
    number = open_ticket(conversation)
    desk.agent.tracker_store.trackers[conversation] = paused(conversation, ticket=str(number))
    answer = await desk.client.post(f"{DESK}/tickets/{number}/handback", headers=bearer())
    assert answer.status_code == 409  # not claimed
    await desk.client.post(f"{DESK}/tickets/{number}/claim", headers=bearer())
    assert (await desk.client.post(f"{DESK}/tickets/{number}/handback", headers=bearer("agent-2"))
            ).status_code == 409
    answer = await desk.client.post(f"{DESK}/tickets/{number}/handback", headers=bearer())
    assert answer.status_code == 200
    assert answer.json() == {"ticket": number, "status": tickets.CLOSED, "notice": "the assistant is back",
                             "note": None}
    tracker = desk.agent.tracker_store.trackers[conversation]
    assert not tracker.is_paused() and tracker.get_slot(TICKET_SLOT) is None
    assert outbox(conversation) == ["the assistant is back"]
    listed = (await desk.client.get(f"{DESK}/tickets", headers=bearer())).json()
    assert listed["total"] == 0


async def test_a_database_that_is_down_gets_503(desk, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite:////nonexistent-folder/for/sure/merchants.db")
    answer = await desk.client.get(f"{DESK}/tickets", headers=bearer())
    assert answer.status_code == 503 and "ticket database unavailable" in answer.json()["error"]


async def test_an_offset_of_thousands_of_digits_gets_400(desk):
    answer = await desk.client.get(f"{DESK}/tickets", params={"offset": "1" * 5000}, headers=bearer())
    assert answer.status_code == 400


# The console's session: name and password, an HttpOnly cookie, a CSRF token for changes.

PASSWORD = "console-password-1"


def _account(name: str = "agent-li", password: str = PASSWORD) -> None:
    from core.agents import add_agent

    with db_session.shared_factory().begin() as session:
        add_agent(session, name, password)


async def _sign_in(desk, name: str = "agent-li", password: str = PASSWORD):
    return await desk.client.post(f"{DESK}/session", json={"name": name, "password": password})


async def test_signing_in_sets_an_httponly_strict_cookie_and_returns_a_csrf_token(desk):
    _account()
    answer = await _sign_in(desk)
    assert answer.status_code == 200
    body = answer.json()
    assert body["agent"] == "agent-li" and len(body["csrf"]) == 64 and body["expires_in"] == 3600
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("agent_session=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/webhooks/agent" in cookie
    assert body["csrf"] not in cookie
    # The cookie alone reads; the session call gives the same CSRF token back (after a reload).
    session = desk.client.cookies.get("agent_session")
    assert session
    assert (await desk.client.get(f"{DESK}/tickets")).status_code == 200
    again = await desk.client.get(f"{DESK}/session")
    assert again.status_code == 200 and again.json()["csrf"] == body["csrf"]
    assert [r["actor"] for r in audit_rows("agent_sign_in")] == ["agent-li"]


async def test_with_the_cookie_a_change_needs_the_csrf_token(desk):
    _account()
    csrf = (await _sign_in(desk)).json()["csrf"]
    number = open_ticket("conv-csrf")
    refused = await desk.client.post(f"{DESK}/tickets/{number}/claim")
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
    wrong = await desk.client.post(f"{DESK}/tickets/{number}/claim", headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    claimed = await desk.client.post(f"{DESK}/tickets/{number}/claim", headers={"X-CSRF-Token": csrf})
    assert claimed.status_code == 200 and claimed.json()["ticket"]["claimed_by"] == "agent-li"
    assert len(audit_rows(REFUSED)) == 2


async def test_wrong_passwords_are_refused_audited_and_then_paused(desk):
    _account()
    for _ in range(5):
        answer = await _sign_in(desk, password="wrong-password")
        assert answer.status_code == 401 and "set-cookie" not in answer.headers
    # Even the right password waits now: five failures in a row pause sign-in for the name.
    assert (await _sign_in(desk)).status_code == 429
    assert (await _sign_in(desk, name="nobody")).status_code == 429  # and for the address
    reasons = [r["reason"] for r in audit_rows(REFUSED)]
    assert reasons.count("sign-in of agent-li: wrong name or password") == 5
    assert all(r["source"] == ADDRESS for r in audit_rows(REFUSED))


@pytest.mark.parametrize("body", [{}, {"name": "agent-li"}, {"name": 1, "password": 2}, []])
async def test_a_malformed_sign_in_gets_400(desk, body):
    answer = await desk.client.post(f"{DESK}/session", json=body)
    assert answer.status_code == 400


async def test_expired_and_merchant_sessions_are_refused_and_signing_out_clears_the_cookie(desk):
    desk.client.cookies.set("agent_session", token("agent-li", "agent", ttl=dt.timedelta(hours=-1)))
    assert (await desk.client.get(f"{DESK}/tickets")).status_code == 401
    assert (await desk.client.get(f"{DESK}/session")).status_code == 401
    desk.client.cookies.set("agent_session", token("M1001", "merchant"))
    assert (await desk.client.get(f"{DESK}/tickets")).status_code == 403
    assert (await desk.client.get(f"{DESK}/session")).status_code == 403
    desk.client.cookies.clear()
    _account()
    await _sign_in(desk)
    out = await desk.client.delete(f"{DESK}/session")
    assert out.status_code == 200 and "Max-Age=0" in out.headers["set-cookie"]


async def test_the_list_filters_by_channel_and_reason(desk):
    open_ticket("conv-a", channel="webchat")
    open_ticket("conv-b", channel="dingtalk")
    listed = (await desk.client.get(f"{DESK}/tickets?channel=dingtalk", headers=bearer())).json()
    assert [t["conversation_id"] for t in listed["tickets"]] == ["conv-b"] and listed["total"] == 1
    none = (await desk.client.get(f"{DESK}/tickets?reason=repeated_failure", headers=bearer())).json()
    assert none["tickets"] == [] and none["total"] == 0


async def test_handing_back_with_a_note_records_the_resolution(desk):
    conversation = "conv-note"
    number = open_ticket(conversation)
    desk.agent.tracker_store.trackers[conversation] = paused(conversation, ticket=str(number))
    await desk.client.post(f"{DESK}/tickets/{number}/claim", headers=bearer())
    answer = await desk.client.post(f"{DESK}/tickets/{number}/handback", headers=bearer(),
                                    json={"note": "已解答橱窗数量"})
    assert answer.status_code == 200 and answer.json()["note"] == "已解答橱窗数量"
    with db_session.shared_factory().begin() as session:
        kinds = [(e.kind, e.text) for e in tickets.events(session, number)]
    assert ("resolution", "已解答橱窗数量") in kinds


async def test_a_ticket_kept_open_is_re_read_without_the_tier_status_and_audited_sparingly(desk):
    conversation = "conv-kept"
    number = open_ticket(conversation, merchant="M1001")
    desk.agent.tracker_store.trackers[conversation] = paused(conversation, ticket=str(number))
    assert (await desk.client.get(f"{DESK}/tickets/{number}", headers=bearer())).status_code == 200
    for _ in range(3):
        kept = await desk.client.get(f"{DESK}/tickets/{number}?refresh=1", headers=bearer())
        assert kept.status_code == 200 and kept.json()["tier_status"] is None
    # One row for the opening read; the re-reads of the next minutes add none.
    assert len(audit_rows("read_ticket")) == 1
    # Another agent's read is audited on its own.
    await desk.client.get(f"{DESK}/tickets/{number}?refresh=1", headers=bearer("agent-2"))
    assert [r["actor"] for r in audit_rows("read_ticket")] == ["agent-1", "agent-2"]


async def test_a_burst_of_wrong_passwords_at_once_is_paused_after_five(desk):
    import asyncio

    _account()
    answers = await asyncio.gather(*(_sign_in(desk, password=f"wrong-{i}") for i in range(9)))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(401) <= 5 and codes.count(429) >= 4, codes
    assert (await _sign_in(desk)).status_code == 429


async def test_a_csrf_header_that_is_not_ascii_is_a_refusal_not_an_error(desk):
    _account()
    await _sign_in(desk)
    number = open_ticket("conv-ascii")
    answer = await desk.client.post(f"{DESK}/tickets/{number}/claim",
                                    headers={"X-CSRF-Token": "é".encode("utf-8")})
    assert answer.status_code == 403


async def test_suggestions_read_the_merchants_last_question_and_are_audited(desk):
    conversation = "conv-suggest"
    number = open_ticket(conversation, merchant="M1001")
    tracker = paused(conversation, ticket=str(number))
    for text, intent in (("金牌每个月有几个橱窗?", "ask_programme"), ("/request_human", "request_human"),
                         ("转人工", "request_human")):
        tracker.update(UserUttered(text, intent={"name": intent}, parse_data={
            "intent": {"name": intent}, "text_original": text}))
    desk.agent.tracker_store.trackers[conversation] = tracker
    answer = await desk.client.get(f"{DESK}/tickets/{number}/suggestions", headers=bearer())
    assert answer.status_code == 200 and answer.json()["question"] == "金牌每个月有几个橱窗?"
    assert [(r["actor"], r["subject"]) for r in audit_rows("read_suggestions")] == [("agent-1", "M1001")]


@pytest.mark.parametrize("query", ["", "?since=yesterday", "?since=2026-11-21&until=2026-11-20",
                                   "?since=0001-01-01T00:00%2B01:00"])
async def test_the_report_with_a_bad_period_gets_400(desk, query):
    answer = await desk.client.get(f"{DESK}/report{query}", headers=bearer())
    assert answer.status_code == 400 and "error" in answer.json()


async def test_only_agents_read_the_report(desk):
    answer = await desk.client.get(f"{DESK}/report?since=2026-11-20", headers=bearer("M1001", "merchant"))
    assert answer.status_code == 403


async def test_signing_out_or_disabling_ends_the_session_on_the_server(desk):
    from core.agents import disable_agent

    _account()
    await _sign_in(desk)
    kept = desk.client.cookies.get("agent_session")
    assert (await desk.client.get(f"{DESK}/tickets")).status_code == 200
    await desk.client.delete(f"{DESK}/session")
    # A copy of the cookie taken before signing out is worth nothing now.
    desk.client.cookies.set("agent_session", kept)
    ended = await desk.client.get(f"{DESK}/tickets")
    assert ended.status_code == 401 and "session ended" in ended.json()["error"]
    assert (await desk.client.get(f"{DESK}/session")).status_code == 401
    # Signing in again at once works; disabling the account ends that session too.
    desk.client.cookies.clear()
    assert (await _sign_in(desk)).status_code == 200
    assert (await desk.client.get(f"{DESK}/tickets")).status_code == 200
    with db_session.shared_factory().begin() as session:
        disable_agent(session, "agent-li")
    assert (await desk.client.get(f"{DESK}/tickets")).status_code == 401
    # A bearer token of the same agent (an integration's) is not a console session.
    assert (await desk.client.get(f"{DESK}/tickets", headers=bearer("agent-li"))).status_code == 200
    assert [r["actor"] for r in audit_rows("agent_sign_out")] == ["agent-li"]


async def test_the_console_page_and_its_files_are_served_with_the_security_headers(desk):
    moved = await desk.client.get(DESK, follow_redirects=False)
    assert moved.status_code == 301 and moved.headers["location"].endswith("/webhooks/agent/")
    page = await desk.client.get(f"{DESK}/")
    assert page.status_code == 200 and "客服工作台" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    for name, kind in (("console.js", "application/javascript"), ("console.css", "text/css")):
        served = await desk.client.get(f"{DESK}/static/{name}")
        assert served.status_code == 200 and served.headers["content-type"].startswith(kind)
    assert (await desk.client.get(f"{DESK}/static/index.html")).status_code == 404
    assert (await desk.client.get(f"{DESK}/static/..%2F..%2Fcore%2Fagents.py")).status_code == 404
