"""The rate limits (core/limits.py) as the channels apply them: the client's address, and
the 429 answer."""
from __future__ import annotations

from sanic import response
from sanic.response import HTTPResponse

from bot.channels.auth import client_address
from core.limits import CLIENT_ADDRESS, shared

__all__ = ["CLIENT_ADDRESS", "TOO_MANY", "client_address", "shared", "too_many"]

# What the web chat shows; HTTP clients get the English error with Retry-After.
TOO_MANY = "消息发得太频繁了,请{seconds}秒后再发。"
TOO_MANY_HTTP = "too many messages; wait {seconds} s before sending again"


def too_many(wait: int) -> HTTPResponse:
    """429 with Retry-After and the reason."""
    return response.json({"error": TOO_MANY_HTTP.format(seconds=wait)}, status=429,
                         headers={"Retry-After": str(wait)})
