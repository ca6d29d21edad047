"""`python -m bot.rasa_server run ...`: Rasa's own command line, with the project's changes to
how the Rasa server works, installed before it starts (`bot.serve` starts it this way):

- calls to the action server bounded in time, sending an action the events of the last turns
  (the whole session to those that read it), and the check of their responses done with a
  validator built once (bot/action_calls.py);
- whether the domain is empty worked out once per domain: Rasa checks every parsed message
  against the domain after asking that, which builds an empty domain and both domains'
  dictionaries to compare them (about 2% of a turn's CPU);
- event types looked up once: Rasa 3.6 finds the class of every stored event, each time a
  conversation is read from the tracker store, by walking all subclasses of Event (about a
  quarter of a millisecond per event, so 20 ms and more for a conversation of some length);
- the model's graph run node after node in an order worked out once, instead of through dask
  on every call (bot/graph_runner.py);
- less Python around the classifier's TensorFlow for each message: sparse features joined
  directly, the prediction step called as its one compiled function; and the classifier
  loaded without the training step Rasa runs to make its variables (bot/nlu/inference.py);
- the garbage collector set for a large model and many short turns (bot/memory.py);
- a closed HTTP connection let go of when it is lost, not 15 s later;
- log records have control characters escaped (core/logsafe.py), so that a client's text
  cannot forge a log line;
- the stores named by class path in the endpoints file (the conversations' SQL store, the
  lock store) are imported before Rasa starts, and the server refuses to start when one
  cannot be: Rasa 3.6 would fall back, with a warning only, to a store in memory, and
  conversations would be lost at the next restart and not shared between servers.

The tracker store itself is not patched: it is a subclass named in endpoints.yml
(bot/tracker_store.py). tests/bot/test_patched_rasa_code.py fails when the Rasa functions
replaced here change.
"""
from __future__ import annotations

import asyncio
import sys
from time import monotonic as current_time
from typing import Any, Dict, List, Optional, Set, Type

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event

from bot import action_calls, memory
from bot.nlu import inference
from core import logsafe


def cache_event_types() -> None:
    """Event.resolve_by_type with the classes it finds remembered by type name."""
    resolve = getattr(Event.resolve_by_type, "uncached", Event.resolve_by_type)
    found: Dict[str, Type[Event]] = {}

    def resolve_by_type(type_name: str, default: Optional[Type[Event]] = None) -> Optional[Type[Event]]:
        cls = found.get(type_name)
        if cls is None:
            cls = resolve(type_name, default)
            if cls is not None and cls is not default:
                found[type_name] = cls
        return cls

    resolve_by_type.uncached = resolve  # type: ignore[attr-defined]
    Event.resolve_by_type = staticmethod(resolve_by_type)


def remember_domain_emptiness() -> None:
    """Domain.is_empty with its answer kept on the domain, which is not changed once made (a
    new model or a merge makes another)."""
    is_empty = getattr(Domain.is_empty, "uncached", Domain.is_empty)

    def remembered(self: Domain) -> bool:
        known = self.__dict__.get("_known_empty")
        if known is None:
            known = self.__dict__["_known_empty"] = is_empty(self)
        return known

    remembered.uncached = is_empty  # type: ignore[attr-defined]
    Domain.is_empty = remembered


# HTTP connections closed by Sanic and not yet lost: the timer that would abort each; those
# lost before Sanic closed them; and each open connection's next timeout check. By id:
# Sanic's protocols have no room for attributes.
_abort_timers: Dict[int, asyncio.TimerHandle] = {}
_lost_first: Set[int] = set()
_timeout_checks: Dict[int, asyncio.TimerHandle] = {}
LOST_FIRST_KEPT = 10_000


