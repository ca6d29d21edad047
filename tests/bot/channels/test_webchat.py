"""The web chat channel (bot/channels/webchat.py): its page over HTTP, and its socket.io events
called as python-socketio calls them (no engine.io transport, no server, no model)."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import uuid
from types import SimpleNamespace
from typing import Any, List, Tuple

import pytest
from rasa.core.lock_store import LockError

from bot.channels import limits, webchat
from bot.channels.delivery import MAX_MESSAGE_CHARS, UNAVAILABLE_NOTICE
from bot.channels.guard import AS_TEXT
from bot.channels.webchat import (
    NOT_TEXT,
    PAGE_DIR,
    SECURITY_HEADERS,
    SIGN_IN,
    TOO_LONG,
    WebchatInput,
    in_script_of,
)
from bot.nlu.normalizer import INTENT_PREFIX
from core.db import session as db_session
from core.db import tickets
from core.identity import Identity, conversation_id, unseal, verify_token
from tests.bot.channels.conftest import ADDRESS, REPLY, SECRET, audit_rows, paused, token, waiting_alert

PAGE = "/webhooks/webchat"
SOCKET_ADDRESS = "192.0.2.44"
REFUSED = f"{WebchatInput.name()}_refused"


class Socket:
    """One widget's socket: connected to the namespace, its events sent to the channel's handlers."""

    def __init__(self, served, address: str = SOCKET_ADDRESS) -> None:
        self.channel: WebchatInput = served.channel
        self.handlers = self.channel.sio.handlers["/"]
        self.address = address
        self.sid = ""

    async def connect(self) -> "Socket":
        """What python-socketio does on a client's connection: the manager's entry, then the handler."""
        self.sid = await self.channel.sio.manager.connect(f"eio-{uuid.uuid4().hex}", "/")
        request = SimpleNamespace(remote_addr="", ip=self.address)
        assert await self.handlers["connect"](self.sid, {"sanic.request": request}) is True
        return self

    async def send(self, data: Any) -> None:
        await self.handlers[self.channel.user_message_evt](self.sid, data)

    async def say(self, text: str, signed: Any = None, **extra: Any) -> None:
        await self.send({"message": text, "customData": {"token": signed}, **extra})

    def rooms(self) -> List[str]:
        return [room for room, members in self.channel.sio.manager.rooms["/"].items()
                if room not in (None, self.sid) and self.sid in members]


@pytest.fixture
async def chat(serve):
    served = await serve(WebchatInput())
    emitted: List[Tuple[str, Any, str]] = []

    async def emit(event: str, data: Any = None, room: str = None, **ignored: Any) -> None:
        emitted.append((event, data, room))

    served.channel.sio.emit = emit
    served.emitted = emitted
    yield served
    for sid in list(served.channel._rooms) + list(served.channel._addresses):
        await served.channel.sio.handlers["/"]["disconnect"](sid)
    for task in list(served.channel._watched.values()) + list(served.channel._alert_watches.values()):
        task.cancel()
    await served.channel.sio.shutdown()


def texts_to(served, room: str) -> List[str]:
    return [data.get("text") for event, data, to in served.emitted
            if event == "bot_uttered" and to == room]


# --- the page ---------------------------------------------------------------------------------

async def test_the_page_redirects_to_its_folder_and_drops_the_query(chat):
    answer = await chat.client.get(PAGE, params={"token": "abc.def.ghi"}, follow_redirects=False)
    assert answer.status_code == 301 and answer.headers["location"] == f"{PAGE}/"


async def test_the_page_is_served_with_its_security_headers(chat):
    answer = await chat.client.get(f"{PAGE}/")
    assert answer.status_code == 200
    assert answer.content == (PAGE_DIR / "index.html").read_bytes()
    assert answer.headers["content-type"].startswith("text/html")
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers[name] == value


@pytest.mark.parametrize("name, kind", [("page.js", "application/javascript"), ("page.css", "text/css")])
async def test_the_pages_own_files_are_served(chat, name, kind):
    answer = await chat.client.get(f"{PAGE}/{name}")
    assert answer.status_code == 200
    assert answer.content == (PAGE_DIR / name).read_bytes()
    assert answer.headers["content-type"] == f"{kind}; charset=utf-8"
    assert answer.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]


async def test_only_the_pages_files_are_served(chat):
    for name in ("index.html.bak", "..%2Fcredentials.yml", "package.json"):
        answer = await chat.client.get(f"{PAGE}/{name}")
        assert answer.status_code == 404, name
        assert "version" not in answer.text


async def test_the_widget_is_served_without_imports_from_elsewhere(chat, monkeypatch, tmp_path):
    widget = tmp_path / "index.js"
    widget.write_bytes(b"a{}@import url(https://fonts.googleapis.com/css?family=Lato:400);b{}")
    monkeypatch.setattr(webchat, "WIDGET", widget)
    monkeypatch.setitem(webchat.STATIC, "webchat.js", widget)
    monkeypatch.setattr(webchat, "_served", {})
    answer = await chat.client.get(f"{PAGE}/webchat.js")
    assert answer.status_code == 200 and answer.content == b"a{}b{}"
    assert (await chat.client.get(f"{PAGE}/health")).json() == {"status": "ok"}
    # A new version of the file is served as soon as it is there.
    widget.write_bytes(b"c{}")
    os.utime(widget, ns=(1, 1))
    assert (await chat.client.get(f"{PAGE}/webchat.js")).content == b"c{}"


async def test_a_widget_not_installed_is_said_so(chat, monkeypatch, tmp_path):
    missing = tmp_path / "not-installed.js"
    monkeypatch.setattr(webchat, "WIDGET", missing)
    monkeypatch.setitem(webchat.STATIC, "webchat.js", missing)
    answer = await chat.client.get(f"{PAGE}/webchat.js")
    assert answer.status_code == 503 and "make web" in answer.text
    assert (await chat.client.get(f"{PAGE}/health")).json() == {"status": "widget not installed"}


# --- socket.io over its HTTP transport -------------------------------------------------------

class Polling:
    """A socket.io client on engine.io's long-polling transport (what the widget falls back to)."""

    def __init__(self, served) -> None:
        self.client = served.client
        self.path = f"{PAGE}/socket.io/"
        self.sid = ""

    async def _request(self, method: str, content: str = ""):
        params = {"EIO": "4", "transport": "polling", **({"sid": self.sid} if self.sid else {})}
        answer = await asyncio.wait_for(self.client.request(
            method, self.path, params=params, content=content.encode() or None), 5)
        assert answer.status_code == 200, answer.text
        return answer.text

    async def connect(self) -> "Polling":
        opened = await self._request("GET")
        assert opened.startswith("0")
        self.sid = json.loads(opened[1:])["sid"]
        await self._request("POST", "40")
        assert (await self._request("GET")).startswith("40")
        return self

    async def emit(self, event: str, data: Any) -> None:
        await self._request("POST", "42" + json.dumps([event, data]))

    async def received(self) -> List[Any]:
        """The events waiting for this client, as [event, data]."""
        return [json.loads(packet[2:]) for packet in (await self._request("GET")).split("\x1e")
                if packet.startswith("42")]


