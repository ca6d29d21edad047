"""Calls from the Rasa server to the action server, bounded in time.

Rasa 3.6 waits up to 5 minutes for a custom action; a merchant whose question reaches a hung
action server would hear nothing for that long. Here a call gets ACTION_TIMEOUT_SECONDS (3 s by
default). After a call fails or times out, further calls fail at once for ACTION_RETRY_SECONDS
(10 s), so a turn with several actions, or many merchants at once, do not each wait for the
timeout again (an error status from a reachable action server fails only that call); then the next call tries the action server again, so service comes back by
itself when it does.

A failed call is handled as Rasa handles any failed action (logged, its events dropped, the
merchant's message kept in the conversation); the channel then finds that the turn produced no
reply and apologises with the offer of a human (`bot/handoff.py`, `utter_service_failed`).

Rasa also checks every action server response against its JSON schema with
`jsonschema.validate`, which checks the schema itself again on every call (about 35 ms a turn
on this project's machine, more than the NLU). `install()` makes that check with one validator
built once: the same schema, the same errors.

`install()` is called by `python -m bot.rasa_server` (what `bot.serve` runs).
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import aiohttp
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.exceptions import RasaException

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


def install(timeout: float, retry_after: float) -> ActionServerCircuit:
    """Wrap RemoteAction.run with the time bound and the circuit; returns the circuit."""
    circuit = ActionServerCircuit(retry_after)
    unbounded = getattr(RemoteAction.run, "unbounded", RemoteAction.run)

    async def run(self: RemoteAction, *args: Any, **kwargs: Any) -> Any:
        if circuit.open():
            raise RasaException(f"action server unavailable; '{self.name()}' not called")
        try:
            events = await asyncio.wait_for(unbounded(self, *args, **kwargs), timeout)
        except ActionExecutionRejection:
            circuit.succeeded()  # the action server answered: it rejected this action
            raise
        except asyncio.TimeoutError:
            circuit.failed()
            logger.error("action '%s' got no answer within %.1f s", self.name(), timeout)
            raise RasaException(f"action '{self.name()}' timed out")
        except Exception as e:
            # An action that failed on a reachable action server (an HTTP error status) is
            # that action's failure; only an unreachable server stops the calls for a while.
            if not isinstance(e.__cause__ or e.__context__, aiohttp.ClientResponseError):
                circuit.failed()
            raise
        circuit.succeeded()
        return events

    run.unbounded = unbounded  # type: ignore[attr-defined]
    RemoteAction.run = run  # type: ignore[assignment]
    RemoteAction._validate_action_result = _validator_built_once()  # type: ignore[assignment]
    return circuit


def _validator_built_once() -> Any:
    """RemoteAction._validate_action_result with the schema checked and compiled once."""
    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)

    def validate_action_result(self: RemoteAction, result: Any) -> bool:
        error = best_match(validator.iter_errors(result))
        if error is None:
            return True
        error.message += (f". Failed to validate Action server response from API, make sure "
                          f"your response from the Action endpoint is valid. For more "
                          f"information about the format visit {DOCS_BASE_URL}/custom-actions")
        raise error

    return validate_action_result


def install_from_environment() -> ActionServerCircuit:
    return install(float(os.environ.get("ACTION_TIMEOUT_SECONDS", "3")),
                   float(os.environ.get("ACTION_RETRY_SECONDS", "10")))
