"""Who is asking: signed tokens for the authenticated channel, and the channel's seal on them.

The merchant channel verifies the bearer token (HS256 JWT, `sub` = merchant or agent id,
`role` = merchant|agent) and passes the identity to the action server in the message
metadata, sealed with an HMAC over (sender, sub, role). The action server trusts an identity
only with a valid seal, so neither the message text, the sender field, slots, `/intent{...}`
payloads nor client-supplied metadata (other channels pass it through) can claim one.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any, Dict, Optional

import jwt

ROLES = ("merchant", "agent")
METADATA_KEY = "identity"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Identity:
    """An authenticated caller."""

    sub: str
    role: str


class InvalidToken(ValueError):
    """The token is missing, malformed, expired, wrongly signed or lacks a valid role."""


def secret() -> Optional[str]:
    """The shared secret ($ASSISTANT_JWT_SECRET); None when not configured."""
    return os.environ.get("ASSISTANT_JWT_SECRET") or None


def issue_token(key: str, sub: str, role: str, ttl: dt.timedelta) -> str:
    """A signed token for development and tests."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    now = dt.datetime.now(dt.timezone.utc)
    return jwt.encode({"sub": sub, "role": role, "iat": now, "exp": now + ttl}, key,
                      algorithm=ALGORITHM)


def verify_token(key: str, token: str) -> Identity:
    """Verify signature, expiry and claims; raise InvalidToken with a reason otherwise."""
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM],
                            options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired") from None
    except jwt.PyJWTError as e:
        raise InvalidToken(f"invalid token: {e.__class__.__name__}") from None
    sub, role = claims.get("sub"), claims.get("role")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > 64:
        raise InvalidToken("invalid token: bad subject")
    if role not in ROLES:
        raise InvalidToken("invalid token: bad role")
    return Identity(sub, role)


def _mac(key: str, sender: str, identity: Identity) -> str:
    message = "\x1f".join((sender, identity.sub, identity.role)).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def seal(key: str, sender: str, identity: Identity) -> Dict[str, Any]:
    """Metadata the channel attaches to an authenticated message."""
    return {METADATA_KEY: {"sub": identity.sub, "role": identity.role,
                           "seal": _mac(key, sender, identity)}}


def unseal(key: Optional[str], sender: str, metadata: Any) -> Optional[Identity]:
    """The identity in a message's metadata if the channel sealed it for this sender."""
    if not key or not isinstance(metadata, dict):
        return None
    claimed = metadata.get(METADATA_KEY)
    if not isinstance(claimed, dict):
        return None
    sub, role, mac = claimed.get("sub"), claimed.get("role"), claimed.get("seal")
    if not (isinstance(sub, str) and role in ROLES and isinstance(mac, str)):
        return None
    identity = Identity(sub, role)
    return identity if hmac.compare_digest(mac, _mac(key, sender, identity)) else None
