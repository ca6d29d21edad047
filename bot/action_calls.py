"""Calls from the Rasa server to the action server, bounded in time.

Rasa 3.6 waits up to 5 minutes for a custom action; a merchant whose question reaches a hung
action server would hear nothing for that long. Here a call gets ACTION_TIMEOUT_SECONDS (3 s by
default). After a call fails or times out, further calls fail at once for ACTION_RETRY_SECONDS
(10 s), so a turn with several actions, or many merchants at once, do not each wait for the
timeout again (an error status from a reachable action server fails only that call); then the
next call tries the action server again, so service comes back by itself when it does.

A failed call is handled as Rasa handles any failed action (logged, its events dropped, the
merchant's message kept in the conversation); the channel then finds that the turn produced no
reply and apologises with the offer of a human (`bot/agent_relay.py`, `utter_service_failed`).

Rasa also checks every action server response against its JSON schema with
`jsonschema.validate`, which checks the schema itself again on every call (about 35 ms a turn
on this project's machine, more than the NLU). `install()` makes that check with one validator
built once: the same schema, the same errors. And since the schema's events are `oneOf` 23
kinds, each told apart by its `event`, a response is first checked event by event against the
kind its `event` names (0.07 ms instead of 0.43 ms for a response with two slot events); only
one that fails that check is checked whole, for Rasa's error.

Rasa also opens a new connection (a new HTTP client session) for every action call: at 50
turns a second that is a hundred connections a second, each leaving a socket in TIME_WAIT and
the action server holding the closed connection's state for its graceful-close timeout (15 s),
so its memory rose with the call rate. Here calls reuse kept-alive connections
(`KeepAliveSessions`), idle ones closed after ACTION_KEEPALIVE_SECONDS (2 s, below the
action server's own 5 s, so the server never closes a connection a call is about to use),
and their JSON is written by `bot.jsontext.dumps`.

Rasa sends an action the whole session, every event of it, on every call: turn 500 of one
conversation made the Rasa process serialise, and the action server parse, some 2.7 MB of
JSON per action, most of the cost of such a turn. The action endpoint in endpoints.yml says
how much an action gets (`history_turns`: the events from the merchant's last that many
messages on; `whole_session_actions`: the actions that read the whole session, the handoff's
summary for the agent). Slots, the latest message and everything else Rasa sends are as
before; without `history_turns` every action gets the whole session, as in Rasa.

`install()` is called by `python -m bot.rasa_server` (what `bot.serve` runs).
"""
from __future__ import annotations

import asyncio
import copy
import logging
import time
import weakref
from typing import Any, Callable, Dict, List, Optional

import aiohttp
import rasa
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig
from rasa.utils.endpoints import ClientResponseError as RasaClientResponseError

from bot import jsontext
from core import settings

logger = logging.getLogger(__name__)


class ActionServerCircuit:
    """Whether the action server is worth calling now: not within `retry_after` of a failure."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        self.failed_at = None  # type: float | None

    def open(self) -> bool:
        return self.failed_at is not None and time.monotonic() - self.failed_at < self.retry_after

    def failed(self) -> None:
        self.failed_at = time.monotonic()

    def succeeded(self) -> None:
        self.failed_at = None


class _Borrowed:
    """`async with` over a shared session that leaves it open (Rasa's request closes its own)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self._session

    async def __aexit__(self, *exc: object) -> None:
        return None


class KeepAliveSessions:
    """One client session per event loop for an endpoint, its connections kept alive."""

    def __init__(self, endpoint: EndpointConfig, idle_seconds: float) -> None:
        self.endpoint = endpoint
        self.idle_seconds = idle_seconds
        self._sessions: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession]" = \
            weakref.WeakKeyDictionary()

    def session(self) -> _Borrowed:
        """What EndpointConfig.request enters: this loop's session, made on first use."""
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            auth = None
            if self.endpoint.basic_auth:
                auth = aiohttp.BasicAuth(self.endpoint.basic_auth["username"],
                                         self.endpoint.basic_auth["password"])
            # As EndpointConfig.session makes it, with a connector that keeps connections.
            session = aiohttp.ClientSession(
                headers=self.endpoint.headers, auth=auth,
                timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=self.idle_seconds),
                json_serialize=jsontext.dumps)
            self._sessions[loop] = session
        return _Borrowed(session)

    async def close(self) -> None:
        """Close this loop's session (its connections also close when the server stops)."""
        session = self._sessions.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()


def keep_alive(endpoint: Optional[EndpointConfig], idle_seconds: float) -> Optional[KeepAliveSessions]:
    """Make `endpoint`'s requests reuse connections (once per endpoint object)."""
    if endpoint is None:
        return None
    sessions = endpoint.__dict__.get("keep_alive")
    if sessions is None:
        sessions = KeepAliveSessions(endpoint, idle_seconds)
        endpoint.keep_alive = sessions
        endpoint.session = sessions.session
    return sessions


def _error_status(e: BaseException) -> bool:
    """Whether a failed call got an HTTP error status (so the action server is reachable)."""
    cause = e.__cause__ or e.__context__
    return isinstance(cause, (RasaClientResponseError, aiohttp.ClientResponseError))


