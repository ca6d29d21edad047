"""WeCom (企业微信) app: callbacks at /webhooks/wecom/webhook, replies through WeCom's send API.

WeCom calls the app's callback URL with `msg_signature`, `timestamp` (seconds) and `nonce` in
the query; msg_signature is the SHA-1 of the Token, the timestamp, the nonce and the encrypted
text, sorted and joined. GET is WeCom checking the URL when an administrator saves it: the
query carries `echostr`, encrypted, and the answer is its plain text. POST carries a message as
XML whose `Encrypt` element is the message, AES-encrypted with the EncodingAESKey;
wechatpy's WeCom crypto decrypts it and checks that it is meant for this organisation (CorpID).

Refused, with an audit row (bot.channels.auth.audit_refusal) and the caller's address: a missing
or bad signature or a timestamp more than five minutes off (401), a body over 64 KiB (413), a
body that is not WeCom's encrypted XML or does not decrypt to a message (400), a message id
already taken (409: WeCom sends a message again when its callback was not answered within five
seconds, and the first one is answered already).

A text message is answered through WeCom's send API as the app ($WECOM_AGENT_ID), in the
script the merchant wrote in; choices the assistant offers are listed under the text. The send
API takes an access token, fetched with the app's Secret and kept until shortly before it
expires, and fetched anew when WeCom says it is invalid or expired (errcode 40014, 42001). The
callback itself is answered 200 with an empty body, which WeCom reads as "no passive reply".
A sender (FromUserName, the member's UserID) linked to a merchant in the `wecom_users` table
(`python -m actions.cli link-wecom USER_ID MERCHANT_ID`) speaks as that merchant, sealed like
the merchant channel; anyone else gets programme answers only. Events (the app opened, ...)
and messages other than text are taken (200) and not answered.

Settings: $WECOM_CORP_ID, $WECOM_TOKEN, $WECOM_ENCODING_AES_KEY, $WECOM_SECRET and
$WECOM_AGENT_ID (without them the channel answers 503), $WECOM_API_BASE (default
https://qyapi.weixin.qq.com).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple

import aiohttp
import xmltodict
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import limits
from bot.channels.auth import audit_refusal
from bot.channels.delivery import BadRequest, message_text, unavailable
from bot.channels.guard import printable_id
from bot.channels.linked import linked_turn
from core import settings
from core.db.models import WeComUser
from core.identity import secret
from core.logsafe import failure


def _crypto(config: Any) -> Any:
    """WeCom's message crypto for the app (wechatpy's), imported when the channel is first
    used: a Rasa server without WeCom callbacks does not load it."""
    from wechatpy.enterprise.crypto import WeChatCrypto

    return WeChatCrypto(config.token, config.aes_key, config.corp_id)


logger = logging.getLogger(__name__)
MAX_CLOCK_SKEW_SECONDS = 5 * 60
# A message of 4,000 characters, encrypted and base64-encoded, is about 17 KiB.
MAX_BODY_BYTES = 64 * 1024
# WeCom cuts a text message after 2,048 bytes: longer replies go out in several messages.
MAX_TEXT_BYTES = 2048
# WeCom's errcodes for an access token that is invalid (40014) or expired (42001).
TOKEN_REFRESH_CODES = (40014, 42001)
# A token is used until this long before WeCom says it expires (half its life if that is shorter).
TOKEN_EARLY_REFRESH_SECONDS = 300
DEFAULT_TOKEN_SECONDS = 7200


class WeComError(Exception):
    """WeCom's API refused a call or answered something else than its JSON."""


@dataclass(frozen=True)
class WeComConfig:
    """The app's settings, complete."""

    corp_id: str
    token: str
    aes_key: str
    secret: str
    agent_id: int
    api_base: str


