"""Handoff tickets: opened by the assistant, worked by agents, closed on hand-back.

Every function takes a session and runs inside the caller's transaction. State changes are
single conditional UPDATEs, so two agents (or two servers) racing for one ticket cannot both
win, and a message to the merchant is handed to exactly one channel request.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.db.models import HandoffTicket, TicketEvent

OPEN, CLAIMED, CLOSED = "open", "claimed", "closed"
STATUSES = (OPEN, CLAIMED, CLOSED)
# Ticket events that carry a message for the merchant.
TO_MERCHANT = ("agent_message", "assistant_answer", "handed_back")


class TicketConflict(Exception):
    """The ticket is not in a state that allows this (claimed by another agent, closed, ...)."""


class TicketNotFound(LookupError):
    """No ticket has this number. (Not a KeyError: a KeyError from anywhere else in a handler
    is a bug, not an unknown ticket, and must not be answered 404.)"""

    def __init__(self, ticket_id: int) -> None:
        super().__init__(f"no ticket {ticket_id}")
        self.ticket_id = ticket_id


@dataclass(frozen=True)
class Outgoing:
    """A message for the merchant, waiting in the outbox."""

    ticket_id: int
    kind: str
    text: str
    at: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.utcnow()


def open_ticket(session: Session, conversation_id: str, channel: str, merchant_id: Optional[str],
                reason: str, script: Optional[str], summary: Dict[str, Any]) -> HandoffTicket:
    """Open a ticket; an open or claimed ticket of the same conversation is reused."""
    existing = active_ticket(session, conversation_id)
    if existing is not None:
        return existing
    ticket = HandoffTicket(conversation_id=conversation_id, channel=channel[:64],
                           merchant_id=merchant_id[:64] if merchant_id else None,
                           reason=reason, status=OPEN, script=script,
                           summary=json.dumps(summary, ensure_ascii=False), created_at=_now())
    session.add(ticket)
    session.flush()
    add_event(session, ticket.id, "created", None, reason)
    return ticket


def active_ticket(session: Session, conversation_id: str) -> Optional[HandoffTicket]:
    """The conversation's ticket that an agent has not handed back yet."""
    return session.execute(
        select(HandoffTicket).where(HandoffTicket.conversation_id == conversation_id,
                                    HandoffTicket.status.in_((OPEN, CLAIMED)))
        .order_by(HandoffTicket.id.desc()).limit(1)).scalars().first()


def get_ticket(session: Session, ticket_id: int) -> Optional[HandoffTicket]:
    """A ticket by number."""
    return session.get(HandoffTicket, ticket_id)


def _filtered(query, statuses: Sequence[str], channel: Optional[str], reason: Optional[str]):
    query = query.where(HandoffTicket.status.in_(tuple(statuses)))
    if channel:
        query = query.where(HandoffTicket.channel == channel)
    if reason:
        query = query.where(HandoffTicket.reason == reason)
    return query


def list_tickets(session: Session, statuses: Sequence[str] = (OPEN, CLAIMED),
                 limit: int = 100, offset: int = 0, channel: Optional[str] = None,
                 reason: Optional[str] = None) -> List[HandoffTicket]:
    """Tickets in the given states (and channel, reason, when given) in the order agents should
    take them: signed-in merchants' first (a flood of anonymous tickets does not bury them),
    then oldest first; one page."""
    return list(session.execute(
        _filtered(select(HandoffTicket), statuses, channel, reason)
        .order_by(HandoffTicket.merchant_id.is_(None), HandoffTicket.created_at, HandoffTicket.id)
        .limit(limit).offset(offset)).scalars())


def count_tickets(session: Session, statuses: Sequence[str] = (OPEN, CLAIMED),
                  channel: Optional[str] = None, reason: Optional[str] = None) -> int:
    """How many tickets are in the given states (and channel, reason, when given)."""
    return session.execute(_filtered(select(func.count()).select_from(HandoffTicket),
                                     statuses, channel, reason)).scalar_one()


