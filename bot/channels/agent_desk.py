"""Agent desk: the console page and the API agents work the handoff tickets with (/webhooks/agent/).

    GET    /webhooks/agent/                          the agent console (web/agent/)
    POST   /webhooks/agent/session                   {"name", "password"}: sign in (session cookie)
    GET    /webhooks/agent/session                   who is signed in, and the session's CSRF token
    DELETE /webhooks/agent/session                   sign out
    GET    /webhooks/agent/tickets                   open and claimed tickets (?status=closed|all,
                                                     &channel=, &reason=, &limit=, &offset=)
    GET    /webhooks/agent/tickets/<n>               summary, history, transcript and, for a
                                                     signed-in merchant, their tier status (audited)
    GET    /webhooks/agent/tickets/<n>/suggestions   knowledge-base answers to the merchant's latest question
    GET    /webhooks/agent/report?since=&until=      the operations view's figures (actions/report.py)
    POST   /webhooks/agent/tickets/<n>/claim         take the ticket
    POST   /webhooks/agent/tickets/<n>/messages      {"text": "..."} to the merchant
    POST   /webhooks/agent/tickets/<n>/delegate      {"text": "..."} (optional) the assistant answers
    POST   /webhooks/agent/tickets/<n>/handback      {"note": "..."} (optional) close the ticket with a
                                                     resolution note; the assistant takes over again

Integrations send `Authorization: Bearer <JWT>` with role `agent` (as on the merchant channel).
The console signs in with a name and password (accounts: `python -m actions.cli agent add`)
and gets the same kind of token in an HttpOnly, SameSite=Strict cookie; with the cookie, every
POST must also carry the session's CSRF token in `X-CSRF-Token`. Other roles get 403, bad or
expired tokens 401. Acting on a ticket (messages, delegate, hand-back) needs having claimed it.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple

import jwt
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from bot import agent_relay
from bot.channels.auth import audit_refusal, bearer_identity, client_address, token_identity, unauthorised
from bot.channels.delivery import BadRequest, json_object, message_text
from bot.channels.guard import AS_TEXT, valid_text
from bot.channels.webchat import SECURITY_HEADERS, serve_page, served
from bot.nlu.normalizer import INTENT_PREFIX
from core import agents, script
from core.audit import record
from core.db import tickets
from core.db.models import HandoffTicket
from core.identity import Identity, InvalidToken, issue_token, secret
from core.logsafe import failure

CONSOLE_DIR = Path(__file__).resolve().parents[2] / "web" / "agent"
CONSOLE_FILES = {"console.js": "application/javascript", "console.css": "text/css"}
SESSION_COOKIE = "agent_session"
COOKIE_PATH = "/webhooks/agent"
CSRF_HEADER = "X-CSRF-Token"
# The claim of a console session that names its epoch (core/agents.py).
SESSION_EPOCH = "console_epoch"
# Failed sign-ins of one name (or from one address) before sign-in is refused for a while.
MAX_FAILED_SIGN_INS = 5
SIGN_IN_PAUSE_SECONDS = 15 * 60

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


def _set_cookie(reply: HTTPResponse, request: Request, token: str, seconds: int) -> None:
    """The console's session cookie: not readable by scripts, never sent by other sites."""
    reply.cookies[SESSION_COOKIE] = token
    cookie = reply.cookies[SESSION_COOKIE]
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    cookie["path"] = COOKIE_PATH
    cookie["max-age"] = seconds
    if request.scheme == "https":
        cookie["secure"] = True


