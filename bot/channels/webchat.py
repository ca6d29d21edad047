"""Web chat: a chat page for signed-in merchants, and the socket.io channel it talks over.

GET /webhooks/webchat/ serves the page (web/index.html) with the rasa-webchat widget
(web/node_modules/rasa-webchat/lib/index.js, installed from npm by `make web`; nothing is
loaded from elsewhere). The widget connects to socket.io at /webhooks/webchat/socket.io/ and
sends each message as `user_uttered` {"message", "customData": {"token": JWT}, "session_id"}.

Identity comes only from the token, verified on every message like the merchant channel's
bearer token (HS256 with $ASSISTANT_JWT_SECRET, claims `sub`, `role`, `exp`): the
conversation id is derived from it (the same conversation as the merchant channel's), and
the identity is sealed into the message metadata, so the action server trusts it only for
this channel and conversation, until the token expires. The widget's session id and
metadata are ignored. A message without a valid token (missing, malformed, wrongly signed
or expired) is not processed at all: the page is for signed-in merchants only, and the
widget is told to sign in again (anonymous visitors have the public REST channel).

Like every channel, "/intent{...}" text is read as an intent only when it is the payload of
a button just offered. Replies go back to the socket that asked (text, suggestion buttons as
`quick_replies`), followed by messages from a human agent waiting in the handoff outbox;
while an agent holds the conversation, the page also receives the agent's messages as they
come (checked every few seconds, for as long as a page of that conversation is connected).

Only pages of the Rasa server's own origin may connect (`cors_allowed_origins` in
credentials.yml to allow others). With several Rasa servers behind a load balancer, the
balancer must keep a socket.io client on one server (sticky sessions).
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, BotUttered
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot import agent_relay
from bot.channels import limits
from bot.channels.auth import audit_refusal, bearer_identity, token_identity, unauthorised
from bot.channels.delivery import MAX_MESSAGE_CHARS, UNAVAILABLE_NOTICE, deliver
from bot.channels.guard import guarded, valid_text
from bot.channels.limits import TOO_MANY
from bot.channels.understanding import understood
from bot.nlg import convert_response, reply_script
from core import contract, script
from core.db import tickets
from core.identity import Identity, InvalidToken, conversation_id, seal, secret
from core.logsafe import failure
from core.settings import PROJECT

logger = logging.getLogger(__name__)

PAGE_DIR = PROJECT / "web"
# The widget as published on npm: one prebuilt file (React included).
WIDGET = PAGE_DIR / "node_modules" / "rasa-webchat" / "lib" / "index.js"
STATIC = {"webchat.js": WIDGET, "page.js": PAGE_DIR / "page.js", "page.css": PAGE_DIR / "page.css"}
# How often the outbox of a conversation held by a human agent is checked for the page.
AGENT_POLL_SECONDS = 3.0
# How often an open page of a signed-in merchant is given the tier alerts that wait for them.
ALERT_POLL_SECONDS = 30.0
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # whole string: fullmatch
# The widget's stylesheets import a web font from Google's servers. The page loads nothing
# from elsewhere (its Content-Security-Policy would block it anyway), so the import is left
# out of the widget as served and the browser's own fonts are used.
OUTSIDE_IMPORT = re.compile(rb"@import url\(https?://[^)\"]*\);?")

SIGN_IN = "您还没有登录或登录已过期,请从商家后台重新打开在线客服。"
TOO_LONG = f"消息太长了,请分几次发送(每条最多{MAX_MESSAGE_CHARS}字)。"
# For a `user_uttered` event without a text message (the widget always sends one).
NOT_TEXT = "只能发送文字消息,请直接输入您的问题。"
# The chat window's banner while a person has the conversation (GET .../state).
HANDOFF_WAITING = "已转人工客服(工单号:{ticket}),正在等待客服接入,您可以继续留言。"
HANDOFF_WITH_AGENT = "人工客服正在为您服务(工单号:{ticket})。"
# Before a human agent's message in the chat window.
AGENT_MARK = "【人工客服】"
# What the page sends when the chat window opens (web/page.js), and the response it gets.
OPENING_PAYLOAD = "/chat_opening"
OPENING_RESPONSE = "utter_chat_opening"


def browser_script(language: Any) -> Optional[str]:
    """The script of a browser's language (navigator.language): zh-TW, zh-HK, zh-MO and
    zh-Hant read traditional; anything else simplified (None)."""
    if not isinstance(language, str):
        return None
    tag = language.strip().lower().replace("_", "-")
    if tag.startswith(("zh-hk", "zh-mo")):
        return script.HONG_KONG
    if tag.startswith(("zh-tw", "zh-hant")):
        return script.TAIWAN
    return None

# The page loads only its own files; the widget injects its styles and connects back here.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; connect-src 'self'; "
                               "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "font-src 'self' data:; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


async def serve_page(request: Request, page: Path) -> HTTPResponse:
    """A page of ours (the chat page, the agent console) at its folder's address, with the
    security headers. The page refers to its files relative to its own address, so a request
    without the trailing slash is redirected; the query is dropped (the chat page reads its
    token from the fragment, which browsers keep across the redirect and never send)."""
    if not request.path.endswith("/"):
        return response.redirect(f"{request.path}/", status=301)
    return await response.file(page, headers=SECURITY_HEADERS, mime_type="text/html; charset=utf-8")


def in_script_of(text: str, written: Optional[str]) -> str:
    """A notice from the channel in the script of what the merchant wrote."""
    return script.from_simplified(text, script.detect_script(script.clean(written or "")))


def to_widget(message: Dict[str, Any]) -> List[Dict[str, Any]]:
    """A reply as rasa-webchat messages: text, text with suggestion buttons, or an image.

    As Rasa's socket.io channel sends them: paragraphs separately, buttons as quick replies
    on the last one. Only titles and payloads of buttons are passed on (no links).
    """
    out: List[Dict[str, Any]] = []
    text = message.get("text")
    custom = message.get("custom")
    if isinstance(text, str) and isinstance(custom, dict) and custom.get("from") == "agent":
        # Written by a person, not the assistant: the merchant sees who is answering.
        text = AGENT_MARK + text
    buttons = [b for b in message.get("buttons") or []
               if isinstance(b, dict) and isinstance(b.get("title"), str)
               and isinstance(b.get("payload"), str)]
    if isinstance(text, str) and text.strip():
        out = [{"text": part} for part in text.strip().split("\n\n") if part.strip()]
    if buttons:
        if not out:
            out = [{"text": ""}]
        out[-1]["quick_replies"] = [{"content_type": "text", "title": b["title"],
                                     "payload": b["payload"]} for b in buttons]
    image = message.get("image")
    if isinstance(image, str) and image:
        out.append({"attachment": {"type": "image", "payload": {"src": image}}})
    return out


_served: Dict[Path, Any] = {}


def served(path: Path) -> bytes:
    """A file of the page as served (read once per version of the file)."""
    mtime = path.stat().st_mtime_ns
    cached = _served.get(path)
    if cached is None or cached[0] != mtime:
        body = path.read_bytes()
        if path == WIDGET:
            body = OUTSIDE_IMPORT.sub(b"", body)
        cached = _served[path] = (mtime, body)
    return cached[1]


class _Blueprint(SocketBlueprint):
    """Attaches socket.io under the channel's own prefix and remembers the app."""

    def __init__(self, channel: "WebchatInput", sio: AsyncServer) -> None:
        super().__init__(sio, "", "webchat")
        self.ctx.channel = channel

    def register(self, app: Sanic, options: Dict[Text, Any]) -> None:
        prefix = (options.get("url_prefix") or self.url_prefix or "").rstrip("/")
        self.ctx.socketio_path = f"{prefix}/socket.io"
        self.ctx.channel.app = app
        super().register(app, options)


