"""Who is calling an authenticated channel: the bearer token, verified."""
from __future__ import annotations

import asyncio
import logging
from typing import Optional

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from core import limits
from core.audit import record_refusal
from core.identity import Identity, InvalidToken, secret, verify_token

logger = logging.getLogger(__name__)


def token_identity(token: Optional[str], missing: str = "missing token") -> Identity:
    """The identity a token (a JWT) proves; InvalidToken with a reason otherwise: no secret
    configured, no token (`missing`), or a token verify_token refuses."""
    key = secret()
    if not key:
        raise InvalidToken("authentication is not configured (ASSISTANT_JWT_SECRET)")
    if not isinstance(token, str) or not token.strip():
        raise InvalidToken(missing)
    return verify_token(key, token.strip())


def bearer_identity(request: Request) -> Identity:
    """The identity in `Authorization: Bearer <JWT>`; InvalidToken with a reason otherwise."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token_identity(token if scheme.lower() == "bearer" else None, "missing bearer token")


async def audit_refusal(channel: str, reason: str, actor: Optional[Identity] = None,
                        subject: Optional[str] = None, source: Optional[str] = None) -> None:
    """Log and audit a refused request (no token or secret is logged or stored), with the
    client's address (`source`). Under a flood of one kind, rows are written at the rate
    limits.py allows; each row says how many like it were refused since the one before."""
    logger.info("%s channel refused a request: %s", channel, reason)
    decision = limits.shared().refusal(channel, reason)
    if not decision.write:
        return
    if decision.not_written_before:
        reason = f"{reason} (and {decision.not_written_before} more like it before this one)"
    await asyncio.to_thread(record_refusal, channel, reason, actor, subject, source)


def client_address(request: Request) -> str:
    """The client's address: Sanic's remote_addr (a trusted proxy's header) or the peer's."""
    return request.remote_addr or request.ip or "?"


async def unauthorised(channel: str, error: InvalidToken, request: Request) -> HTTPResponse:
    """401 with the reason; the refusal is logged and audited with the client's address."""
    await audit_refusal(channel, str(error), source=client_address(request))
    return response.json({"error": str(error)}, status=401)
