"""Audit trail of every read of a merchant's private data, allowed or refused."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Optional

from sqlalchemy.orm import Session

from core.db.models import AuditRecord
from core.identity import Identity
from core.logsafe import failure

MAX = 300
logger = logging.getLogger(__name__)


def record(session: Session, actor: Optional[Identity], subject: Optional[str], action: str,
           allowed: bool, reason: str = "", source: Optional[str] = None) -> None:
    """Add an audit record to the session's transaction (no tokens or secrets are stored).
    `source`: the client's address, where the request came straight from one."""
    session.add(AuditRecord(
        at=dt.datetime.utcnow(), actor=actor.sub[:MAX] if actor else None,
        actor_role=actor.role if actor else None,
        subject_merchant=subject[:MAX] if subject else None, action=action[:64],
        allowed=allowed, reason=reason[:MAX], source=source[:64] if source else None))


def record_refusal(channel: str, reason: str, actor: Optional[Identity] = None,
                   subject: Optional[str] = None, source: Optional[str] = None) -> bool:
    """Audit a refused request (bad token, bad signature, forged payload) in its own transaction.

    Blocking: call it from a worker thread. Returns False (and logs) when the database cannot
    be reached; the request is refused either way.
    """
    from core.db.session import shared_factory

    try:
        with shared_factory().begin() as session:
            record(session, actor, subject, f"{channel}_refused", False, reason, source)
        return True
    except Exception as e:  # noqa: BLE001 - a refusal must not fail because the audit cannot
        logger.error("refusal on %s not audited: %s", channel, failure(e))
        return False