class WebchatInput(SocketIOInput):
    """rasa-webchat over socket.io, for merchants signed in with a token."""

    @classmethod
    def name(cls) -> Text:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WebchatInput":
        origins = (credentials or {}).get("cors_allowed_origins")
        if isinstance(origins, str):
            origins = [origins]
        return cls(origins)

    def __init__(self, cors_allowed_origins: Optional[List[str]] = None) -> None:
        super().__init__(user_message_evt="user_uttered", bot_message_evt="bot_uttered")
        # None: only pages served by this server (its own origin) may connect.
        self.cors_allowed_origins = cors_allowed_origins or None
        self.app: Optional[Sanic] = None
        self._watched: Dict[str, "asyncio.Task[None]"] = {}
        # Per conversation with an open page of a signed-in merchant: the tier alerts' watch.
        self._alert_watches: Dict[str, "asyncio.Task[None]"] = {}
        # Each socket's client address, for the per-address rate limit (bot/channels/limits.py).
        self._addresses: Dict[str, str] = {}
        # Each socket's conversation and its latest token's expiry: a socket hears its
        # conversation only while a token it sent is valid, and only the latest one's.
        self._rooms: Dict[str, str] = {}
        self._expires: Dict[str, int] = {}
        self._leavers: Dict[str, "asyncio.Task[None]"] = {}

    @property
    def agent(self):
        return self.app.ctx.agent if self.app is not None else None

    async def _opening(self, sender: str, language: Any) -> List[Dict[str, Any]]:
        """The chat window's greeting with suggestions, kept in the conversation (so that its
        buttons count as offered), in the script the merchant last wrote in or, before that,
        the browser's. Nothing while an agent holds the conversation: the window shows the
        conversation so far."""
        agent = self.agent
        async with agent.lock_store.lock(sender):
            # The conversation's session starts here, as it would with a first message; the
            # greeting is logged as the response action it is, then the assistant listens.
            tracker = await agent.processor.fetch_tracker_with_initial_session(sender)
            if tracker.is_paused():
                return []
            rendered = await agent.nlg.generate(OPENING_RESPONSE, tracker, self.name()) or {}
            metadata: Dict[str, Any] = {"utter_action": OPENING_RESPONSE}
            target = browser_script(language)
            if reply_script(tracker) is None and target is not None:
                rendered = convert_response(rendered, target)
                # Replies to the greeting's buttons follow the browser's script too (bot/nlg.py).
                metadata[contract.META_BROWSER_SCRIPT] = target
            text, buttons = rendered.get("text") or "", rendered.get("buttons") or []
            tracker.update(ActionExecuted(OPENING_RESPONSE))
            tracker.update(BotUttered(text, data={"buttons": buttons}, metadata=metadata))
            tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
            await agent.tracker_store.save(tracker)
        return [{"recipient_id": sender, "text": text, "buttons": buttons}]

    async def _alerts(self, sender: str, identity: Identity) -> List[Dict[str, Any]]:
        """A signed-in merchant's tier alerts that wait (docs/alerts.md): shown when the page
        opens and after each reply, each once."""
        if identity.role != "merchant":
            return []
        return await agent_relay.alerts_for_merchant(sender, identity.sub)

    async def _emit(self, messages: Iterable[Dict[str, Any]], room: str) -> None:
        for message in messages:
            for part in to_widget(message):
                await self.sio.emit(self.bot_message_evt, part, room=room)

    def _connected(self, room: str) -> bool:
        return any(True for _ in self.sio.manager.get_participants("/", room))

    async def _join(self, sid: str, room: str, expires: int) -> None:
        """Put the socket in its conversation's room until its token expires (a later token
        extends it; another merchant's token moves it out of the first one's room)."""
        previous = self._rooms.get(sid)
        if previous is not None and previous != room:
            await self.sio.leave_room(sid, previous)
        self._rooms[sid], self._expires[sid] = room, expires
        await self.sio.enter_room(sid, room)
        leaver = self._leavers.get(sid)
        if leaver is None or leaver.done():
            self._leavers[sid] = asyncio.ensure_future(self._leave_on_expiry(sid))

    async def _leave_on_expiry(self, sid: str) -> None:
        while True:
            remaining = self._expires.get(sid, 0) - time.time()
            if remaining <= 0:
                break
            await asyncio.sleep(min(remaining, 60))
        room = self._rooms.pop(sid, None)
        if room is not None:
            await self.sio.leave_room(sid, room)

    def _forget(self, sid: str) -> None:
        for table in (self._addresses, self._rooms, self._expires):
            table.pop(sid, None)
        leaver = self._leavers.pop(sid, None)
        if leaver is not None:
            leaver.cancel()

    def _watch(self, conversation: str) -> None:
        """Pass an agent's messages on to the pages of a conversation held by an agent."""
        task = self._watched.get(conversation)
        if task is not None and not task.done():
            return

        async def watch() -> None:
            try:
                # Pages leave the room when their token expires (_leave_on_expiry): the watch
                # goes on while any page signed in with a valid token is there.
                while self._connected(conversation):
                    await asyncio.sleep(AGENT_POLL_SECONDS)
                    await self._emit(await agent_relay.pending_for_merchant(conversation),
                                     conversation)
                    tracker = await self.agent.tracker_store.retrieve(conversation)
                    if tracker is None or not tracker.is_paused():
                        # Handed back: the notice has just been passed on.
                        return
            except Exception as e:  # noqa: BLE001 - the merchant's next message gets them
                logger.error("webchat: agent messages not passed on: %s", failure(e))
            finally:
                self._watched.pop(conversation, None)

        self._watched[conversation] = asyncio.ensure_future(watch())

    def _watch_alerts(self, conversation: str, identity: Identity) -> None:
        """While a signed-in merchant's page is open, pass on their tier alerts as they come."""
        task = self._alert_watches.get(conversation)
        if identity.role != "merchant" or (task is not None and not task.done()):
            return

        async def watch() -> None:
            try:
                while self._connected(conversation):
                    await asyncio.sleep(ALERT_POLL_SECONDS)
                    if self._connected(conversation):
                        await self._emit(await agent_relay.alerts_for_merchant(conversation, identity.sub),
                                         conversation)
            except Exception as e:  # noqa: BLE001 - the next reply or opening brings them
                logger.error("webchat: tier alerts not passed on: %s", failure(e))
            finally:
                self._alert_watches.pop(conversation, None)

        self._alert_watches[conversation] = asyncio.ensure_future(watch())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=self.cors_allowed_origins)
        self.sio = sio
        hook = _Blueprint(self, sio)

        async def page(request: Request) -> HTTPResponse:
            return await serve_page(request, PAGE_DIR / "index.html")

        hook.add_route(page, "/", methods=["GET"], name="page")

        @hook.route("/<name:str>", methods=["GET"])
        async def static(request: Request, name: str) -> HTTPResponse:
            if not name:  # the prefix with its trailing slash
                return await page(request)
            path = STATIC.get(name)
            if path is None:
                return response.json({"error": "not found"}, status=404)
            if not path.is_file():
                return response.text(f"{name} is not installed: run `make web`", status=503)
            kind = "text/css" if name.endswith(".css") else "application/javascript"
            return response.raw(served(path), headers=SECURITY_HEADERS,
                                content_type=f"{kind}; charset=utf-8")

        @hook.route("/state", methods=["GET"])
        async def state(request: Request) -> HTTPResponse:
            """Whether a person has the merchant's conversation (the page's banner), in the
            merchant's script: the conversation's open ticket, one indexed read (the page asks
            every few seconds; the conversation itself is not loaded)."""
            try:
                identity = bearer_identity(request)
            except InvalidToken as e:
                return await unauthorised(self.name(), e, request)
            sender = conversation_id(secret() or "", identity)
            try:
                ticket = await agent_relay.in_transaction(tickets.active_ticket, sender)
            except Exception as e:  # noqa: BLE001 - the page asks again; it must not see a 500
                logger.error("web chat state not read: %s", failure(e))
                return response.json({"error": "state unavailable; try again shortly"}, status=503)
            if ticket is None:
                return response.json({"handoff": None})
            notice = HANDOFF_WITH_AGENT if ticket.status == tickets.CLAIMED else HANDOFF_WAITING
            text = script.from_simplified(notice.format(ticket=ticket.id), ticket.script)
            return response.json({"handoff": {"ticket": str(ticket.id), "status": ticket.status,
                                              "text": text}})

        @hook.route("/health", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if WIDGET.is_file() else "widget not installed"})

        @sio.on("connect")
        async def connect(sid: Text, environ: Dict, auth: Optional[Dict] = None) -> bool:
            # Anyone may connect; every message is checked for its token.
            request = environ.get("sanic.request")
            self._addresses[sid] = limits.client_address(request) if request is not None else "?"
            return True

        @sio.on("disconnect")
        async def disconnect(sid: Text) -> None:
            self._forget(sid)

        @sio.on("session_request")
        async def session_request(sid: Text, data: Any = None, *ignored: Any) -> None:
            # The widget's own key for its local history; conversations come from tokens.
            wanted = data.get("session_id") if isinstance(data, dict) else None
            session = wanted if isinstance(wanted, str) and SESSION_ID.fullmatch(wanted) \
                else uuid.uuid4().hex
            await sio.emit("session_confirm", session, room=sid)

        @sio.on(self.user_message_evt)
        async def handle_message(sid: Text, data: Any = None, *ignored: Any) -> None:
            # Whatever a client sends gets an answer, never silence: a message that is not
            # text is told so; an empty one is the assistant's to answer, as on every channel.
            text = data.get("message") if isinstance(data, dict) else None
            if not isinstance(text, str):
                await self._emit([{"text": NOT_TEXT}], sid)
                return
            text = valid_text(text)
            custom = data.get("customData")
            token = custom.get("token") if isinstance(custom, dict) else None
            try:
                identity = token_identity(token)
            except InvalidToken as e:
                await audit_refusal(self.name(), str(e), source=self._addresses.get(sid))
                await self._emit([{"text": in_script_of(SIGN_IN, text)}], sid)
                return
            if len(text) > MAX_MESSAGE_CHARS:
                await self._emit([{"text": in_script_of(TOO_LONG, text[:200])}], sid)
                return
            # The conversation belongs to the token's subject, whatever the widget says.
            key = secret() or ""  # set: token_identity verified the token with it
            sender = conversation_id(key, identity)
            address = self._addresses.get(sid, "?")
            wait = limits.shared().message(self.name(), address, sender)
            if wait is not None:
                await self._emit([{"text": in_script_of(TOO_MANY.format(seconds=wait), text)}], sid)
                return
            await self._join(sid, sender, identity.expires)
            self._watch_alerts(sender, identity)
            agent = self.agent
            if text == OPENING_PAYLOAD:
                try:
                    opening = await self._opening(sender, custom.get("language"))
                except Exception as e:  # noqa: BLE001 - the window says so instead of staying silent
                    logger.error("web chat greeting not sent: %s", failure(e))
                    opening = [{"text": UNAVAILABLE_NOTICE}]
                await self._emit(opening + await self._alerts(sender, identity), sid)
                return

            async def turn() -> List[Dict[str, Any]]:
                collector = CollectingOutputChannel()
                message = await guarded(agent, sender, text, self.name(), identity, address)
                await on_new_message(await understood(agent, UserMessage(
                    message, collector, sender, input_channel=self.name(),
                    metadata={**seal(key, sender, identity),
                               limits.CLIENT_ADDRESS: address})))
                return await agent_relay.replies_for_merchant(agent, sender, collector.messages,
                                                          self.name())

            replies = await deliver(turn(), sender)
            if replies is None:
                await self._emit([{"text": in_script_of(UNAVAILABLE_NOTICE, text)}], sid)
                return
            await self._emit(replies + await self._alerts(sender, identity), sid)
            tracker = await agent.tracker_store.retrieve(sender)
            if tracker is not None and tracker.is_paused():
                self._watch(sender)

        return hook