class SignInLimiter:
    """Failed sign-ins per name and per client address: after MAX_FAILED_SIGN_INS in a row,
    sign-in is refused for SIGN_IN_PAUSE_SECONDS (per process)."""

    MAX_KEYS = 10_000

    def __init__(self) -> None:
        self._failures: Dict[str, Tuple[int, float]] = {}

    def paused(self, *keys: str) -> bool:
        now = time.monotonic()
        return any(count >= MAX_FAILED_SIGN_INS and now - since < SIGN_IN_PAUSE_SECONDS
                   for count, since in (self._failures.get(k, (0, 0.0)) for k in keys))

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        if len(self._failures) > self.MAX_KEYS:
            self._failures = {k: v for k, v in self._failures.items() if now - v[1] < SIGN_IN_PAUSE_SECONDS}
        for key in keys:
            count, since = self._failures.get(key, (0, now))
            if now - since >= SIGN_IN_PAUSE_SECONDS:
                count, since = 0, now
            self._failures[key] = (count + 1, since)

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)


# A ticket kept open in the console is audited again after this long.
RE_READ_AUDIT_SECONDS = 300.0


class ReReads:
    """When an agent's repeated reads of one ticket are due an audit row again."""

    MAX_KEYS = 10_000

    def __init__(self) -> None:
        self._last: Dict[Tuple[str, int], float] = {}

    def due(self, agent: str, ticket: int) -> bool:
        now = time.monotonic()
        if len(self._last) > self.MAX_KEYS:
            self._last = {k: v for k, v in self._last.items() if now - v < RE_READ_AUDIT_SECONDS}
        last = self._last.get((agent, ticket))
        if last is not None and now - last < RE_READ_AUDIT_SECONDS:
            return False
        self._last[(agent, ticket)] = now
        return True


def with_simplified(lines: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Transcript lines with a simplified rendering beside what the merchant wrote in traditional."""
    for line in lines:
        if line.get("from") != "merchant":
            continue
        text = line.get("text") or ""
        simplified = script.to_simplified(text, script.detect_script(text))
        if simplified != text:
            line["simplified"] = simplified
    return lines


def topic_name(topic: str) -> Optional[str]:
    """The name merchants know a knowledge-base topic by; None for other topics (tier_status)."""
    from core.knowledge import shared_store

    return shared_store().get().name_of(topic)


async def status_card(agent: Identity, merchant_id: str, address: str) -> Optional[str]:
    """The merchant's tier status as the assistant would tell it to an agent (the read is
    audited under the agent); None without metrics or rules."""
    from actions.tier_render import render_status
    from actions.tier_status import lookup
    from core import clock
    from core.db.session import shared_factory
    from core.knowledge import shared_store
    from core.tiers import engine

    # Exactly the ticket's merchant: "m1001" is not "M1001" (lookup's case folding is for ids
    # agents type).
    found = await asyncio.to_thread(lookup, shared_factory(), agent, merchant_id, None, address, (), True)
    rules = engine.shared_rules().get()
    if found.metrics is None or rules is None:
        return None
    today = clock.today()
    verdict = engine.evaluate(found.metrics, rules, found.category_average,
                              engine.next_assessment(rules, today))
    metrics = found.metrics
    return render_status(shared_store().get(), rules, metrics, verdict, today,
                         f"{metrics.merchant_name}({metrics.merchant_id})")


_conversations_engine: List[Any] = []
_engine_lock = threading.Lock()


def operations_report(since: dt.datetime, until: dt.datetime) -> Dict[str, Any]:
    """The operations view's figures (actions/report.py), as `actions.cli report` prints them."""
    from sqlalchemy import create_engine

    from actions.report import build
    from core import settings
    from core.db.session import shared_factory
    from core.knowledge import shared_store

    with _engine_lock:
        if not _conversations_engine:
            _conversations_engine.append(create_engine(settings.tracker_store_url(), future=True))
    tickets_engine = shared_factory().kw["bind"]
    return build(shared_store().get(), _conversations_engine[0], tickets_engine, since, until).as_dict()


def latest_question(messages: List[Any]) -> str:
    """The merchant's latest question as written: not a button's payload, not small talk
    ("转人工", "谢谢")."""
    from actions.handoff import SMALL_TALK

    for message in reversed(messages):
        parse = message.parse_data or {}
        written = str(parse.get("text_original") or message.text or "")
        if written.strip() and not written.strip().startswith("/") \
                and (parse.get("intent") or {}).get("name") not in SMALL_TALK:
            return written
    return ""


