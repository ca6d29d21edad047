"""DingTalk outgoing robot: POST /webhooks/dingtalk/webhook, replies through the session webhook.

DingTalk signs each callback: header `timestamp` (ms) and `sign` =
base64(HMAC-SHA256(app secret, timestamp + "\\n" + app secret)). Requests with a bad or missing
signature, or a timestamp more than an hour off, get 401. A sender (`senderStaffId`) linked to
a merchant in the `dingtalk_users` table speaks as that merchant (sealed like the merchant
channel); anyone else gets programme answers only. Replies go to the message's
`sessionWebhook`, only on hosts allowed by $DINGTALK_WEBHOOK_HOSTS (default oapi.dingtalk.com).

Settings: $DINGTALK_APP_SECRET (the robot's AppSecret; without it the channel answers 503),
$DINGTALK_WEBHOOK_HOSTS (comma-separated host names).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text
from urllib.parse import urlsplit

import aiohttp
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import limits
from bot.channels.auth import audit_refusal
from bot.channels.delivery import BadRequest, json_object, message_text, unavailable
from bot.channels.guard import printable_id
from bot.channels.linked import linked_turn
from core import settings
from core.db.models import DingTalkUser
from core.identity import secret
from core.logsafe import failure

logger = logging.getLogger(__name__)
MAX_CLOCK_SKEW_MS = 60 * 60 * 1000
DEFAULT_WEBHOOK_HOSTS = ("oapi.dingtalk.com",)


def signature(app_secret: str, timestamp: str) -> str:
    """DingTalk's signature of a callback."""
    digest = hmac.new(app_secret.encode(), f"{timestamp}\n{app_secret}".encode(),
                      hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(app_secret: str, timestamp: Optional[str], sign: Optional[str],
           now_ms: Optional[int] = None) -> Optional[str]:
    """None when the callback is genuine and fresh; otherwise why it is refused."""
    if not timestamp or not sign:
        return "missing timestamp or sign header"
    # ASCII digits of a millisecond time: isdigit() alone takes "²" and more digits than int() reads.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 16):
        return "bad timestamp"
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(now_ms - int(timestamp)) > MAX_CLOCK_SKEW_MS:
        return "stale timestamp"
    if not hmac.compare_digest(signature(app_secret, timestamp).encode(), sign.encode()):
        return "bad signature"
    return None


def conversation_for(key: str, staff_id: str) -> str:
    """A DingTalk sender's conversation id (unguessable to other channels' clients)."""
    tag = hmac.new(key.encode(), f"dingtalk\x1f{staff_id}".encode(), hashlib.sha256).hexdigest()
    return f"dingtalk:{tag[:24]}"


def to_dingtalk(message: Dict[str, Any]) -> Dict[str, Any]:
    """A reply as a DingTalk message: text, or markdown listing the choices it offers."""
    text = message.get("text") or ""
    buttons = [b.get("title") for b in message.get("buttons") or [] if b.get("title")]
    if not buttons:
        return {"msgtype": "text", "text": {"content": text}}
    lines = [text, ""] + [f"- {title}" for title in buttons]
    return {"msgtype": "markdown",
            "markdown": {"title": text.splitlines()[0][:30] if text else buttons[0],
                         "text": "\n".join(lines)}}


def linked_merchant(session, staff_id: str) -> Optional[str]:
    """The merchant a DingTalk account speaks for, if it has been linked."""
    user = session.get(DingTalkUser, staff_id)
    return user.merchant_id if user else None


def webhook_hosts() -> List[str]:
    """Hosts replies may be posted to."""
    return settings.dingtalk_webhook_hosts() or list(DEFAULT_WEBHOOK_HOSTS)


class DingTalkInput(InputChannel):
    """DingTalk's outgoing robot callback."""

    @classmethod
    def name(cls) -> Text:
        return "dingtalk"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "DingTalkInput":
        return cls((credentials or {}).get("app_secret"))

    def __init__(self, app_secret: Optional[str] = None) -> None:
        self._app_secret = app_secret

    def app_secret(self) -> Optional[str]:
        return self._app_secret or settings.dingtalk_app_secret()

    async def _send(self, url: str, messages: List[Dict[str, Any]]) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            for message in messages:
                async with http.post(url, json=to_dingtalk(message)) as reply:
                    if reply.status >= 400:
                        logger.error("DingTalk session webhook answered %s", reply.status)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("dingtalk_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.app_secret() else "not configured"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            app_secret = self.app_secret()
            key = secret()
            if not app_secret or not key:
                return response.json({"error": "DingTalk channel not configured"}, status=503)
            refused = verify(app_secret, request.headers.get("timestamp"),
                             request.headers.get("sign"))
            if refused:
                await audit_refusal(self.name(), refused, source=limits.client_address(request))
                return response.json({"error": refused}, status=401)
            try:
                body = json_object(request)
            except BadRequest as e:
                return e.response()
            staff_id = body.get("senderStaffId") or body.get("senderId")
            webhook = body.get("sessionWebhook")
            content = (body.get("text") or {}).get("content") if isinstance(body.get("text"), dict) else None
            if body.get("msgtype") != "text" or not isinstance(content, str):
                return response.json({"error": "only text messages are understood"}, status=400)
            if staff_id is not None and not isinstance(staff_id, str):
                return response.json({"error": "'senderStaffId' must be a text"}, status=400)
            if not staff_id or not staff_id.strip():
                return response.json({"error": "missing senderStaffId"}, status=400)
            if len(staff_id) > 128 or not printable_id(staff_id):
                return response.json({"error": "'senderStaffId' must be at most 128 characters, "
                                               "without control characters"}, status=400)
            if not isinstance(webhook, str) or urlsplit(webhook).hostname not in webhook_hosts():
                return response.json({"error": "sessionWebhook not on an allowed host"}, status=400)
            try:
                content = message_text(content, "text.content")
            except BadRequest as e:
                return e.response()
            message_id = body.get("msgId")
            message_id = message_id[:128] if isinstance(message_id, str) and message_id else None
            if message_id and not limits.shared().first_time(
                    self.name(), message_id, MAX_CLOCK_SKEW_MS // 1000 * 2):
                # A signed callback is valid for an hour: the same message sent again is dropped.
                await audit_refusal(self.name(), f"replayed message: {message_id[:64]}",
                                    source=limits.client_address(request))
                return response.json({"delivered": 0, "duplicate": True})
            sender = conversation_for(key, staff_id)
            # No client address: every callback comes from DingTalk's servers, not the user's.
            metadata: Dict[str, Any] = {"dingtalk_conversation": body.get("conversationId")}
            replies = await linked_turn(self.name(), request, on_new_message, key, sender, staff_id,
                                        content, linked_merchant, metadata)
            if replies is None:
                if message_id:
                    limits.shared().forget(self.name(), message_id)  # DingTalk's retry is taken
                return unavailable()
            try:
                await self._send(webhook, replies)
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                logger.error("DingTalk session webhook not reached: %s", failure(e))
                return response.json({"error": "reply not delivered"}, status=502)
            return response.json({"delivered": len(replies)})

        return hook
