"""Agent desk API: authenticated agents work the handoff tickets (routes under /webhooks/agent/).

    GET  /webhooks/agent/tickets                    open and claimed tickets (?status=closed|all)
    GET  /webhooks/agent/tickets/<n>                 summary, ticket history and transcript (audited)
    POST /webhooks/agent/tickets/<n>/claim           take the ticket
    POST /webhooks/agent/tickets/<n>/messages        {"text": "..."} to the merchant
    POST /webhooks/agent/tickets/<n>/delegate        {"text": "..."} (optional) the assistant answers
    POST /webhooks/agent/tickets/<n>/handback        the assistant takes the conversation back

`Authorization: Bearer <JWT>` with role `agent` (as on the merchant channel); other roles get
403, bad tokens 401. Acting on a ticket (messages, delegate, hand-back) needs having claimed it.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from bot import agent_relay
from bot.channels.auth import audit_refusal, bearer_identity, client_address, unauthorised
from bot.channels.delivery import BadRequest, json_object, message_text
from bot.channels.guard import AS_TEXT, valid_text
from bot.nlu.normalizer import INTENT_PREFIX
from core import script
from core.audit import record
from core.db import tickets
from core.db.models import HandoffTicket
from core.identity import Identity, InvalidToken
from core.logsafe import failure

# The largest ticket number an INTEGER primary key holds (PostgreSQL and SQLite alike).
MAX_TICKET_NUMBER = 2**31 - 1
# Tickets per page of the list (and the most a client may ask for).
PAGE_SIZE = 100


def _whole_number(raw: Optional[str], name: str, default: int, low: int, high: int) -> int:
    """A query parameter that must be a whole number within [low, high]; 400 otherwise."""
    if raw is None or raw == "":
        return default
    # Longer than the bound's digits is out of range (and int() refuses over 4,300 digits).
    if (not raw.isascii() or not raw.isdigit() or len(raw.lstrip("0")) > len(str(high))
            or not low <= int(raw) <= high):
        raise BadRequest(400, f"'{name}' must be a whole number from {low} to {high}")
    return int(raw)
logger = logging.getLogger(__name__)


def _ticket_json(ticket: HandoffTicket) -> Dict[str, Any]:
    return {"id": ticket.id, "status": ticket.status, "conversation_id": ticket.conversation_id,
            "channel": ticket.channel, "merchant_id": ticket.merchant_id,
            # Who the merchant is, unmistakably: an anonymous sender's id proves nothing, however
            # much it looks like a merchant's.
            "identity": "signed_in" if ticket.merchant_id else "anonymous", "reason": ticket.reason,
            "script": ticket.script,
            "created_at": ticket.created_at.isoformat() + "Z" if ticket.created_at else None,
            "claimed_by": ticket.claimed_by,
            "claimed_at": ticket.claimed_at.isoformat() + "Z" if ticket.claimed_at else None,
            "closed_at": ticket.closed_at.isoformat() + "Z" if ticket.closed_at else None}


def _error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)


class AgentDeskInput(InputChannel):
    """Not a chat channel: the HTTP API agents use to take over and hand back conversations."""

    @classmethod
    def name(cls) -> Text:
        return "agent"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        desk = Blueprint("agent_desk", __name__)

        def authorised(handler):
            async def wrapped(request: Request, **kwargs: Any) -> HTTPResponse:
                try:
                    identity = bearer_identity(request)
                except InvalidToken as e:
                    return await unauthorised(self.name(), e, request)
                if identity.role != "agent":
                    await agent_relay.in_transaction(record, identity, None, "agent_desk", False,
                                                 f"{request.method} {request.path}: not an agent",
                                                 client_address(request))
                    return _error(403, "only agents may use the agent desk")
                number = kwargs.get("number")
                if number is not None and not 0 < number <= MAX_TICKET_NUMBER:
                    # No ticket has that number, and the database could not even compare it.
                    await agent_relay.in_transaction(record, identity, None, "agent_desk", False,
                                                 f"{request.method} {request.path[:120]}: no such ticket",
                                                 client_address(request))
                    return _error(404, "no such ticket")
                try:
                    return await handler(request, identity, **kwargs)
                except BadRequest as e:
                    return e.response()
                except tickets.TicketNotFound:
                    return _error(404, "no such ticket")
                except tickets.TicketConflict as e:
                    return _error(409, str(e))
                except SQLAlchemyError as e:
                    logger.error("agent desk: database error: %s", failure(e))
                    return _error(503, "ticket database unavailable; try again shortly")
            wrapped.__name__ = handler.__name__
            return wrapped

        def body_text(request: Request, required: bool) -> Optional[str]:
            """The body's 'text' (stripped, not empty); None when optional and not given."""
            if not required and not request.body:
                return None
            text = json_object(request).get("text")
            if text is None and not required:
                return None
            text = valid_text(message_text(text, "text")).strip()
            if not script.clean(text):  # nothing visible: blanks, control or zero-width characters
                raise BadRequest(400, "'text' must not be empty")
            return text

        async def ticket_or_404(number: int) -> HandoffTicket:
            ticket = await agent_relay.in_transaction(tickets.get_ticket, number)
            if ticket is None:
                raise tickets.TicketNotFound(number)
            return ticket

        @desk.route("/tickets", methods=["GET"])
        @authorised
        async def list_tickets(request: Request, agent: Identity) -> HTTPResponse:
            wanted = request.args.get("status", "open,claimed")
            statuses = tickets.STATUSES if wanted == "all" else tuple(wanted.split(","))
            if not set(statuses) <= set(tickets.STATUSES):
                return _error(400, f"status must be 'all' or some of {', '.join(tickets.STATUSES)}")
            limit = _whole_number(request.args.get("limit"), "limit", PAGE_SIZE, 1, PAGE_SIZE)
            offset = _whole_number(request.args.get("offset"), "offset", 0, 0, MAX_TICKET_NUMBER)

            def page(session):
                return (tickets.list_tickets(session, statuses, limit, offset),
                        tickets.count_tickets(session, statuses))

            found, total = await agent_relay.in_transaction(page)
            following = offset + len(found)
            return response.json({"tickets": [_ticket_json(t) for t in found], "total": total,
                                  "next_offset": following if following < total else None})

        @desk.route("/tickets/<number:int>", methods=["GET"])
        @authorised
        async def show(request: Request, agent: Identity, number: int) -> HTTPResponse:
            address = client_address(request)

            def read(session):
                ticket = tickets.get_ticket(session, number)
                if ticket is None:
                    record(session, agent, None, "read_ticket", False, f"no ticket {number}", address)
                    return None, []
                # The summary and transcript may hold the merchant's tier status: audited.
                record(session, agent, ticket.merchant_id or ticket.conversation_id,
                       "read_ticket", True, f"ticket {number}", address)
                return ticket, tickets.events(session, number)

            ticket, history = await agent_relay.in_transaction(read)
            if ticket is None:
                raise tickets.TicketNotFound(number)
            conversation = await agent_relay.read_conversation(request.app.ctx.agent,
                                                           ticket.conversation_id)
            return response.json({
                "ticket": _ticket_json(ticket), "summary": tickets.summary_of(ticket),
                "history": [{"at": e.at.isoformat() + "Z", "kind": e.kind, "actor": e.actor,
                             "text": e.text, "delivered": e.delivered_at is not None}
                            for e in history],
                "transcript": agent_relay.transcript(conversation)})

        @desk.route("/tickets/<number:int>/claim", methods=["POST"])
        @authorised
        async def claim(request: Request, agent: Identity, number: int) -> HTTPResponse:
            ticket = await agent_relay.in_transaction(tickets.claim, number, agent.sub)
            return response.json({"ticket": _ticket_json(ticket)})

        @desk.route("/tickets/<number:int>/messages", methods=["POST"])
        @authorised
        async def message(request: Request, agent: Identity, number: int) -> HTTPResponse:
            text = body_text(request, required=True)
            assert text is not None, "a required text is never None"
            ticket = await agent_relay.in_transaction(tickets.held_by, number, agent.sub)
            sent = await agent_relay.post_agent_message(request.app.ctx.agent, ticket, agent.sub, text)
            return response.json({"ticket": number, "sent": sent})

        @desk.route("/tickets/<number:int>/delegate", methods=["POST"])
        @authorised
        async def delegate(request: Request, agent: Identity, number: int) -> HTTPResponse:
            text = body_text(request, required=False)
            if text is not None and text.startswith(INTENT_PREFIX):
                # The agent's text is a question for the assistant, never an intent to run.
                await audit_refusal(self.name(), f"delegated intent payload read as text: {text[:200]}",
                                    agent, source=client_address(request))
                text = AS_TEXT + text[len(INTENT_PREFIX):]
            ticket = await agent_relay.in_transaction(tickets.held_by, number, agent.sub)
            try:
                result = await agent_relay.delegate(request.app.ctx.agent, ticket, agent.sub, text)
            except ValueError as e:
                return _error(409, str(e))
            return response.json(dict(result, ticket=number))

        @desk.route("/tickets/<number:int>/handback", methods=["POST"])
        @authorised
        async def hand_back(request: Request, agent: Identity, number: int) -> HTTPResponse:
            await ticket_or_404(number)
            return response.json(await agent_relay.hand_back(request.app.ctx.agent, number, agent.sub))

        return desk