@pytest.fixture
async def transport(serve):
    served = await serve(WebchatInput())
    yield served
    for sid in list(served.channel._leavers):
        served.channel._forget(sid)
    await served.channel.sio.shutdown()


async def test_the_widget_talks_over_socket_io_under_the_channels_prefix(transport):
    widget = await Polling(transport).connect()
    signed = token("T9001")
    await widget.emit("user_uttered", {"message": "我离金牌还差多少", "customData": {"token": signed}})
    assert await widget.received() == [["bot_uttered", {"text": REPLY}]]
    message = transport.received.only
    assert message.sender_id == conversation_id(SECRET, verify_token(SECRET, signed))
    # The client's address comes from the socket's own HTTP request.
    assert message.metadata[limits.CLIENT_ADDRESS] == ADDRESS


async def test_over_socket_io_a_message_without_a_token_is_told_to_sign_in(transport):
    widget = await Polling(transport).connect()
    await widget.emit("user_uttered", {"message": "你好", "customData": {}})
    assert await widget.received() == [["bot_uttered", {"text": SIGN_IN}]]
    assert transport.received.messages == []
    assert [r["source"] for r in audit_rows(REFUSED)] == [ADDRESS]


# --- socket.io events, called as python-socketio calls them ----------------------------------

async def test_a_session_request_keeps_a_well_formed_session_id_only(chat):
    socket = await Socket(chat).connect()
    await socket.handlers["session_request"](socket.sid, {"session_id": "abc_DEF-123"})
    await socket.handlers["session_request"](socket.sid, {"session_id": "../../etc<script>"})
    await socket.handlers["session_request"](socket.sid, None)
    confirmed = [(data, room) for event, data, room in chat.emitted if event == "session_confirm"]
    assert confirmed[0] == ("abc_DEF-123", socket.sid)
    for data, room in confirmed[1:]:
        assert room == socket.sid and re.fullmatch(r"[0-9a-f]{32}", data)
    assert confirmed[1][0] != confirmed[2][0]