def claim(session: Session, ticket_id: int, agent: str) -> HandoffTicket:
    """Claim an open ticket (claiming one's own ticket again is allowed)."""
    result = session.execute(
        update(HandoffTicket)
        .where(HandoffTicket.id == ticket_id, HandoffTicket.status == OPEN)
        .values(status=CLAIMED, claimed_by=agent[:64], claimed_at=_now()))
    ticket = session.get(HandoffTicket, ticket_id, populate_existing=True)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    if result.rowcount != 1 and not (ticket.status == CLAIMED and ticket.claimed_by == agent):
        raise TicketConflict(f"ticket {ticket_id} is {ticket.status}"
                             + (f" by {ticket.claimed_by}" if ticket.claimed_by else ""))
    if result.rowcount == 1:
        add_event(session, ticket_id, "claimed", agent, "")
    return ticket


def held_by(session: Session, ticket_id: int, agent: str) -> HandoffTicket:
    """The ticket, if this agent holds it; TicketConflict otherwise."""
    ticket = session.get(HandoffTicket, ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    if ticket.status != CLAIMED or ticket.claimed_by != agent:
        raise TicketConflict(f"ticket {ticket_id} is {ticket.status}"
                             + (f" by {ticket.claimed_by}" if ticket.claimed_by else "")
                             + "; claim it first")
    return ticket


def close(session: Session, ticket_id: int, agent: str) -> HandoffTicket:
    """Close a ticket the agent holds (the conversation goes back to the assistant)."""
    result = session.execute(
        update(HandoffTicket)
        .where(HandoffTicket.id == ticket_id, HandoffTicket.status == CLAIMED,
               HandoffTicket.claimed_by == agent)
        .values(status=CLOSED, closed_at=_now()))
    if result.rowcount != 1:
        held_by(session, ticket_id, agent)  # raises with the reason
    return session.get(HandoffTicket, ticket_id, populate_existing=True)


def add_event(session: Session, ticket_id: int, kind: str, actor: Optional[str], text: str,
              for_merchant: bool = False) -> TicketEvent:
    """Record what happened; `for_merchant` puts the text in the merchant's outbox."""
    event = TicketEvent(ticket_id=ticket_id, at=_now(), kind=kind,
                        actor=actor[:64] if actor else None, text=text,
                        for_merchant=for_merchant)
    session.add(event)
    session.flush()
    return event


def events(session: Session, ticket_id: int) -> List[TicketEvent]:
    """A ticket's events in order."""
    return list(session.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                                .order_by(TicketEvent.id)).scalars())


def take_outgoing(session: Session, conversation_id: str) -> List[Outgoing]:
    """Undelivered messages for the merchant of a conversation, marked delivered (each once)."""
    # Columns, not entities: read after every merchant turn, and almost always empty.
    rows = session.execute(
        select(TicketEvent.id, TicketEvent.ticket_id, TicketEvent.kind, TicketEvent.text, TicketEvent.at)
        .join(HandoffTicket, TicketEvent.ticket_id == HandoffTicket.id)
        .where(HandoffTicket.conversation_id == conversation_id,
               TicketEvent.for_merchant.is_(True), TicketEvent.delivered_at.is_(None))
        .order_by(TicketEvent.id)).all()
    taken: List[Outgoing] = []
    now = _now()
    for row in rows:
        # Conditional: when two requests race, only one of them passes a message on.
        result = session.execute(update(TicketEvent)
                                 .where(TicketEvent.id == row.id, TicketEvent.delivered_at.is_(None))
                                 .values(delivered_at=now))
        if result.rowcount == 1:
            taken.append(Outgoing(row.ticket_id, row.kind, row.text, row.at))
    return taken


def summary_of(ticket: HandoffTicket) -> Dict[str, Any]:
    """The ticket's summary as stored."""
    try:
        return json.loads(ticket.summary)
    except (TypeError, ValueError):
        return {}
