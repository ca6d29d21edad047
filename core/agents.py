"""Agent accounts for the console: created by an operator, passwords hashed with argon2.

A session is a short-lived signed token (the same JWT as the bearer API, role "agent") kept in
an HttpOnly, SameSite=Strict cookie; a request that changes something must also carry the
session's CSRF token, derived from the session token, which only the console's own script can
read (it is returned by the sign-in and session calls, never stored in a cookie).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from core import settings
from core.db.models import AgentAccount
from core.identity import SUBJECT

# A password shorter than this is refused when an account is created.
MIN_PASSWORD_LENGTH = 10
# How long a console session lasts unless $AGENT_SESSION_MINUTES says otherwise.
DEFAULT_SESSION_MINUTES = 60.0
_hasher = PasswordHasher()
# Verified against when the name is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class AccountError(ValueError):
    """The account cannot be created or changed as asked (the message says why)."""


def session_lifetime() -> dt.timedelta:
    """How long a console session lasts ($AGENT_SESSION_MINUTES, default 60). A value that is
    not a positive finite number is the default."""
    return dt.timedelta(minutes=settings.positive_number(settings.agent_session_minutes(),
                                                        DEFAULT_SESSION_MINUTES))


def add_agent(session: Session, name: str, password: str, replace: bool = False) -> AgentAccount:
    """Create an agent account (or, with `replace`, set a new password on an existing one)."""
    if not SUBJECT.fullmatch(name):
        raise AccountError("the name must be 1-64 letters, digits or ._@- (starting with a letter or digit)")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    account = session.get(AgentAccount, name)
    if account is not None and not replace:
        raise AccountError(f"agent {name} exists already (use --reset to set a new password)")
    if account is None:
        account = AgentAccount(name=name, created_at=dt.datetime.utcnow())
        session.add(account)
    account.password_hash = _hasher.hash(password)
    account.disabled = False
    return account


def disable_agent(session: Session, name: str) -> None:
    """Stop an agent from signing in; sessions already open end at their next request."""
    account = session.get(AgentAccount, name)
    if account is None:
        raise AccountError(f"no agent {name}")
    account.disabled = True


def session_epoch(session: Session, name: str) -> int:
    """The epoch a console session issued now carries."""
    account = session.get(AgentAccount, name)
    return int(account.session_epoch or 0) if account is not None else 0


def session_allowed(session: Session, name: str, epoch: int) -> bool:
    """Whether a console session of this agent, issued in `epoch`, still counts: the account
    exists, is enabled, and the agent has not signed out since."""
    account = session.get(AgentAccount, name)
    return account is not None and not account.disabled and int(account.session_epoch or 0) == epoch


def end_sessions(session: Session, name: str) -> None:
    """End every console session of the agent issued so far (signing out)."""
    account = session.get(AgentAccount, name)
    if account is not None:
        account.session_epoch = int(account.session_epoch or 0) + 1


def check_password(session: Session, name: str, password: str) -> bool:
    """Whether the name and password belong to an enabled account. The hash is upgraded in
    place when the hasher's parameters have changed since it was made."""
    account = session.get(AgentAccount, name) if SUBJECT.fullmatch(name or "") else None
    try:
        _hasher.verify(account.password_hash if account else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if account is None or account.disabled:
        return False
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    return True


def csrf_token(key: str, session_token: str) -> str:
    """The CSRF token of a console session: the console's script sends it with every change."""
    derived = hmac.new(key.encode(), b"agent-console-csrf", hashlib.sha256).digest()
    return hmac.new(derived, session_token.encode(), hashlib.sha256).hexdigest()


def csrf_matches(key: str, session_token: str, given: Optional[str]) -> bool:
    # Bytes: a header with non-ASCII characters is a mismatch, not an error.
    return bool(given) and hmac.compare_digest(csrf_token(key, session_token).encode(),
                                               (given or "").encode("utf-8", "surrogatepass"))