async def test_a_session_id_with_a_trailing_newline_is_replaced(chat):
    socket = await Socket(chat).connect()
    await socket.handlers["session_request"](socket.sid, {"session_id": "abc\n"})
    [(data, room)] = [(data, room) for event, data, room in chat.emitted if event == "session_confirm"]
    assert room == socket.sid and re.fullmatch(r"[0-9a-f]{32}", data)


async def test_a_signed_in_message_is_handed_on_with_the_sealed_identity(chat):
    socket = await Socket(chat).connect()
    signed = token("T9001")
    claimed = verify_token(SECRET, signed)
    await socket.say("我离金牌还差多少", signed, session_id="widget-chooses-nothing",
                     customData={"token": signed, "sender": "merchant:T9002:x"})
    message = chat.received.only
    sender = conversation_id(SECRET, Identity("T9001", "merchant", claimed.expires))
    assert (message.text, message.sender_id, message.input_channel) == (
        "我离金牌还差多少", sender, WebchatInput.name())
    assert message.metadata[limits.CLIENT_ADDRESS] == SOCKET_ADDRESS
    assert unseal(SECRET, sender, message.metadata, WebchatInput.name()) == claimed
    # The reply goes to the socket that asked, and the socket now hears its conversation.
    assert texts_to(chat, socket.sid) == [REPLY]
    assert socket.rooms() == [sender]


async def test_replies_reach_the_widget_as_paragraphs_with_quick_replies(chat):
    chat.received.replies = [{"text": "第一段\n\n第二段", "buttons": [
        {"title": "转人工", "payload": "/request_human"}, {"title": "链接", "url": "https://x"}]}]
    socket = await Socket(chat).connect()
    await socket.say("你好", token("T9001"))
    parts = [data for event, data, room in chat.emitted if room == socket.sid]
    assert parts == [{"text": "第一段"}, {"text": "第二段", "quick_replies": [
        {"content_type": "text", "title": "转人工", "payload": "/request_human"}]}]


@pytest.mark.parametrize("signed, reason", [
    (None, "missing token"), ("", "missing token"), (42, "missing token"),
    ("not-a-jwt", "invalid token"),
    (token("T9001", key="another-secret-of-32-bytes-length"), "invalid token"),
    (token("T9001", ttl=dt.timedelta(seconds=-5)), "token expired"),
], ids=["none", "empty", "number", "malformed", "wrong-key", "expired"])
async def test_a_message_without_a_valid_token_is_not_processed_and_is_audited(chat, signed, reason):
    socket = await Socket(chat).connect()
    await socket.say("我离金牌还差多少", signed)
    assert chat.received.messages == []
    assert texts_to(chat, socket.sid) == [SIGN_IN]
    assert socket.rooms() == []
    rows = audit_rows(REFUSED)
    assert len(rows) == 1 and reason in rows[0]["reason"]
    assert rows[0]["source"] == SOCKET_ADDRESS and rows[0]["actor"] is None


async def test_the_sign_in_notice_is_in_the_script_the_merchant_wrote(chat):
    socket = await Socket(chat).connect()
    await socket.say("我離金牌還差多少?", None)
    notice = texts_to(chat, socket.sid)
    assert notice == [in_script_of(SIGN_IN, "我離金牌還差多少?")] and notice != [SIGN_IN]


