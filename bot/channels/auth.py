"""Who is calling an authenticated channel: the bearer token, verified."""
from __future__ import annotations

import logging

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.identity import Identity, InvalidToken, secret, verify_token

logger = logging.getLogger(__name__)


def bearer_identity(request: Request) -> Identity:
    """The identity in `Authorization: Bearer <JWT>`; InvalidToken with a reason otherwise."""
    key = secret()
    if not key:
        raise InvalidToken("authentication is not configured (ASSISTANT_JWT_SECRET)")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("missing bearer token")
    return verify_token(key, token.strip())


def unauthorised(channel: str, error: InvalidToken) -> HTTPResponse:
    """401 with the reason; the refusal is logged (no token in the log)."""
    logger.info("%s channel refused a request: %s", channel, error)
    return response.json({"error": str(error)}, status=401)