# Suggestions offered for one question.
SUGGESTIONS = 3


async def suggested_answers(rasa: Any, tracker: Any, question: str) -> List[Dict[str, Any]]:
    """The knowledge base's best entries for the question, each rendered as the merchant would
    see it (the domain's answer response, in the merchant's script)."""
    from actions.answers import Answer
    from actions.choose import question_for
    from actions.programme_terms import ActionAnswerProgramme
    from actions.questions import Question
    from core import clock
    from core.knowledge import shared_store
    from core.knowledge.retrieval import retriever_for

    if not question.strip():
        return []
    store = shared_store()
    kb = store.get()
    composer = ActionAnswerProgramme(store, clock.today)
    simplified = script.normalize(question)[0]
    hits = await asyncio.to_thread(retriever_for(kb).rank, simplified, 8)
    found: List[Dict[str, Any]] = []
    for hit in hits:
        if any(s["topic"] == hit.id for s in found):
            continue
        # Composed as the assistant composes an answer naming that entry.
        answer, _ = composer.answer(kb, question_for(hit, Question()), clock.today())
        if not isinstance(answer, Answer) or not answer.lines:
            continue
        rendered = await rasa.nlg.generate("utter_answer", tracker, "rest", answer="\n".join(answer.lines),
                                           source=answer.citation(), status=answer.status)
        text = ((rendered or {}).get("text") or "").strip()
        if text:
            found.append({"topic": hit.id, "name": kb.name_of(hit.id) or hit.id, "text": text})
        if len(found) == SUGGESTIONS:
            break
    return found