async def test_without_a_configured_secret_nobody_signs_in(chat, monkeypatch):
    signed = token("T9001")
    monkeypatch.delenv("ASSISTANT_JWT_SECRET")
    socket = await Socket(chat).connect()
    await socket.say("你好", signed)
    assert chat.received.messages == [] and texts_to(chat, socket.sid) == [SIGN_IN]


@pytest.mark.parametrize("data", [None, "你好", {"text": "你好"}, {"message": 7},
                                  {"message": ["你好"]}])
async def test_an_event_without_a_text_message_is_told_so(chat, data):
    socket = await Socket(chat).connect()
    await socket.send(data)
    assert chat.received.messages == [] and texts_to(chat, socket.sid) == [NOT_TEXT]


async def test_an_over_long_message_is_not_processed(chat):
    socket = await Socket(chat).connect()
    await socket.say("好" * (MAX_MESSAGE_CHARS + 1), token("T9001"))
    assert chat.received.messages == [] and texts_to(chat, socket.sid) == [TOO_LONG]
    await socket.say("好" * MAX_MESSAGE_CHARS, token("T9001"))
    assert len(chat.received.messages) == 1


async def test_a_typed_intent_payload_is_text_and_audited_under_the_merchant(chat):
    socket = await Socket(chat).connect()
    forged = '/ask_tier_status{"merchant_id": "T9002"}'
    await socket.say(forged, token("T9001"))
    assert chat.received.only.text == AS_TEXT + forged[len(INTENT_PREFIX):]
    rows = audit_rows(REFUSED)
    assert len(rows) == 1 and (rows[0]["actor"], rows[0]["source"]) == ("T9001", SOCKET_ADDRESS)


async def test_over_the_per_address_limit_the_widget_is_told_to_wait(chat, monkeypatch):
    monkeypatch.setenv("ASSISTANT_LIMIT_PER_ADDRESS", "1/minute")
    socket = await Socket(chat).connect()
    await socket.say("你好", token("T9001"))
    await socket.say("你好", token("T9002"))
    assert len(chat.received.messages) == 1
    notice = texts_to(chat, socket.sid)[-1]
    wait = int(re.search(r"\d+", notice).group())
    assert notice == in_script_of(limits.TOO_MANY.format(seconds=wait), "你好") and 1 <= wait <= 61
    # A socket from another address is not held back.
    other = await Socket(chat, "192.0.2.45").connect()
    await other.say("你好", token("T9002"))
    assert len(chat.received.messages) == 2


async def test_an_unreachable_store_is_told_to_the_widget(chat):
    chat.received.error = LockError("lock store down")
    socket = await Socket(chat).connect()
    await socket.say("你好", token("T9001"))
    assert texts_to(chat, socket.sid) == [UNAVAILABLE_NOTICE]


async def test_a_token_of_another_merchant_moves_the_socket_to_that_conversation(chat):
    socket = await Socket(chat).connect()
    await socket.say("你好", token("T9001"))
    await socket.say("你好", token("T9002"))
    first, second = chat.received.messages
    assert socket.rooms() == [second.sender_id] and first.sender_id != second.sender_id


async def test_a_socket_stops_hearing_its_conversation_when_its_token_expires(chat, monkeypatch):
    socket = await Socket(chat).connect()
    signed = token("T9001", ttl=dt.timedelta(minutes=10))
    await socket.say("你好", signed)
    assert socket.rooms() == [chat.received.only.sender_id]
    # Ten minutes and a second later, as the channel's clock tells it.
    later = verify_token(SECRET, signed).expires + 1
    monkeypatch.setattr(webchat, "time", SimpleNamespace(time=lambda: later))
    chat.channel._leavers[socket.sid].cancel()  # the waiting one would sleep for real
    await chat.channel._leave_on_expiry(socket.sid)
    assert socket.rooms() == []


async def test_a_disconnected_socket_is_forgotten(chat):
    socket = await Socket(chat).connect()
    await socket.say("你好", token("T9001"))
    leaver = chat.channel._leavers[socket.sid]
    await socket.handlers["disconnect"](socket.sid)
    await asyncio.sleep(0)
    assert socket.sid not in chat.channel._addresses and socket.sid not in chat.channel._rooms
    assert leaver.cancelled()


