"""Bad input on every channel: whatever a client sends, a clear reply or a clear 4xx.

The kinds (KINDS below, more than 30): empty, blank and oversized messages (100 KB, 10 MB),
emoji, zero-width, control and NUL characters, right-to-left text, mixed scripts, lone
surrogates, invalid UTF-8, non-JSON and wrongly shaped bodies, `message`/`sender` null or
numbers, 300-character and unprintable sender ids, SQL injection as a merchant id, as a slot
value of an `/intent{...}` payload and as a sender, `/intent` payloads with another merchant's id,
markdown and HTML. Each is applied to every channel where it can be sent: the anonymous REST
channel, the merchant channel, the DingTalk robot, the web chat (socket.io) and the agent desk
(an agent's message to a merchant).

For every request:

* never a 5xx, never a stack trace in what comes back (response, socket.io replies, texts
  posted to the DingTalk session webhook);
* a 4xx carries JSON {"error": "<reason>"}; a 200 carries a non-empty reply (DingTalk: the
  fake session webhook received a non-empty text; the agent desk: the text sent);
* no private data of a merchant the caller is not (R7002 for R7001; anyone's for anonymous);
* the web chat sends back only text and suggestion buttons (markup is never turned into
  anything else; the browser test checks that the page shows it as text);
* afterwards, the same conversation still answers a normal question (金牌每个月有几个橱窗?).

The last test checks the server still serves and writes FIGURES["bad input"].
"""
from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import pytest
import socketio

from bot.channels.dingtalk import signature
from tests.e2e.fake_dingtalk import FakeDingTalk
from tests.reliability.conftest import (
    DINGTALK_SECRET,
    FIGURES,
    STACK_TRACE_MARKERS,
    http,
    leaked,
    reply_text,
    token,
)

pytestmark = pytest.mark.e2e

NORMAL = "金牌每个月有几个橱窗?"
NORMAL_ANSWER = ("橱窗", "櫥窗")
OWN_STATUS = "我离金牌还差多少?"
WEBCHAT_PATH = "/webhooks/webchat/socket.io"
MB10 = 10 * 1024 * 1024
MISSING = object()  # the field is left out
NOT_SENT = object()  # the kind cannot be sent this way on this channel

