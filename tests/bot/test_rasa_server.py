"""The Rasa server's event type lookup and the domain's emptiness, remembered: the same
answers as Rasa's own."""
from __future__ import annotations

from pathlib import Path

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SlotSet, UserUttered

from bot.rasa_server import cache_event_types, remember_domain_emptiness


@pytest.fixture
def cached(monkeypatch):
    monkeypatch.setattr(Event, "resolve_by_type", Event.resolve_by_type)
    cache_event_types()


def test_known_types_resolve_to_their_classes(cached):
    for name, cls in (("user", UserUttered), ("bot", BotUttered), ("slot", SlotSet),
                      ("action", ActionExecuted)):
        assert Event.resolve_by_type(name) is cls
        assert Event.resolve_by_type(name) is cls  # and again, remembered


def test_unknown_types_behave_as_in_rasa(cached):
    with pytest.raises(ValueError):
        Event.resolve_by_type("no-such-event")
    assert Event.resolve_by_type("no-such-event", default=SlotSet) is SlotSet
    assert Event.resolve_by_type("topic") is None


def test_stored_events_deserialise_the_same(cached):
    events = [UserUttered("金牌每个月有几个橱窗?", {"name": "ask_programme", "confidence": 0.9}),
              ActionExecuted("action_answer_programme"), BotUttered("3个橱窗"), SlotSet("topic", "tier")]
    assert [Event.from_parameters(e.as_dict()) for e in events] == events


def test_the_project_stores_load(monkeypatch, tmp_path):
    from bot.rasa_server import check_stores

    for name, value in {"TRACKER_STORE_URL": f"sqlite:///{tmp_path / 't.db'}",
                        "LOCK_STORE_TYPE": "bot.lock_store.AtomicRedisLockStore",
                        "ACTION_ENDPOINT_URL": "http://127.0.0.1:1/webhook", "ACTION_SERVER_TOKEN": "t",
                        "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6379", "REDIS_DB": "0"}.items():
        monkeypatch.setenv(name, value)
    endpoints = str(Path(__file__).resolve().parents[2] / "endpoints.yml")
    assert check_stores(["--endpoints", endpoints]) == []


def test_a_store_that_cannot_be_imported_refuses_the_start(tmp_path):
    from bot.rasa_server import check_stores

    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("tracker_store:\n  type: bot.no_such_module.Store\n  url: sqlite://\n",
                         encoding="utf-8")
    problems = check_stores([f"--endpoints={endpoints}"])
    assert len(problems) == 1 and "tracker_store 'bot.no_such_module.Store' cannot be loaded" in problems[0]


def test_whether_a_domain_is_empty_is_worked_out_once_per_domain(monkeypatch):
    from rasa.shared.core.domain import Domain

    asked = []
    rasas = Domain.is_empty
    monkeypatch.setattr(Domain, "is_empty", lambda self: asked.append(self) or rasas(self))
    remember_domain_emptiness()
    full = Domain.from_dict({"intents": ["greet"], "responses": {"utter_hi": [{"text": "你好"}]}})
    empty = Domain.empty()
    answers = [full.is_empty(), full.is_empty(), empty.is_empty(), empty.is_empty()]
    assert answers == [False, False, True, True]
    assert [id(d) for d in asked] == [id(full), id(empty)]  # Rasa's check once for each domain
    remember_domain_emptiness()  # installed again: still one layer over Rasa's
    assert Domain.is_empty.uncached.__name__ == "<lambda>"



class _Transport:
    """A connection's transport that records what is done with it."""

    def __init__(self) -> None:
        self.calls: list = []

    def close(self) -> None:
        self.calls.append("close")

    def abort(self) -> None:
        self.calls.append("abort")

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


@pytest.fixture
def connections(monkeypatch):
    """HttpProtocol with the project's handling of closed connections, put back afterwards;
    makes protocols on a fake transport."""
    import asyncio
    import uuid

    from sanic import Sanic
    from sanic.server.protocols.http_protocol import HttpProtocol

    from bot import rasa_server

    for name in ("close", "connection_lost", "check_timeouts"):
        monkeypatch.setattr(HttpProtocol, name, getattr(HttpProtocol, name))
    rasa_server.release_closed_connections()
    app = Sanic(f"closed_connections_{uuid.uuid4().hex[:8]}")

    def make(grace: float = 15, loop=None) -> HttpProtocol:
        app.config.GRACEFUL_SHUTDOWN_TIMEOUT = grace
        protocol = HttpProtocol(loop=loop or asyncio.get_running_loop(), app=app)
        protocol.transport = _Transport()
        return protocol

    return make


def test_a_connection_the_client_closed_first_is_let_go_at_once(connections):
    import asyncio
    from types import SimpleNamespace

    from bot import rasa_server

    loop = asyncio.SelectorEventLoop()  # asyncio's own (not uvloop): its pending timers can be listed
    try:
        protocol = connections(loop=loop)
        transport = protocol.transport
        protocol._task = SimpleNamespace(cancel=lambda: None)  # its connection task under way
        protocol.connection_lost(None)
        protocol._task = None  # as Sanic does when the task ends, before closing the connection
        protocol.close()
        assert transport.calls == ["close"]
        assert not [h for h in loop._scheduled if not h.cancelled()], "no timer set to abort it"
        assert id(protocol) not in rasa_server._abort_timers
        assert id(protocol) not in rasa_server._lost_first
    finally:
        loop.close()


async def test_a_connection_closed_first_by_the_server_is_let_go_when_lost_or_aborted(connections):
    import asyncio

    from bot import rasa_server

    protocol = connections()
    protocol.close()
    timer = rasa_server._abort_timers[id(protocol)]
    assert not timer.cancelled(), "the abort is set while the connection is open"
    protocol.connection_lost(None)
    assert timer.cancelled() and id(protocol) not in rasa_server._abort_timers
    assert id(protocol) not in rasa_server._lost_first
    stuck = connections(grace=0.01)
    transport = stuck.transport
    stuck.close()
    await asyncio.sleep(0.05)
    assert transport.calls == ["close", "abort"], "a connection that is never lost is aborted"
    assert id(stuck) not in rasa_server._abort_timers
    stuck.connection_lost(None)  # the abort's own loss: nothing left to close
    assert id(stuck) not in rasa_server._lost_first


async def test_the_timeout_check_of_a_lost_connection_is_cancelled(connections):
    from types import SimpleNamespace

    from sanic.http import Stage

    from bot import rasa_server

    protocol = connections()
    protocol._task = SimpleNamespace(cancel=lambda: None)
    protocol._http = SimpleNamespace(stage=Stage.IDLE, upgrade_websocket=False)
    protocol._time = 0.0
    protocol.keep_alive_timeout = 10**9  # never timed out here: the check reschedules itself
    protocol.check_timeouts()
    check = rasa_server._timeout_checks[id(protocol)]
    assert not check.cancelled(), "an open connection is checked again later"
    protocol.connection_lost(None)
    assert check.cancelled() and id(protocol) not in rasa_server._timeout_checks
    rasa_server._lost_first.discard(id(protocol))