async def test_while_an_agent_holds_the_conversation_the_page_gets_the_agents_messages(chat, monkeypatch):
    monkeypatch.setattr(webchat, "AGENT_POLL_SECONDS", 0.01)
    signed = token("T9001")
    sender = conversation_id(SECRET, verify_token(SECRET, signed))
    chat.received.replies = []
    chat.agent.tracker_store.trackers[sender] = paused(sender, ticket="3")
    socket = await Socket(chat).connect()
    await socket.say("还在吗", signed)
    assert texts_to(chat, socket.sid) == ["waiting for an agent (ticket 3)"]
    with db_session.shared_factory().begin() as session:
        ticket = tickets.open_ticket(session, sender, "webchat", "T9001", "requested", None, {})
        tickets.add_event(session, ticket.id, "agent_message", "agent-1", "您好,我是客服", True)
    for _ in range(200):
        if texts_to(chat, sender):
            break
        await asyncio.sleep(0.01)
    assert texts_to(chat, sender) == ["【人工客服】您好,我是客服"]  # marked as from a person
    # Handed back: the watch ends.
    del chat.agent.tracker_store.trackers[sender]
    for _ in range(200):
        if not chat.channel._watched:
            break
        await asyncio.sleep(0.01)
    assert chat.channel._watched == {}


async def test_the_page_learns_whether_a_person_has_the_conversation(chat):
    signed = token("T9001")
    sender = conversation_id(SECRET, verify_token(SECRET, signed))
    auth = {"Authorization": f"Bearer {signed}"}
    assert (await chat.client.get(f"{PAGE}/state", headers=auth)).json() == {"handoff": None}
    with db_session.shared_factory().begin() as session:
        number = tickets.open_ticket(session, sender, "webchat", "T9001", "requested", None, {}).id
    chat.agent.tracker_store.trackers[sender] = paused(sender, ticket=str(number))
    waiting = (await chat.client.get(f"{PAGE}/state", headers=auth)).json()["handoff"]
    assert waiting["status"] == "open" and "正在等待客服接入" in waiting["text"]
    assert f"工单号:{number}" in waiting["text"]
    with db_session.shared_factory().begin() as session:
        tickets.claim(session, number, "agent-1")
    served = (await chat.client.get(f"{PAGE}/state", headers=auth)).json()["handoff"]
    assert served["status"] == "claimed" and "人工客服正在为您服务" in served["text"]
    # Without a valid token nothing is said about any conversation.
    assert (await chat.client.get(f"{PAGE}/state")).status_code == 401
    expired = {"Authorization": f"Bearer {token('T9001', ttl=dt.timedelta(hours=-1))}"}
    assert (await chat.client.get(f"{PAGE}/state", headers=expired)).status_code == 401


async def test_a_merchants_tier_alerts_come_with_the_next_reply_once(chat):
    """Tier alerts waiting for the merchant's app (docs/alerts.md) reach the open page after the
    reply, each once; another merchant's do not."""
    waiting_alert("T9001")
    waiting_alert("T9002")
    socket = await Socket(chat).connect()
    await socket.say("你好", token("T9001"))
    first = texts_to(chat, socket.sid)
    assert first[0] == REPLY and len(first) > 1 and "91.5%" in "".join(first[1:])
    chat.emitted.clear()
    await socket.say("你好", token("T9001"))
    assert texts_to(chat, socket.sid) == [REPLY]


async def test_an_open_page_gets_an_alert_written_while_it_is_idle(chat, monkeypatch):
    monkeypatch.setattr(webchat, "ALERT_POLL_SECONDS", 0.05)
    socket = await Socket(chat).connect()
    signed = token("T9001")
    await socket.say("你好", signed)
    sender = conversation_id(SECRET, verify_token(SECRET, signed))
    waiting_alert("T9001")  # written by the tier watch after the page opened
    for _ in range(100):
        if texts_to(chat, sender):
            break
        await asyncio.sleep(0.05)
    assert "91.5%" in "".join(texts_to(chat, sender))
