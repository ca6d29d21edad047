"""Pass a merchant's message to the assistant, and say so clearly when the assistant cannot take
it now.

A conversation's turn needs its lock (the lock store: in-process, or Redis shared by several
Rasa servers) and its history (the tracker store: SQLite or PostgreSQL). When either is
unreachable Rasa fails before it has taken the message in; the channel then answers
503 "temporarily unavailable, send it again" instead of a bare 500, nothing half-done is stored,
and the next message after the store is back is served as usual (no restart).
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Dict, Optional, TypeVar

from rasa.core.lock_store import LockError
from redis.exceptions import RedisError
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import DBAPIError

from core.logsafe import failure

logger = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_AFTER_SECONDS = 5
UNAVAILABLE = "the assistant is temporarily unavailable; please send the message again shortly"
# Shown in the chat window in place of a reply (the merchant's script is applied by the channel).
UNAVAILABLE_NOTICE = "系统暂时繁忙,您的消息没有发送成功,请稍后再发一次。"


async def deliver(turn: Awaitable[T], conversation: str) -> Optional[T]:
    """The result of `turn` (everything a channel does for one message), or None when a store
    it needs was unreachable."""
    try:
        return await turn
    except (LockError, RedisError) as e:
        problem, detail = "lock store", failure(e)
    except DBAPIError as e:
        problem, detail = "tracker store", failure(e)
    logger.error("message of conversation %s not taken in: %s unreachable (%s)",
                 conversation, problem, detail)
    return None


def unavailable() -> HTTPResponse:
    return response.json({"error": UNAVAILABLE}, status=503,
                         headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


MAX_MESSAGE_CHARS = 4000


class BadRequest(Exception):
    """A request the channel cannot take, with the status and the reason told to the client."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason

    def response(self) -> HTTPResponse:
        return response.json({"error": self.reason}, status=self.status)


def json_object(request: Request) -> Dict[str, Any]:
    """The request body as a JSON object, or BadRequest 400. The body must say it is JSON: a web
    page elsewhere can make a browser post text/plain or a form without asking, never JSON."""
    declared = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if declared != "application/json":
        raise BadRequest(400, "Content-Type must be application/json")
    try:
        body = request.json
    except Exception:  # noqa: BLE001 - sanic raises its own error types for bad JSON
        body = None
    if not isinstance(body, dict):
        raise BadRequest(400, "body must be a JSON object")
    return body


def message_text(value: Any, field: str = "message", limit: int = MAX_MESSAGE_CHARS) -> str:
    """A message's text: a string of at most `limit` characters, or BadRequest 400/413."""
    if not isinstance(value, str):
        raise BadRequest(400, f"'{field}' must be a text")
    if len(value) > limit:
        raise BadRequest(413, f"'{field}' longer than {limit} characters")
    return value
