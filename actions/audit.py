"""Audit trail of every read of a merchant's private data, allowed or refused."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy.orm import Session

from actions.db.models import AuditRecord
from actions.identity import Identity

MAX = 300


def record(session: Session, actor: Optional[Identity], subject: Optional[str], action: str,
           allowed: bool, reason: str = "") -> None:
    """Add an audit record to the session's transaction (no tokens or secrets are stored)."""
    session.add(AuditRecord(
        at=dt.datetime.utcnow(), actor=actor.sub[:MAX] if actor else None,
        actor_role=actor.role if actor else None,
        subject_merchant=subject[:MAX] if subject else None, action=action[:64],
        allowed=allowed, reason=reason[:MAX]))