# --- the kinds -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One kind of bad input.

    category: how `value` is sent on each channel:
      text    the message text (REST/merchant `message`, DingTalk `text.content`, the web
              chat's `message`, the agent desk's `text`);
      value   a JSON value that is not a text in the message's place (MISSING: left out);
      raw     raw JSON bytes in the message's place (the rest of the body as usual);
      body    the whole body (raw bytes);
      sender  the sender's id (REST `sender`, DingTalk `senderStaffId`, the web chat's
              `session_id`; on the merchant channel a `sender` field it must ignore), with a
              question about the merchant's own status;
      extra   fields added to the body, with a question about the merchant's own status.
    expect: per channel ("*" for the rest): "ok" 200 with a reply, "bad" 400, "too long" 413,
      "any" 200 with a reply or a 4xx; for the web chat "closed" also allows the server closing
      the socket (engine.io refuses frames over 1 MB).
    answer: what the reply to this message must contain (one of), when it is answered.
    webchat: what the web chat sends instead of `value` (NOT_SENT: not applicable).
    """

    name: str
    category: str
    value: Any
    expect: Dict[str, str] = field(default_factory=lambda: {"*": "any"})
    answer: Tuple[str, ...] = ()
    webchat: Any = MISSING
    content_type: Optional[str] = None


def ok(**others: str) -> Dict[str, str]:
    return {"*": "ok", **others}


def bad(**others: str) -> Dict[str, str]:
    return {"*": "bad", **others}


def too_long(**others: str) -> Dict[str, str]:
    return {"*": "too long", **others}


SQL = "R7002' OR '1'='1"
KINDS: List[Kind] = [
    # Text that is there but says nothing.
    Kind("empty message", "text", "", ok(agent="bad")),
    Kind("whitespace only", "text", "   \t  ", ok(agent="bad")),
    Kind("newlines only", "text", "\n\n\r\n\n", ok(agent="bad")),
    Kind("zero-width characters only", "text", "\u200b\u200c\u200d\u2060\ufeff", ok(agent="bad")),
    Kind("NUL bytes only", "text", "\x00\x00\x00", ok(agent="bad")),
    Kind("only punctuation", "text", "?!。,,,……???!!!", ok()),
    Kind("emoji only", "text", "😀🎉👍🏽👨‍👩‍👧", ok()),
    # Too much text.
    Kind("100 KB message", "text", "金牌橱窗" * 8534, too_long()),
    Kind("4,001 characters (one over the limit)", "text", "x" * 4001, too_long()),
    Kind("4,000-character single token", "text", "x" * 4000, ok()),
    Kind("a thousand lines", "text", "金牌\n" * 1000, ok()),
    Kind("10 MB message", "raw", b'"' + b"a" * MB10 + b'"', too_long(webchat="closed"),
         webchat="a" * MB10),
    # Characters that are not what they seem.
    Kind("zero-width characters inside a question", "text", "金\u200b牌每个\u200c月有几个橱\u200d窗?",
         ok(), answer=NORMAL_ANSWER),
    Kind("control characters", "text", "\x01\x02\x07\x08\x1b[31m红色\x1b[0m\x7f", ok()),
    Kind("NUL bytes inside a question", "text", "金牌\x00每个月\x00有几个橱窗?", ok(),
         answer=NORMAL_ANSWER),
    Kind("tabs, form feeds and vertical tabs", "text", "\t金牌\f每个月\v有几个橱窗?\t", ok(),
         answer=NORMAL_ANSWER),
    Kind("byte order mark before a question", "text", "\ufeff金牌每个月有几个橱窗?", ok(),
         answer=NORMAL_ANSWER),
    Kind("right-to-left text", "text", "كم عدد النوافذ للبائع الذهبي؟ שלום", ok()),
    Kind("bidi override around a question", "text", "\u202e金牌每个月有几个橱窗?\u202c", ok(),
         answer=NORMAL_ANSWER),
    Kind("mixed scripts (simplified, traditional, English)", "text",
         "金牌賣家每个月有幾個橱窗 showcase?", ok(), answer=NORMAL_ANSWER),
    Kind("combining marks (zalgo)", "text",
         "金\u0338\u0322\u031b牌\u0337\u0321 Z\u0351\u0364a\u0304l\u0303g\u0346o", ok()),
    Kind("private-use and unassigned code points", "text", "\ue000\uf8ff\U000f0000\U0010fffd\u0378",
         ok()),
    Kind("full-width ASCII", "text", "ＳＥＬＥＣＴ＊ＦＲＯＭ　ｍｅｒｃｈａｎｔｓ", ok()),
    Kind("lone surrogates", "text", "\ud800金牌\udfff", ok()),
    # Injection.
    Kind("SQL injection as a merchant id", "text", f"查一下商家 {SQL} 的金银牌状态", ok()),
    Kind("SQL statement", "text", "'; DROP TABLE merchant_metrics; -- 我离金牌还差多少?", ok()),
    Kind("/intent with another merchant's id", "text", '/ask_tier_status{"merchant_id": "R7002"}',
         ok()),
    Kind("/intent with SQL injection as a slot value", "text",
         '/ask_tier_status{"merchant_id": "R7001\' OR \'1\'=\'1"}', ok()),
    Kind("/restart typed", "text", "/restart", ok()),
    Kind("malformed /intent payload", "text", '/ask_programme{"tier": [}', ok()),
    Kind("HTML <script>", "text", "<script>alert(document.cookie)</script>金牌每个月有几个橱窗?", ok()),
    Kind("HTML attributes", "text",
         '<img src=x onerror=alert(1)><a href="javascript:alert(1)">点我</a>', ok()),
    Kind("markdown", "text",
         "**金牌** [点我](javascript:alert(1)) ![x](http://evil.example/x.png) `code`", ok()),
    Kind("template placeholders", "text", "{merchant_id} {{7*7}} ${jndi:ldap://evil/x} %s%n {0}",
         ok()),
    Kind("path traversal", "text", "../../../../etc/passwd", ok()),
    # The message is not a text.
    Kind("message null", "value", None, bad(webchat="ok")),
    Kind("message a number", "value", 42, bad(webchat="ok")),
    Kind("message a list", "value", ["金牌"], bad(webchat="ok")),
    Kind("message an object", "value", {"text": "金牌"}, bad(webchat="ok")),
    Kind("message true", "value", True, bad(webchat="ok")),
    Kind("message missing", "value", MISSING, bad(webchat="ok")),
    Kind("NaN as the message", "raw", b"NaN", bad(webchat="ok"), webchat=float("nan")),
    Kind("1e999 as the message", "raw", b"1e999", bad(webchat="ok"), webchat=float("inf")),
    # The body is not a JSON object.
    Kind("invalid UTF-8 bytes", "raw", b'"\xff\xfe\xc3\x28"', bad(), webchat=NOT_SENT),
    Kind("unterminated JSON", "raw", b'"unterminated', bad(), webchat=NOT_SENT),
    Kind("deeply nested JSON", "raw", b"[" * 100_000 + b"]" * 100_000, bad(), webchat=NOT_SENT),
    Kind("non-JSON body", "body", b"hello, this is not JSON", bad(webchat="ok"),
         webchat="hello, this is not JSON"),
    Kind("JSON array body", "body", '[{"message": "金牌"}]'.encode(), bad(webchat="ok"),
         webchat=[{"message": "金牌"}]),
    Kind("JSON string body", "body", '"金牌每个月有几个橱窗?"'.encode(), bad(webchat="ok"),
         webchat="金牌每个月有几个橱窗?"),
    Kind("empty body", "body", b"", bad(webchat="ok"), webchat=None),
    Kind("JSON sent as text/plain (what a page elsewhere can make a browser post)", "body",
         '{"sender": "bad-input-rest", "message": "金牌"}'.encode(), bad(), webchat=NOT_SENT,
         content_type="text/plain"),
    Kind("form-encoded body", "body", b"sender=x&message=hi", bad(), webchat=NOT_SENT,
         content_type="application/x-www-form-urlencoded"),
    # Who is asking.
    Kind("sender null", "sender", None, bad(merchant="ok", webchat="ok")),
    Kind("sender a number", "sender", 12345, {"rest": "ok", "dingtalk": "bad", "*": "ok"}),
    Kind("empty sender", "sender", "", bad(merchant="ok", webchat="ok")),
    Kind("300-character sender", "sender", "s" * 300, bad(merchant="ok", webchat="ok")),
    Kind("sender with a NUL byte and a newline", "sender", "bad\x00sender\n",
         bad(merchant="ok", webchat="ok")),
    Kind("sender with a lone surrogate", "sender", "bad\ud800sender",
         bad(merchant="ok", webchat="ok")),
    # A REST sender is letters, digits and ._@:- only (what an agent sees is what it is).
    Kind("SQL injection as the sender", "sender", "x' OR '1'='1; DROP TABLE events; --", ok(rest="bad")),
    Kind("sender with a direction override", "sender", "\u202e1001M:tnahcrem", ok(rest="bad")),
    Kind("another merchant's id as the sender", "sender", "R7002", ok()),
    Kind("forged metadata", "extra", {"metadata": {"merchant_id": "R7002", "role": "agent"},
                                      "merchant_id": "R7002"}, ok()),
]
assert len({k.name for k in KINDS}) == len(KINDS)


def expectation(kind: Kind, channel: str) -> str:
    return kind.expect.get(channel, kind.expect.get("*", "any"))


# --- bookkeeping ---------------------------------------------------------------------------

@dataclass
class Stats:
    requests: int = 0
    server_errors: int = 0
    stack_traces: int = 0
    leaks: int = 0
    recovered: int = 0
    not_recovered: int = 0
    handed_off: Dict[str, List[str]] = field(default_factory=dict)  # kind -> channels
    closed: List[str] = field(default_factory=list)  # kinds: the web chat socket was closed
    kinds: set = field(default_factory=set)
    channels: set = field(default_factory=set)
    checked: set = field(default_factory=set)
    problems: List[str] = field(default_factory=list)


STATS = Stats()


def check(channel: str, kind: Kind, status: Optional[int], raw: str, replies: str,
          allowed: Optional[str], *, closed: bool = False) -> List[str]:
    """Count one bad request and return what is wrong with the answer to it."""
    STATS.requests += 1
    STATS.kinds.add(kind.name)
    STATS.channels.add(channel)
    STATS.checked.add((channel, kind.name))
    problems: List[str] = []
    if status is not None and status >= 500:
        STATS.server_errors += 1
        problems.append(f"server error {status}: {raw[:300]}")
    everything = raw + "\n" + replies
    if any(marker in everything for marker in STACK_TRACE_MARKERS):
        STATS.stack_traces += 1
        problems.append(f"stack trace in what came back: {everything[:500]}")
    found = leaked(everything, allowed)
    if found:
        STATS.leaks += 1
        problems.append(f"private data of another merchant: {found}")
    wanted = expectation(kind, channel)
    if closed:
        if wanted != "closed":
            problems.append("the server closed the socket without a reply")
    elif status is None:  # the web chat: no status, only replies
        if not replies.strip():
            problems.append("no reply")
        if wanted == "too long" and "消息太长" not in replies:
            problems.append(f"no 'message too long' notice: {replies[:200]}")
    elif 400 <= status < 500:
        try:
            error = json.loads(raw).get("error")
        except (ValueError, AttributeError):
            error = None
        if not isinstance(error, str) or not error.strip():
            problems.append(f"{status} without a JSON error: {raw[:200]}")
        want = {"bad": 400, "too long": 413}.get(wanted)
        if wanted == "ok" or (want is not None and status != want):
            problems.append(f"expected {wanted}, got {status}: {raw[:200]}")
    elif status == 200:
        if not replies.strip():
            problems.append(f"200 without a reply: {raw[:200]}")
        if wanted in ("bad", "too long"):
            problems.append(f"expected {wanted}, got 200: {replies[:200]}")
        if kind.answer and not any(a in replies for a in kind.answer):
            problems.append(f"the reply does not answer the question: {replies[:300]}")
    else:
        problems.append(f"unexpected status {status}: {raw[:200]}")
    return [f"{channel} / {kind.name}: {p}" for p in problems]


def recovered(channel: str, kind: Kind, answered: bool, detail: str) -> List[str]:
    if answered:
        STATS.recovered += 1
        return []
    STATS.not_recovered += 1
    return [f"{channel} / {kind.name}: the conversation no longer answers: {detail[:300]}"]


TICKET = re.compile(r"工[单單]号[::]\s*(\d+)")
HANDBACK_AGENT = "agent-bad-input-handback"


def hand_back_if_handed_off(port: int, channel: str, kind: Kind, replies: str) -> None:
    """When the assistant read the message as a request for a human and opened a ticket (a clear
    reply: the conversation goes on with an agent), an agent hands it back, so the test can see
    the assistant answer again; counted in the figure."""
    found = TICKET.search(replies)
    if not found:
        return
    STATS.handed_off.setdefault(kind.name, []).append(channel)
    number = found.group(1)
    bearer = {"Authorization": f"Bearer {token(HANDBACK_AGENT, role='agent')}"}
    status, raw, _ = http(port, "POST", f"/webhooks/agent/tickets/{number}/claim", None, bearer)
    assert status == 200, raw
    status, raw, _ = http(port, "POST", f"/webhooks/agent/tickets/{number}/handback", None, bearer)
    assert status == 200, raw


def finish(problems: List[str]) -> None:
    STATS.problems += problems
    assert not problems, "\n".join(problems)


def answers_normally(text: str) -> bool:
    return any(a in text for a in NORMAL_ANSWER)


def dumps(body: Dict[str, Any]) -> str:
    """JSON as a client may write it: \\u escapes (lone surrogates too), not raw bytes."""
    return json.dumps(body)  # ensure_ascii: a lone surrogate travels as "\ud800"


def raw_body(body: Dict[str, Any], field_path: Tuple[str, ...], fragment: bytes) -> bytes:
    """The body as JSON with the value at `field_path` replaced by the raw bytes `fragment`."""
    marker = "@@BAD-INPUT@@"
    target = body
    for key in field_path[:-1]:
        target = target[key]
    target[field_path[-1]] = marker
    return dumps(body).encode().replace(json.dumps(marker).encode(), fragment)


def build(kind: Kind, base: Dict[str, Any], field_path: Tuple[str, ...],
          sender_field: Optional[str]) -> Tuple[Any, Dict[str, str]]:
    """Body and headers of `kind` for a channel whose normal body is `base` (with the message at
    `field_path`, the sender in `sender_field`)."""
    body = json.loads(json.dumps(base))
    headers = {"Content-Type": kind.content_type} if kind.content_type else {}

    def put(value: Any) -> None:
        target = body
        for key in field_path[:-1]:
            target = target[key]
        if value is MISSING:
            target.pop(field_path[-1], None)
        else:
            target[field_path[-1]] = value

    if kind.category in ("text", "value"):
        put(kind.value)
        return dumps(body), headers
    if kind.category == "raw":
        return raw_body(body, field_path, kind.value), headers
    if kind.category == "body":
        return kind.value, headers
    if kind.category == "sender":
        put(OWN_STATUS)
        body[sender_field or "sender"] = kind.value
        return dumps(body), headers
    if kind.category == "extra":
        put(OWN_STATUS)
        body.update(kind.value)
        return dumps(body), headers
    raise AssertionError(kind.category)


# --- anonymous REST ------------------------------------------------------------------------

REST = "/webhooks/rest/webhook"


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_rest(reliable, kind: Kind) -> None:
    sender = "bad-input-rest"
    body, headers = build(kind, {"sender": sender, "message": ""}, ("message",), "sender")
    status, raw, parsed = http(reliable.rasa_port, "POST", REST, body, headers)
    problems = check("rest", kind, status, raw, reply_text(parsed), None)
    hand_back_if_handed_off(reliable.rasa_port, "rest", kind, reply_text(parsed))
    # The conversation the message went to (if it was taken) still answers.
    if kind.category == "sender" and status == 200:
        body = dumps({"sender": kind.value, "message": NORMAL})
    else:
        body = {"sender": sender, "message": NORMAL}
    status, raw, parsed = http(reliable.rasa_port, "POST", REST, body)
    problems += recovered("rest", kind, status == 200 and answers_normally(reply_text(parsed)), raw)
    finish(problems)


def test_rest_without_a_sender_is_refused_and_shares_no_conversation(reliable) -> None:
    # Without a sender, clients would all land in one conversation and read each other's
    # replies: the request is refused, before anything reaches a conversation.
    status, _, parsed = http(reliable.rasa_port, "POST", REST, {"message": "转人工"})
    assert status == 400 and "sender" in parsed["error"]
    messages = REST.rsplit("/", 1)[0] + "/messages"
    status, _, parsed = http(reliable.rasa_port, "GET", messages)
    assert status == 400 and "sender" in parsed["error"]
    status, _, parsed = http(reliable.rasa_port, "GET", messages + "?sender=default")
    assert status == 200 and parsed == [], parsed


# --- merchant channel ------------------------------------------------------------------------

MERCHANT = "/webhooks/merchant/webhook"


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_merchant(reliable, kind: Kind) -> None:
    bearer = {"Authorization": f"Bearer {token('R7001')}"}
    body, headers = build(kind, {"message": ""}, ("message",), "sender")
    status, raw, parsed = http(reliable.rasa_port, "POST", MERCHANT, body, {**headers, **bearer})
    problems = check("merchant", kind, status, raw, reply_text(parsed), "R7001")
    hand_back_if_handed_off(reliable.rasa_port, "merchant", kind, reply_text(parsed))
    status, raw, parsed = http(reliable.rasa_port, "POST", MERCHANT, {"message": NORMAL}, bearer)
    problems += recovered("merchant", kind,
                          status == 200 and answers_normally(reply_text(parsed)), raw)
    finish(problems)


# --- DingTalk --------------------------------------------------------------------------------

DINGTALK = "/webhooks/dingtalk/webhook"
STAFF = "staff-r7001"  # linked to R7001


@pytest.fixture(scope="module")
def fake_dingtalk():
    fake = FakeDingTalk()
    yield fake
    fake.server.shutdown()


def dingtalk_body(fake: FakeDingTalk, staff: Any, content: Any, session: str) -> Dict[str, Any]:
    return {"msgtype": "text", "text": {"content": content}, "senderStaffId": staff,
            "senderNick": "张三", "conversationId": "cid-bad-input", "conversationType": "1",
            "sessionWebhook": fake.webhook(session),
            "sessionWebhookExpiredTime": int(time.time() * 1000) + 3_600_000}


def dingtalk_post(port: int, body: Any, headers: Optional[Dict[str, str]] = None):
    ts = str(int(time.time() * 1000))
    signed = {"timestamp": ts, "sign": signature(DINGTALK_SECRET, ts), **(headers or {})}
    return http(port, "POST", DINGTALK, body, signed)


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_dingtalk(reliable, fake_dingtalk, kind: Kind) -> None:
    session = f"bad-{KINDS.index(kind)}"
    body, headers = build(kind, dingtalk_body(fake_dingtalk, STAFF, "", session),
                          ("text", "content"), "senderStaffId")
    status, raw, _ = dingtalk_post(reliable.rasa_port, body, headers)
    time.sleep(0.1)  # the replies are posted before the response; let the fake's log settle
    posted = fake_dingtalk.texts(session)
    problems = check("dingtalk", kind, status, raw, posted,
                     "R7001" if kind.category != "sender" else None)
    hand_back_if_handed_off(reliable.rasa_port, "dingtalk", kind, posted)
    if status != 200 and posted:
        problems.append(f"dingtalk / {kind.name}: refused ({status}) but answered: {posted[:200]}")
    if status == 200 and kind.category == "sender" and not isinstance(kind.value, str):
        problems.append(f"dingtalk / {kind.name}: a sender id that is not a text was taken")
    staff = kind.value if kind.category == "sender" and status == 200 else STAFF
    normal = dingtalk_body(fake_dingtalk, staff, NORMAL, session + "-ok")
    status, raw, _ = dingtalk_post(reliable.rasa_port, dumps(normal))
    time.sleep(0.1)
    answer = fake_dingtalk.texts(session + "-ok")
    problems += recovered("dingtalk", kind, status == 200 and answers_normally(answer),
                          raw + answer)
    finish(problems)


# --- web chat (socket.io) --------------------------------------------------------------------

class Webchat:
    """One socket.io client of the web chat; `say` returns the `bot_uttered` parts of a turn.

    Long polling (the installed aiohttp is too old for the client's websocket transport)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: List[Any] = []
        self.confirmed = asyncio.Event()
        self.client.on("bot_uttered", self._reply)
        self.client.on("session_confirm", self._session)

    async def _reply(self, data: Any) -> None:
        self.received.append(data)

    async def _session(self, data: Any) -> None:
        self.confirmed.set()

    async def open(self) -> "Webchat":
        await self.client.connect(f"http://127.0.0.1:{self.port}", socketio_path=WEBCHAT_PATH,
                                  transports=["polling"], wait_timeout=30)
        await self.session("bad-input-webchat")
        return self

    async def session(self, session_id: Any) -> None:
        """What the widget asks first (any session id: the conversation comes from the token)."""
        self.confirmed.clear()
        await self.client.emit("session_request", {"session_id": session_id})
        await asyncio.wait_for(self.confirmed.wait(), 30)

    async def say(self, data: Any, timeout: float = 60.0,
                  quiet: float = 0.5) -> Optional[List[Any]]:
        """The replies to one `user_uttered`; None when the server closed the socket instead."""
        self.received = []
        if data is None:
            await self.client.emit("user_uttered")
        else:
            await self.client.emit("user_uttered", data)
        deadline = time.monotonic() + timeout
        while not self.received and time.monotonic() < deadline:
            if not self.client.connected:
                return None
            await asyncio.sleep(0.05)
        seen = -1
        while len(self.received) != seen and time.monotonic() < deadline:  # until quiet
            seen = len(self.received)
            await asyncio.sleep(quiet)
        return list(self.received)

    async def close(self) -> None:
        """Disconnect without waiting for the pending long poll (the server ends it only at its
        ping timeout, 25 s)."""
        if self.client.connected:
            try:
                await asyncio.wait_for(self.client.disconnect(), 2)
            except asyncio.TimeoutError:
                pass
        http_session = getattr(self.client.eio, "http", None)
        if http_session is not None and not http_session.closed:
            await http_session.close()


@pytest.fixture(scope="module")
def webchat(reliable):
    """One web chat socket for all the kinds (replaced when the server closes it), served by an
    event loop of its own in a thread: `webchat(coroutine_function)` runs
    `coroutine_function(chat)` there and returns (result, the chat it ran on)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    current: Dict[str, Webchat] = {}

    def run(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(300)

    def on(work: Any) -> Any:
        chat = current.get("chat")
        if chat is None or not chat.client.connected:
            if chat is not None:
                run(chat.close())
            chat = current["chat"] = run(Webchat(reliable.rasa_port).open())
        return run(work(chat))

    yield on
    if current.get("chat") is not None:
        run(current["chat"].close())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def webchat_data(kind: Kind, bearer: str) -> Any:
    message: Any = kind.value if kind.webchat is MISSING else kind.webchat
    if kind.category == "body":
        return message  # the whole event's data
    data: Dict[str, Any] = {"session_id": "bad-input-webchat", "customData": {"token": bearer}}
    if kind.category == "sender":
        data.update(message=OWN_STATUS, session_id=kind.value)
    elif kind.category == "extra":
        data.update(message=OWN_STATUS, **kind.value)
        data["customData"] = {"token": bearer, **kind.value}
    elif message is not MISSING:
        data["message"] = message
    return data


def widget_parts(parts: List[Any]) -> List[str]:
    """What is wrong with the shape of the replies: only text and suggestion buttons."""
    wrong = []
    for part in parts:
        if not isinstance(part, dict) or not set(part) <= {"text", "quick_replies"}:
            wrong.append(f"not a text reply: {str(part)[:200]}")
            continue
        if not isinstance(part.get("text", ""), str):
            wrong.append(f"text that is not a text: {str(part)[:200]}")
        for button in part.get("quick_replies") or []:
            if set(button) != {"content_type", "title", "payload"} or \
                    not str(button.get("payload", "")).startswith("/"):
                wrong.append(f"a button that is not a suggestion: {button}")
    return wrong


def webchat_text(parts: Optional[List[Any]]) -> str:
    return "\n".join(p.get("text") or "" for p in parts or [] if isinstance(p, dict))


WEBCHAT_KINDS = [k for k in KINDS if k.webchat is not NOT_SENT]


@pytest.mark.parametrize("kind", WEBCHAT_KINDS, ids=[k.name for k in WEBCHAT_KINDS])
def test_webchat(reliable, webchat, kind: Kind) -> None:
    bearer = token("R7001")

    async def bad_input(chat: Webchat) -> Optional[List[Any]]:
        if kind.category == "sender":
            await chat.session(kind.value)
        return await chat.say(webchat_data(kind, bearer))

    async def normal_question(chat: Webchat) -> Optional[List[Any]]:
        await chat.session("bad-input-webchat")
        return await chat.say({"message": NORMAL, "session_id": "bad-input-webchat",
                               "customData": {"token": bearer}})

    parts = webchat(bad_input)
    problems = check("webchat", kind, None, "", webchat_text(parts), "R7001", closed=parts is None)
    if parts is None:
        STATS.closed.append(kind.name)
    problems += [f"webchat / {kind.name}: {w}" for w in widget_parts(parts or [])]
    hand_back_if_handed_off(reliable.rasa_port, "webchat", kind, webchat_text(parts))
    # The same conversation (on a new socket if the server closed this one) still answers.
    answer = webchat(normal_question)
    problems += recovered("webchat", kind, answers_normally(webchat_text(answer)),
                          json.dumps(answer, ensure_ascii=False))
    finish(problems)


# --- agent desk ------------------------------------------------------------------------------

DESK_CUSTOMER = "bad-input-desk-customer"
DESK_KINDS = [k for k in KINDS if k.category in ("text", "value", "raw", "body")]


@pytest.fixture(scope="module")
def ticket(reliable) -> Tuple[int, Dict[str, str]]:
    """A ticket of an anonymous REST conversation, claimed by an agent."""
    status, raw, parsed = http(reliable.rasa_port, "POST", REST,
                               {"sender": DESK_CUSTOMER, "message": "转人工"})
    assert status == 200, raw
    found = re.search(r"工[单單]号[::]\s*(\d+)", reply_text(parsed))
    assert found, reply_text(parsed)
    number = int(found.group(1))
    bearer = {"Authorization": f"Bearer {token('agent-bad-input', role='agent')}"}
    status, raw, _ = http(reliable.rasa_port, "POST", f"/webhooks/agent/tickets/{number}/claim",
                          None, bearer)
    assert status == 200, raw
    return number, bearer


@pytest.mark.parametrize("kind", DESK_KINDS, ids=[k.name for k in DESK_KINDS])
def test_agent_desk(reliable, ticket, kind: Kind) -> None:
    number, bearer = ticket
    path = f"/webhooks/agent/tickets/{number}/messages"
    body, headers = build(kind, {"text": ""}, ("text",), None)
    status, raw, parsed = http(reliable.rasa_port, "POST", path, body, {**headers, **bearer})
    sent = parsed.get("sent") if isinstance(parsed, dict) else None
    problems = check("agent", kind, status, raw, sent if isinstance(sent, str) else "", None)
    # The desk still works on the ticket.
    status, raw, parsed = http(reliable.rasa_port, "POST", path, {"text": "您好,客服在这里。"}, bearer)
    ok_ = status == 200 and isinstance(parsed, dict) and parsed.get("sent")
    status, raw2, _ = http(reliable.rasa_port, "GET", f"/webhooks/agent/tickets/{number}", None,
                           bearer)
    problems += recovered("agent", kind, bool(ok_) and status == 200, raw + raw2)
    finish(problems)


def test_agent_desk_hands_back_and_the_conversation_continues(reliable, ticket) -> None:
    """After the agent's messages (bad ones included) and the hand-back, the assistant answers
    again, and the agent's messages reach the merchant as text."""
    number, bearer = ticket
    status, raw, _ = http(reliable.rasa_port, "POST", f"/webhooks/agent/tickets/{number}/handback",
                          None, bearer)
    assert status == 200, raw
    status, raw, parsed = http(reliable.rasa_port, "POST", REST,
                               {"sender": DESK_CUSTOMER, "message": NORMAL})
    assert status == 200 and not any(m in raw for m in STACK_TRACE_MARKERS), raw
    assert answers_normally(reply_text(parsed)), raw
    assert all(isinstance(r.get("text"), str) for r in parsed)


# --- the server afterwards, and the figure ---------------------------------------------------

def test_the_server_still_serves_and_the_figure(reliable) -> None:
    status, raw, _ = http(reliable.rasa_port, "GET", "/webhooks/rest/")
    assert status == 200, raw
    status, raw, parsed = http(reliable.rasa_port, "POST", REST,
                               {"sender": "bad-input-after", "message": NORMAL})
    assert status == 200 and answers_normally(reply_text(parsed)), raw

    expected = ({(channel, k.name) for channel in ("rest", "merchant", "dingtalk") for k in KINDS}
                | {("webchat", k.name) for k in WEBCHAT_KINDS}
                | {("agent", k.name) for k in DESK_KINDS})
    if STATS.checked != expected:
        pytest.skip("only part of the module ran: no figure")
    recovery = (f"{STATS.not_recovered} conversations stopped answering" if STATS.not_recovered
                else "every conversation answered a normal question afterwards")
    notes = ""
    if STATS.handed_off:
        notes += ("; read by the NLU as asking for a human (ticket opened, handed back): "
                  + ", ".join(f"{name} ({len(channels)} channels)"
                              for name, channels in STATS.handed_off.items()))
    if STATS.closed:
        notes += ("; web chat socket closed by the server (engine.io's 1 MB limit), the "
                  f"conversation went on over a new one: {', '.join(STATS.closed)}")
    FIGURES["bad input"] = (
        f"bad input: {len(STATS.kinds)} kinds, {STATS.requests} requests over "
        f"{len(STATS.channels)} channels: {STATS.server_errors} server errors (5xx), "
        f"{STATS.stack_traces} stack traces, {STATS.leaks} leaks; {recovery}{notes}")
    assert len(STATS.kinds) >= 30 and len(STATS.channels) == 5
    failures = (STATS.server_errors, STATS.stack_traces, STATS.leaks, STATS.not_recovered)
    assert failures == (0, 0, 0, 0), "\n".join(STATS.problems)