def release_closed_connections() -> None:
    """Sanic closes an HTTP connection (after a response without keep-alive, at the keep-alive
    timeout, ...) by closing its transport and setting a timer to abort it after
    GRACEFUL_SHUTDOWN_TIMEOUT (15 s), in case the client never finishes closing. As a rule
    the client has closed its end first: the connection is lost before Sanic closes it, yet
    the timer was set and held the connection's protocol, and with it the request, for 15 s
    (about 3,000 of them at 200 requests a second from clients that do not keep connections
    alive). Here no timer is set for a connection already lost, and a timer set for one still
    open is cancelled when it is lost; one that stays open is aborted as before. Likewise the
    connection's timeout check, which Sanic runs every half of its shortest timeout (30 s
    with Rasa's keep-alive timeout of 120 s) and which held the protocol until its next run:
    it is cancelled when the connection is lost (Sanic's check stops then anyway: the loss
    cancels the connection's task)."""
    from sanic.exceptions import RequestTimeout, ServiceUnavailable
    from sanic.http import Stage
    from sanic.log import error_logger, logger
    from sanic.server.protocols.http_protocol import HttpProtocol

    lost = getattr(HttpProtocol.connection_lost, "unreleased", HttpProtocol.connection_lost)

    def close(self: Any, timeout: Optional[float] = None) -> None:
        # As SanicProtocol.close, without the timer for a connection already lost.
        if self.transport:
            self.transport.close()
            if id(self) in _lost_first:
                _lost_first.discard(id(self))
                return
            if timeout is None:
                timeout = self.app.config.GRACEFUL_SHUTDOWN_TIMEOUT
            earlier = _abort_timers.pop(id(self), None)
            if earlier is not None:
                earlier.cancel()
            _abort_timers[id(self)] = self.loop.call_later(timeout, _abort, self)

    def check_timeouts(self: Any) -> None:
        # As HttpProtocol.check_timeouts, with the next check kept to be cancelled.
        _timeout_checks.pop(id(self), None)
        try:
            if not self._task:
                return
            duration = current_time() - self._time
            stage = self._http.stage
            if stage is Stage.IDLE and duration > self.keep_alive_timeout:
                logger.debug("KeepAlive Timeout. Closing connection.")
            elif stage is Stage.REQUEST and duration > self.request_timeout:
                logger.debug("Request Timeout. Closing connection.")
                self._http.exception = RequestTimeout("Request Timeout")
            elif stage is Stage.HANDLER and self._http.upgrade_websocket:
                logger.debug("Handling websocket. Timeouts disabled.")
                return
            elif (
                stage in (Stage.HANDLER, Stage.RESPONSE, Stage.FAILED)
                and duration > self.response_timeout
            ):
                logger.debug("Response Timeout. Closing connection.")
                self._http.exception = ServiceUnavailable("Response Timeout")
            else:
                interval = min(self.keep_alive_timeout, self.request_timeout, self.response_timeout) / 2
                _timeout_checks[id(self)] = self.loop.call_later(max(0.1, interval), self.check_timeouts)
                return
            self._task.cancel()
        except Exception:  # noqa: BLE001 - as Sanic's: logged, the server goes on
            error_logger.exception("protocol.check_timeouts")

    def connection_lost(self: Any, exc: Optional[BaseException]) -> None:
        lost(self, exc)
        check = _timeout_checks.pop(id(self), None)
        if check is not None:
            check.cancel()
        timer = _abort_timers.pop(id(self), None)
        if timer is not None:
            timer.cancel()
        elif self._task is not None and type(self).close is close:
            # Still to be closed: by its connection task, when that ends (Sanic sets `_task`
            # to None just before). One lost before its task started is never closed: its
            # id stays, at worst sparing a later connection with the same id the abort timer
            # of its first close; bounded all the same.
            if len(_lost_first) >= LOST_FIRST_KEPT:
                _lost_first.clear()
            _lost_first.add(id(self))

    connection_lost.unreleased = lost  # type: ignore[attr-defined]
    HttpProtocol.close = close  # type: ignore[method-assign]
    HttpProtocol.check_timeouts = check_timeouts  # type: ignore[method-assign]
    HttpProtocol.connection_lost = connection_lost  # type: ignore[method-assign]


def _abort(protocol: Any) -> None:
    _abort_timers.pop(id(protocol), None)
    protocol.abort()


STORES = ("tracker_store", "lock_store")


def endpoints_file(argv: List[str]) -> str:
    """The endpoints file a `rasa run` command line names (Rasa's default otherwise)."""
    for i, arg in enumerate(argv):
        if arg == "--endpoints" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--endpoints="):
            return arg.split("=", 1)[1]
    return "endpoints.yml"


def check_stores(argv: List[str]) -> List[str]:
    """Problems with the stores named by class path in the endpoints file: each one Rasa would
    silently replace with a store in memory."""
    from rasa.shared.utils.common import class_from_module_path
    from rasa.utils.endpoints import read_endpoint_config

    path = endpoints_file(argv)
    problems = []
    for store in STORES:
        try:
            config = read_endpoint_config(path, store)
        except Exception:  # noqa: BLE001 - a file Rasa cannot read either: Rasa reports it
            continue
        kind = (config.type or "") if config else ""
        if "." not in kind:
            continue  # one of Rasa's own (sql, redis, in_memory, ...)
        try:
            class_from_module_path(kind)
        except (ImportError, AttributeError) as e:
            problems.append(f"{path}: {store} '{kind}' cannot be loaded: {e}")
    return problems


_installed = False


def run_graphs_in_sequence() -> None:
    """A served model's graph runs on SequentialGraphRunner (MessageProcessor._load_model names
    DaskGraphRunner, which it looks up in its own module)."""
    import rasa.core.processor

    from bot.graph_runner import SequentialGraphRunner

    rasa.core.processor.DaskGraphRunner = SequentialGraphRunner


def install() -> None:
    """Install the changes above, once per process. `python -m bot.rasa_server` does it before
    Rasa starts; a server started as plain `rasa run` with the project's endpoints.yml gets
    them when Rasa creates the conversations' store (bot/tracker_store.py), before it serves."""
    global _installed
    if _installed:
        return
    logsafe.install()
    memory.tune()
    action_calls.install_from_environment()
    cache_event_types()
    remember_domain_emptiness()
    run_graphs_in_sequence()
    inference.install()
    release_closed_connections()
    _installed = True


def main() -> None:
    install()
    if len(sys.argv) > 1 and sys.argv[1] == "run":
        problems = check_stores(sys.argv[2:])
        if problems:
            for problem in problems:
                print(f"error: {problem}; not starting (Rasa would keep conversations in memory)",
                      file=sys.stderr)
            sys.exit(1)
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