def install(timeout: float, retry_after: float, keepalive: float = 2.0) -> ActionServerCircuit:
    """Wrap RemoteAction.run with the time bound, the circuit and kept-alive connections;
    returns the circuit."""
    circuit = ActionServerCircuit(retry_after)
    unbounded = getattr(RemoteAction.run, "unbounded", RemoteAction.run)

    async def run(self: RemoteAction, *args: Any, **kwargs: Any) -> Any:
        keep_alive(self.action_endpoint, keepalive)
        if circuit.open():
            raise RasaException(f"action server unavailable; '{self.name()}' not called")
        try:
            events = await asyncio.wait_for(unbounded(self, *args, **kwargs), timeout)
        except ActionExecutionRejection:
            circuit.succeeded()  # the action server answered: it rejected this action
            raise
        except asyncio.TimeoutError as e:
            circuit.failed()
            logger.error("action '%s' got no answer within %.1f s", self.name(), timeout)
            raise RasaException(f"action '{self.name()}' timed out") from e
        except Exception as e:
            # An action that failed on a reachable action server (an HTTP error status) is
            # that action's failure; only an unreachable server stops the calls for a while.
            if not _error_status(e):
                circuit.failed()
            raise
        circuit.succeeded()
        return events

    run.unbounded = unbounded  # type: ignore[attr-defined]
    RemoteAction.run = run
    RemoteAction._validate_action_result = _validator_built_once()
    RemoteAction._action_call_format = action_call_format
    return circuit


def recent_events(tracker: DialogueStateTracker, turns: int) -> List[Event]:
    """The events from the merchant's `turns`-th last message on (all of a shorter session),
    read from the end."""
    tail: List[Event] = []
    messages = 0
    for event in reversed(tracker.events):
        tail.append(event)
        if isinstance(event, UserUttered):
            messages += 1
            if messages == turns:
                break
    tail.reverse()
    return tail


def action_call_format(self: RemoteAction, tracker: DialogueStateTracker, domain: Domain) -> Dict[str, Any]:
    """RemoteAction._action_call_format, with the events the action endpoint allows the
    action (`history_turns`, `whole_session_actions`)."""
    options = self.action_endpoint.kwargs if self.action_endpoint is not None else {}
    turns = options.get("history_turns")
    if not turns or self.name() in (options.get("whole_session_actions") or ()):
        events = list(tracker.events)
    else:
        events = recent_events(tracker, int(turns))
    tracker_state = tracker.current_state(EventVerbosity.NONE)
    tracker_state["events"] = [e.as_dict() for e in events]
    result = {"next_action": self._name, "sender_id": tracker.sender_id, "tracker": tracker_state,
              "version": rasa.__version__}
    needs_domain = domain.does_custom_action_explicitly_need_domain(self.name())
    if not self._is_selective_domain_enabled() or needs_domain:
        result["domain"] = domain.as_dict()
    return result


def _by_event_kind(schema: Dict[str, Any], cls: Any) -> Optional[Callable[[Any], bool]]:
    """A check that accepts exactly the responses `schema` accepts, when it accepts them, made
    per event: the schema's events are `oneOf` some 23 kinds, each told apart by the constant
    its `event` must have, so jsonschema checked every event against every kind; an event can
    only match the kind its `event` names. None when the schema is not of that shape."""
    items = schema.get("properties", {}).get("events", {}).get("items", {})
    kinds = items.get("oneOf") or []
    names = [kind.get("properties", {}).get("event", {}).get("const") for kind in kinds]
    if not names or None in names or len(set(names)) != len(names):
        return None
    common = {key: value for key, value in items.items() if key != "oneOf"}
    per_kind = {name: cls({**common, "allOf": [kind]}) for name, kind in zip(names, kinds, strict=True)}
    outer = copy.deepcopy(schema)
    outer["properties"]["events"]["items"] = {}
    response = cls(outer)

    def accepted(result: Any) -> bool:
        if not response.is_valid(result):
            return False
        for event in result.get("events") or []:
            kind = event.get("event") if isinstance(event, dict) else None
            check = per_kind.get(kind) if isinstance(kind, str) else None
            if check is None or not check.is_valid(event):
                return False
        return True

    return accepted


def _validator_built_once() -> Any:
    """RemoteAction._validate_action_result with the schema checked and compiled once; a
    response is first checked event by event against its own kind (`_by_event_kind`), and
    one that fails that is checked as Rasa checks it, for Rasa's error."""
    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)
    accepted = _by_event_kind(schema, cls)

    def validate_action_result(self: RemoteAction, result: Any) -> bool:
        if accepted is not None and accepted(result):
            return True
        error = best_match(validator.iter_errors(result))
        if error is None:
            return True
        error.message += (f". Failed to validate Action server response from API, make sure "
                          f"your response from the Action endpoint is valid. For more "
                          f"information about the format visit {DOCS_BASE_URL}/custom-actions")
        raise error

    return validate_action_result


def install_from_environment() -> ActionServerCircuit:
    return install(*settings.action_call_seconds())