class AgentDeskInput(InputChannel):
    """Not a chat channel: the HTTP API agents use to take over and hand back conversations."""

    @classmethod
    def name(cls) -> Text:
        return "agent"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        desk = Blueprint("agent_desk", __name__)

        limiter = SignInLimiter()
        re_reads = ReReads()

        def caller(request: Request) -> Tuple[Identity, Optional[str]]:
            """Who calls: a bearer token, else the console's session cookie (then also the
            session token, for the CSRF check)."""
            if request.headers.get("Authorization") or not request.cookies.get(SESSION_COOKIE):
                return bearer_identity(request), None
            token = request.cookies.get(SESSION_COOKIE, "")
            return token_identity(token, "not signed in"), token

        async def live_session(token: str, identity: Identity) -> None:
            """InvalidToken unless the console session is still the agent's: the account is
            enabled and the agent has not signed out since it was issued."""
            if identity.role != "agent":
                return
            # The signature was verified by token_identity; this reads the session's epoch.
            epoch = jwt.decode(token, options={"verify_signature": False}).get(SESSION_EPOCH)
            if not isinstance(epoch, int) or isinstance(epoch, bool) or not await agent_relay.in_transaction(
                    agents.session_allowed, identity.sub, epoch):
                raise InvalidToken("session ended; sign in again")

        def authorised(handler):
            async def wrapped(request: Request, **kwargs: Any) -> HTTPResponse:
                try:
                    identity, session_token = caller(request)
                    if session_token is not None:
                        await live_session(session_token, identity)
                except InvalidToken as e:
                    return await unauthorised(self.name(), e, request)
                if identity.role != "agent":
                    await agent_relay.in_transaction(record, identity, None, "agent_desk", False,
                                                 f"{request.method} {request.path}: not an agent",
                                                 client_address(request))
                    return _error(403, "only agents may use the agent desk")
                given = request.headers.get(CSRF_HEADER)
                if session_token is not None and request.method not in ("GET", "HEAD") and \
                        not agents.csrf_matches(secret() or "", session_token, given):
                    await audit_refusal(self.name(),
                                        f"{request.method} {request.path[:120]}: no valid CSRF token",
                                        identity, source=client_address(request))
                    return _error(403, "missing or wrong CSRF token; reload the console")
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

        async def console(request: Request) -> HTTPResponse:
            return await serve_page(request, CONSOLE_DIR / "index.html")

        desk.add_route(console, "/", methods=["GET"], name="console")

        @desk.route("/static/<name:str>", methods=["GET"])
        async def static(request: Request, name: str) -> HTTPResponse:
            kind = CONSOLE_FILES.get(name)
            if kind is None:
                return _error(404, "not found")
            return response.raw(served(CONSOLE_DIR / name), headers=SECURITY_HEADERS,
                                content_type=f"{kind}; charset=utf-8")

        @desk.route("/session", methods=["POST"])
        async def sign_in(request: Request) -> HTTPResponse:
            key = secret()
            if not key:
                return _error(503, "authentication is not configured (ASSISTANT_JWT_SECRET)")
            try:
                body = json_object(request)
            except BadRequest as e:
                return e.response()
            name, password = body.get("name"), body.get("password")
            if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
                return _error(400, "'name' and 'password' are required")
            name = name.strip()[:64]
            address = client_address(request)
            if limiter.paused(name, address):
                await audit_refusal(self.name(), f"sign-in of {name} paused after failed attempts",
                                    source=address)
                return _error(429, "too many failed sign-ins; try again in 15 minutes")
            # Counted before the check (which waits on a thread): a burst of attempts at once is
            # paused after the first few, not let through together.
            limiter.failed(name, address)
            if not await agent_relay.in_transaction(agents.check_password, name, password[:1024]):
                await audit_refusal(self.name(), f"sign-in of {name}: wrong name or password", source=address)
                return _error(401, "wrong name or password")
            limiter.succeeded(name, address)
            lifetime = agents.session_lifetime()
            epoch = await agent_relay.in_transaction(agents.session_epoch, name)
            token = issue_token(key, name, "agent", lifetime, {SESSION_EPOCH: epoch})
            identity = Identity(name, "agent")
            await agent_relay.in_transaction(record, identity, None, "agent_sign_in", True, "", address)
            reply = response.json({"agent": name, "csrf": agents.csrf_token(key, token),
                                   "expires_in": int(lifetime.total_seconds())})
            _set_cookie(reply, request, token, int(lifetime.total_seconds()))
            return reply

        @desk.route("/session", methods=["GET"])
        async def current(request: Request) -> HTTPResponse:
            token = request.cookies.get(SESSION_COOKIE)
            try:
                identity = token_identity(token, "not signed in")
                await live_session(token or "", identity)
            except InvalidToken as e:
                return _error(401, str(e))
            if identity.role != "agent":
                return _error(403, "only agents may use the agent desk")
            csrf = agents.csrf_token(secret() or "", token or "")
            return response.json({"agent": identity.sub, "csrf": csrf,
                                  "expires_in": max(0, int(identity.expires - time.time()))})

        @desk.route("/session", methods=["DELETE"])
        async def sign_out(request: Request) -> HTTPResponse:
            # The session ends on the server too (a copy of the cookie is worth nothing after),
            # with every other console session of the agent.
            token = request.cookies.get(SESSION_COOKIE)
            try:
                identity = token_identity(token, "not signed in")
            except InvalidToken:
                identity = None
            if identity is not None and identity.role == "agent":
                await agent_relay.in_transaction(agents.end_sessions, identity.sub)
                await agent_relay.in_transaction(record, identity, None, "agent_sign_out", True, "",
                                                 client_address(request))
            reply = response.json({"signed_out": True})
            _set_cookie(reply, request, "", 0)
            return reply

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
            channel = (request.args.get("channel") or "")[:64] or None
            reason = (request.args.get("reason") or "")[:32] or None

            def page(session):
                return (tickets.list_tickets(session, statuses, limit, offset, channel, reason),
                        tickets.count_tickets(session, statuses, channel, reason))

            found, total = await agent_relay.in_transaction(page)
            following = offset + len(found)
            return response.json({"tickets": [_ticket_json(t) for t in found], "total": total,
                                  "next_offset": following if following < total else None})

        @desk.route("/tickets/<number:int>", methods=["GET"])
        @authorised
        async def show(request: Request, agent: Identity, number: int) -> HTTPResponse:
            address = client_address(request)
            # The console re-reads an open ticket every few seconds (?refresh=1): without the
            # tier status (it keeps the one it read), and audited once per RE_READ_AUDIT_SECONDS.
            refresh = request.args.get("refresh") == "1"

            def read(session):
                ticket = tickets.get_ticket(session, number)
                if ticket is None:
                    record(session, agent, None, "read_ticket", False, f"no ticket {number}", address)
                    return None, []
                # The summary and transcript may hold the merchant's tier status: audited.
                if re_reads.due(agent.sub, number) or not refresh:
                    record(session, agent, ticket.merchant_id or ticket.conversation_id,
                           "read_ticket", True, f"ticket {number}" + (" (kept open)" if refresh else ""),
                           address)
                return ticket, tickets.events(session, number)

            ticket, history = await agent_relay.in_transaction(read)
            if ticket is None:
                raise tickets.TicketNotFound(number)
            conversation = await agent_relay.read_conversation(request.app.ctx.agent,
                                                           ticket.conversation_id)
            status = (await status_card(agent, ticket.merchant_id, address)
                      if ticket.merchant_id and not refresh else None)
            summary = tickets.summary_of(ticket)
            name = topic_name(str(summary["topic"])) if summary.get("topic") else None
            if name:
                summary["topic_name"] = name
            return response.json({
                "ticket": _ticket_json(ticket), "summary": summary,
                "history": [{"at": e.at.isoformat() + "Z", "kind": e.kind, "actor": e.actor,
                             "text": e.text, "delivered": e.delivered_at is not None}
                            for e in history],
                "transcript": with_simplified(agent_relay.transcript(conversation)),
                "tier_status": status})

        @desk.route("/tickets/<number:int>/suggestions", methods=["GET"])
        @authorised
        async def suggestions(request: Request, agent: Identity, number: int) -> HTTPResponse:
            ticket = await ticket_or_404(number)
            # The merchant's own words are read: audited like the ticket.
            await agent_relay.in_transaction(record, agent, ticket.merchant_id or ticket.conversation_id,
                                             "read_suggestions", True, f"ticket {number}",
                                             client_address(request))
            rasa = request.app.ctx.agent
            tracker = await agent_relay.read_conversation(rasa, ticket.conversation_id)
            question = latest_question(agent_relay.merchant_messages(tracker))
            found = await suggested_answers(rasa, tracker, question or "")
            return response.json({"ticket": number, "question": question, "suggestions": found})

        @desk.route("/report", methods=["GET"])
        @authorised
        async def operations(request: Request, agent: Identity) -> HTTPResponse:
            from actions.report import parse_day

            try:
                since = parse_day(request.args.get("since") or "")
                raw_until = request.args.get("until")
                until = parse_day(raw_until) if raw_until else dt.datetime.utcnow()
            except ValueError as e:
                return _error(400, str(e))
            if until <= since:
                return _error(400, "'until' must be after 'since'")
            return response.json(await asyncio.to_thread(operations_report, since, until))

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
            note = None
            if request.body:
                raw = json_object(request).get("note")
                if raw is not None:
                    note = script.clean(valid_text(message_text(raw, "note"))).strip() or None
            await ticket_or_404(number)
            result = await agent_relay.hand_back(request.app.ctx.agent, number, agent.sub)
            if note:
                await agent_relay.in_transaction(tickets.add_event, number, "resolution", agent.sub, note)
            return response.json(dict(result, note=note))

        return desk
