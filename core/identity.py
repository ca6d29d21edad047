"""Who is asking: signed tokens for the authenticated channel, and the channel's seal on them.

The merchant channel verifies the bearer token (HS256 JWT, `sub` = merchant or agent id,
`role` = merchant|agent) and passes the identity to the action server in the message
metadata, sealed with an HMAC over (sender, sub, role, expiry) under a key derived from the
secret. The action server trusts an identity only when the message came in through such a
channel (the merchant channel, or DingTalk or WeCom with a linked account; Rasa records the
input channel and clients cannot set it), the seal is valid for this
conversation and has not expired. So neither the message text, the sender field, slots,
`/intent{...}` payloads nor metadata replayed through another channel can claim one.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional

import jwt

from core import contract, settings

ROLES = ("merchant", "agent")
METADATA_KEY = contract.META_IDENTITY
# The agent who delegated a turn to the assistant, sealed; trusted for this long (seconds).
DELEGATION_KEY = contract.META_DELEGATION
DELEGATION_SECONDS = 300
# Channels that authenticate their callers and seal the identity into the metadata.
CHANNELS = ("merchant", "dingtalk", "wecom", "webchat")
ALGORITHM = "HS256"
# What an id may be made of: no control, zero-width or direction characters can reach a
# conversation id, an audit row or an agent's screen through a token.
SUBJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
# A token may live this long at most (ASSISTANT_MAX_TOKEN_HOURS): one with a far expiry is
# refused, not trusted for years.
DEFAULT_MAX_TOKEN_HOURS = 24.0


@dataclass(frozen=True)
class Identity:
    """An authenticated caller (expires: the token's expiry, seconds since the epoch)."""

    sub: str
    role: str
    expires: int = 0


class InvalidToken(ValueError):
    """The token is missing, malformed, expired, wrongly signed or lacks a valid role."""


def secret() -> Optional[str]:
    """The shared secret ($ASSISTANT_JWT_SECRET); None when not configured."""
    return settings.jwt_secret()


def max_token_seconds() -> float:
    """The longest lifetime a token may have ($ASSISTANT_MAX_TOKEN_HOURS, default 24 h). A value
    that is not a positive finite number ("abc", "0", "nan", "inf") is the default: a typo must
    never switch the limit off."""
    return settings.positive_number(settings.max_token_hours(), DEFAULT_MAX_TOKEN_HOURS) * 3600


def issue_token(key: str, sub: str, role: str, ttl: dt.timedelta,
                extra: Optional[Dict[str, Any]] = None) -> str:
    """A signed token (development, tests, and the agent console's sessions, whose `extra`
    claims say which session they are)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    if not SUBJECT.fullmatch(sub):
        raise ValueError("sub must be 1-64 letters, digits or ._@- (starting with a letter or digit)")
    now = dt.datetime.now(dt.timezone.utc)
    return jwt.encode({**(extra or {}), "sub": sub, "role": role, "iat": now, "exp": now + ttl}, key,
                      algorithm=ALGORITHM)


def verify_token(key: str, token: str) -> "Identity":
    """Verify signature, expiry and claims; raise InvalidToken with a reason otherwise."""
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM],
                            options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired") from None
    except jwt.PyJWTError as e:
        raise InvalidToken(f"invalid token: {e.__class__.__name__}") from None
    sub, role, exp = claims.get("sub"), claims.get("role"), claims.get("exp")
    if not isinstance(sub, str) or not SUBJECT.fullmatch(sub):
        raise InvalidToken("invalid token: bad subject")
    if role not in ROLES:
        raise InvalidToken("invalid token: bad role")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise InvalidToken("invalid token: exp must be a whole number of seconds")
    if exp > time.time() + max_token_seconds():
        raise InvalidToken("invalid token: lifetime longer than allowed")
    return Identity(sub, role, exp)


def _derived(key: str, purpose: str) -> bytes:
    # One configured secret, separate keys per use: token signing and identity seals.
    return hmac.new(key.encode(), purpose.encode(), hashlib.sha256).digest()


def _mac(key: str, sender: str, identity: "Identity") -> str:
    message = "\x1f".join((sender, identity.sub, identity.role, str(identity.expires)))
    return hmac.new(_derived(key, "identity-seal"), message.encode(), hashlib.sha256).hexdigest()


def conversation_id(key: str, identity: "Identity") -> str:
    """The conversation of an authenticated caller: unguessable to other channels' clients."""
    tag = hmac.new(_derived(key, "conversation"), f"{identity.role}\x1f{identity.sub}".encode(),
                   hashlib.sha256).hexdigest()[:16]
    return f"{identity.role}:{identity.sub}:{tag}"


def seal(key: str, sender: str, identity: "Identity") -> Dict[str, Any]:
    """Metadata the channel attaches to an authenticated message."""
    return {METADATA_KEY: {"sub": identity.sub, "role": identity.role,
                           "exp": identity.expires, "seal": _mac(key, sender, identity)}}


def _delegation_mac(key: str, sender: str, agent_sub: str, at: int) -> str:
    message = "\x1f".join((sender, agent_sub, str(at)))
    return hmac.new(_derived(key, "delegation-seal"), message.encode(), hashlib.sha256).hexdigest()


def seal_delegation(key: str, sender: str, agent: "Identity",
                    now: Optional[float] = None) -> Dict[str, Any]:
    """Metadata naming the agent who let the assistant answer in this conversation (the agent
    desk's delegate): the reads of that turn are audited under this agent. Only an agent can
    delegate: the seal carries no role, and unsealing names an agent."""
    if agent.role != "agent":
        raise ValueError(f"only an agent can delegate, not a {agent.role}")
    at = int(time.time() if now is None else now)
    return {DELEGATION_KEY: {"sub": agent.sub, "at": at,
                             "seal": _delegation_mac(key, sender, agent.sub, at)}}


def unseal_delegation(key: Optional[str], sender: str, metadata: Any,
                      now: Optional[float] = None) -> Optional["Identity"]:
    """The delegating agent, if the agent desk sealed one for this conversation recently."""
    if not key or not isinstance(metadata, dict) or not isinstance(metadata.get(DELEGATION_KEY), dict):
        return None
    claimed = metadata[DELEGATION_KEY]
    sub, at, mac = claimed.get("sub"), claimed.get("at"), claimed.get("seal")
    if not (isinstance(sub, str) and isinstance(at, int) and isinstance(mac, str) and mac.isascii()):
        return None
    if not 0 <= (time.time() if now is None else now) - at <= DELEGATION_SECONDS:
        return None
    expected = _delegation_mac(key, sender, sub, at)
    return Identity(sub, "agent", at + DELEGATION_SECONDS) if hmac.compare_digest(
        mac.encode(), expected.encode()) else None


def unseal(key: Optional[str], sender: str, metadata: Any, input_channel: Optional[str],
           now: Optional[float] = None) -> Optional["Identity"]:
    """The identity in a message's metadata if the merchant channel sealed it for this sender."""
    if not key or input_channel not in CHANNELS or not isinstance(metadata, dict):
        return None
    claimed = metadata.get(METADATA_KEY)
    if not isinstance(claimed, dict):
        return None
    sub, role, mac, exp = (claimed.get("sub"), claimed.get("role"), claimed.get("seal"),
                           claimed.get("exp"))
    if not (isinstance(sub, str) and role in ROLES and isinstance(mac, str)
            and isinstance(exp, int) and mac.isascii()):
        return None
    if exp < (time.time() if now is None else now):
        return None
    identity = Identity(sub, role, exp)
    expected = _mac(key, sender, identity)
    return identity if hmac.compare_digest(mac.encode(), expected.encode()) else None