def valid_aes_key(encoding_aes_key: str) -> bool:
    """Whether the EncodingAESKey is what WeCom generates: 43 base64 characters of a 32-byte key."""
    if len(encoding_aes_key) != 43:
        return False
    try:
        return len(base64.b64decode(encoding_aes_key + "=", validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """WeCom's msg_signature of a callback."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce, encrypted))).encode()).hexdigest()


def check_query(timestamp: Optional[str], nonce: Optional[str], msg_signature: Optional[str],
                now: Optional[float] = None) -> Optional[str]:
    """None when the query has what a callback carries and its timestamp is fresh; otherwise why
    it is refused."""
    if not timestamp or not nonce or not msg_signature:
        return "missing msg_signature, timestamp or nonce"
    # ASCII digits of a time in seconds: isdigit() alone takes "²" and more digits than int() reads.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return "bad timestamp"
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        return "stale timestamp"
    return None


def signed(token: str, timestamp: str, nonce: str, encrypted: str, msg_signature: str) -> bool:
    """Whether msg_signature is the Token's signature of the callback."""
    return hmac.compare_digest(signature(token, timestamp, nonce, encrypted).encode(),
                               msg_signature.encode("utf-8", "replace"))


def xml_fields(raw: str) -> Dict[str, Any]:
    """The elements of a WeCom XML document (<xml>...</xml>), by name; ValueError when the text
    is no such document. Entity declarations are refused (no entity expansion)."""
    try:
        document = xmltodict.parse(raw, disable_entities=True)
    except Exception as e:  # noqa: BLE001 - expat's and xmltodict's errors differ by the flaw
        raise ValueError(f"not XML ({e.__class__.__name__})") from None
    fields = document.get("xml") if isinstance(document, dict) else None
    if not isinstance(fields, dict):
        raise ValueError("not a WeCom <xml> document")
    return fields


def conversation_for(key: str, corp_id: str, user_id: str) -> str:
    """A WeCom member's conversation id (unguessable to other channels' clients)."""
    tag = hmac.new(key.encode(), f"wecom\x1f{corp_id}\x1f{user_id}".encode(),
                   hashlib.sha256).hexdigest()
    return f"wecom:{tag[:24]}"


def pieces(text: str, limit: int = MAX_TEXT_BYTES) -> List[str]:
    """The text in pieces of at most `limit` UTF-8 bytes, cut between lines where it can be."""
    out: List[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode()) <= limit:
            current = candidate
            continue
        if current:
            out.append(current)
        current = ""
        for ch in line:
            if len((current + ch).encode()) > limit:
                out.append(current)
                current = ""
            current += ch
    if current or not out:
        out.append(current)
    return [piece for piece in out if piece.strip()]


def to_wecom(message: Dict[str, Any]) -> List[str]:
    """A reply as the texts of WeCom text messages: the text, then the choices it offers."""
    text = message.get("text") or ""
    buttons = [b.get("title") for b in message.get("buttons") or [] if b.get("title")]
    if buttons:
        text = "\n".join(([text, ""] if text else []) + [f"- {title}" for title in buttons])
    return pieces(text) if text.strip() else []


def linked_merchant(session, user_id: str) -> Optional[str]:
    """The merchant a WeCom account speaks for, if it has been linked."""
    user = session.get(WeComUser, user_id)
    return user.merchant_id if user else None


def scrubbed(text: str, *hidden: Optional[str]) -> str:
    """The text without the secret and token values (an error's text may hold a URL)."""
    for value in hidden:
        if value:
            text = text.replace(value, "***")
    return text


class AccessTokens:
    """The app's access token for the send API: fetched with its Secret, kept until shortly before
    it expires; one fetch at a time."""

    def __init__(self) -> None:
        self._kept: Dict[Tuple[str, str, str], Tuple[str, float]] = {}
        self._lock: Optional[asyncio.Lock] = None

    async def get(self, http: aiohttp.ClientSession, config: WeComConfig,
                  stale: Optional[str] = None) -> str:
        """A valid token; a new one when the kept one has expired or is `stale` (WeCom refused it)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        key = (config.api_base, config.corp_id, config.secret)
        async with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0] != stale and time.monotonic() < kept[1]:
                return kept[0]
            self._kept.pop(key, None)
            token, seconds = await self._fetch(http, config)
            keep = max(seconds - TOKEN_EARLY_REFRESH_SECONDS, seconds / 2)
            self._kept[key] = (token, time.monotonic() + keep)
            return token

    @staticmethod
    async def _fetch(http: aiohttp.ClientSession, config: WeComConfig) -> Tuple[str, float]:
        answer = await call(http, "GET", f"{config.api_base}/cgi-bin/gettoken",
                            {"corpid": config.corp_id, "corpsecret": config.secret})
        token, seconds = answer.get("access_token"), answer.get("expires_in", DEFAULT_TOKEN_SECONDS)
        if answer.get("errcode", 0) != 0 or not isinstance(token, str) or not token:
            raise WeComError(f"gettoken: errcode {answer.get('errcode')}, {answer.get('errmsg')}")
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds <= 0:
            seconds = DEFAULT_TOKEN_SECONDS
        return token, float(seconds)


async def call(http: aiohttp.ClientSession, method: str, url: str, params: Dict[str, str],
               body: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """WeCom's JSON answer to one API call; WeComError when there is none (its text never holds
    the query: the Secret or the access token)."""
    path = url.rsplit("/", 1)[-1]
    try:
        async with http.request(method, url, params=params, json=body) as reply:
            if reply.status >= 400:
                raise WeComError(f"{path}: HTTP {reply.status}")
            try:
                answer = await reply.json(content_type=None)
            except ValueError:
                raise WeComError(f"{path}: answer is not JSON") from None
    except aiohttp.ClientError as e:
        raise WeComError(f"{path}: {e.__class__.__name__}: "
                         f"{scrubbed(str(e), *params.values())}") from None
    if not isinstance(answer, dict):
        raise WeComError(f"{path}: answer is not a JSON object")
    return answer


class WeComInput(InputChannel):
    """WeCom's callbacks for a self-built app (自建应用, 接收消息 set to API)."""

    @classmethod
    def name(cls) -> Text:
        return "wecom"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WeComInput":
        given = credentials or {}
        return cls({k: str(given[k]) for k in ("corp_id", "token", "encoding_aes_key", "secret",
                                              "agent_id", "api_base") if given.get(k)})

    def __init__(self, credentials: Optional[Dict[str, str]] = None) -> None:
        self._credentials = dict(credentials or {})
        self.tokens = AccessTokens()

    def config(self) -> Optional[WeComConfig]:
        """The app's settings (credentials.yml before the environment); None when one is missing
        or unusable."""
        given = self._credentials
        corp_id = given.get("corp_id") or settings.wecom_corp_id()
        token = given.get("token") or settings.wecom_token()
        aes_key = given.get("encoding_aes_key") or settings.wecom_encoding_aes_key()
        app_secret = given.get("secret") or settings.wecom_secret()
        agent_id = given.get("agent_id") or settings.wecom_agent_id()
        if not (corp_id and token and aes_key and app_secret and agent_id):
            return None
        if not valid_aes_key(aes_key):
            logger.error("WeCom channel: the EncodingAESKey is not 43 base64 characters of a 32-byte key")
            return None
        if not (agent_id.isascii() and agent_id.isdigit()):
            logger.error("WeCom channel: the AgentId is not a number")
            return None
        return WeComConfig(corp_id, token, aes_key, app_secret, int(agent_id),
                           (given.get("api_base") or settings.wecom_api_base()).rstrip("/"))

    async def _post(self, http: aiohttp.ClientSession, config: WeComConfig,
                    payload: Dict[str, Any]) -> None:
        token = await self.tokens.get(http, config)
        for attempt in (1, 2):
            answer = await call(http, "POST", f"{config.api_base}/cgi-bin/message/send",
                                {"access_token": token}, payload)
            code = answer.get("errcode", 0)
            if code == 0:
                return
            if code in TOKEN_REFRESH_CODES and attempt == 1:
                token = await self.tokens.get(http, config, stale=token)
                continue
            raise WeComError(f"message/send: errcode {code}, {answer.get('errmsg')}")

    async def _send(self, config: WeComConfig, user_id: str, messages: List[Dict[str, Any]]) -> int:
        """Send the replies to the member as the app; how many WeCom messages went out."""
        sent = 0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            for message in messages:
                for text in to_wecom(message):
                    await self._post(http, config, {"touser": user_id, "msgtype": "text",
                                                    "agentid": config.agent_id,
                                                    "text": {"content": text}, "safe": 0})
                    sent += 1
        return sent

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("wecom_webhook", __name__)

        async def refuse(request: Request, status: int, reason: str) -> HTTPResponse:
            await audit_refusal(self.name(), reason, source=limits.client_address(request))
            return response.json({"error": reason}, status=status)

        def not_configured() -> HTTPResponse:
            return response.json({"error": "WeCom channel not configured"}, status=503)

        def query(request: Request) -> Tuple[str, str, str]:
            return (request.args.get("timestamp") or "", request.args.get("nonce") or "",
                    request.args.get("msg_signature") or "")

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.config() else "not configured"})

        @hook.route("/webhook", methods=["GET"])
        async def verify_url(request: Request) -> HTTPResponse:
            """WeCom checking the callback URL: the echostr's plain text, if the call is genuine."""
            config = self.config()
            if config is None:
                return not_configured()
            timestamp, nonce, msg_signature = query(request)
            refused = check_query(timestamp, nonce, msg_signature)
            if refused:
                return await refuse(request, 401, refused)
            echo = request.args.get("echostr") or ""
            if not echo:
                return await refuse(request, 400, "missing echostr")
            if not signed(config.token, timestamp, nonce, echo, msg_signature):
                return await refuse(request, 401, "bad signature")
            try:
                plain = _crypto(config).check_signature(
                    msg_signature, timestamp, nonce, echo)
            except Exception:  # noqa: BLE001 - base64, AES, padding and CorpID faults alike
                return await refuse(request, 400, "echostr does not decrypt for this organisation")
            return response.text(plain)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            config = self.config()
            key = secret()
            if config is None or not key:
                return not_configured()
            if len(request.body or b"") > MAX_BODY_BYTES:
                return await refuse(request, 413, f"body larger than {MAX_BODY_BYTES} bytes")
            timestamp, nonce, msg_signature = query(request)
            refused = check_query(timestamp, nonce, msg_signature)
            if refused:
                return await refuse(request, 401, refused)
            try:
                envelope = xml_fields((request.body or b"").decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                return await refuse(request, 400, f"body is not WeCom's encrypted XML: {e}"[:200])
            encrypted = envelope.get("Encrypt")
            if not isinstance(encrypted, str) or not encrypted:
                return await refuse(request, 400, "body is not WeCom's encrypted XML: no Encrypt")
            if not signed(config.token, timestamp, nonce, encrypted, msg_signature):
                return await refuse(request, 401, "bad signature")
            try:
                plain = _crypto(config).decrypt_message(
                    {"Encrypt": encrypted}, msg_signature, timestamp, nonce)
                fields = xml_fields(plain)
            except Exception:  # noqa: BLE001 - base64, AES, padding, CorpID and XML faults alike
                return await refuse(request, 400, "message does not decrypt to a message "
                                                  "for this organisation")
            agent_id = fields.get("AgentID")
            if agent_id is not None and str(agent_id).strip() != str(config.agent_id):
                return response.json({"error": "message for another app"}, status=400)
            if fields.get("MsgType") != "text":
                # Events and pictures, voice, files...: taken, not answered.
                return response.text("")
            user_id = fields.get("FromUserName")
            if not isinstance(user_id, str) or not user_id.strip():
                return response.json({"error": "missing FromUserName"}, status=400)
            if len(user_id) > 128 or not printable_id(user_id):
                return response.json({"error": "'FromUserName' must be at most 128 characters, "
                                               "without control characters"}, status=400)
            try:
                content = message_text(fields.get("Content"), "Content")
            except BadRequest as e:
                return e.response()
            message_id = fields.get("MsgId")
            if not isinstance(message_id, str) or not message_id.strip():
                return response.json({"error": "missing MsgId"}, status=400)
            message_id = message_id.strip()[:128]
            if not limits.shared().first_time(self.name(), message_id, MAX_CLOCK_SKEW_SECONDS * 2):
                # A signed callback is valid for five minutes: the same message again is refused.
                return await refuse(request, 409, f"replayed message: {message_id[:64]}")
            sender = conversation_for(key, config.corp_id, user_id)
            # No client address: every callback comes from WeCom's servers, not the member's.
            metadata: Dict[str, Any] = {}
            replies = await linked_turn(self.name(), request, on_new_message, key, sender, user_id,
                                        content, linked_merchant, metadata)
            if replies is None:
                limits.shared().forget(self.name(), message_id)  # WeCom's retry is taken
                return unavailable()
            try:
                await self._send(config, user_id, replies)
            except (asyncio.TimeoutError, WeComError) as e:
                logger.error("WeCom send API: reply not delivered: %s", failure(e))
                return response.json({"error": "reply not delivered"}, status=502)
            # An empty answer: WeCom expects no passive reply; the replies went out through the API.
            return response.text("")

        return hook
