"""Calls to the action server are bounded in time; after a failure they fail at once for a while."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
import yaml
from jsonschema import ValidationError
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import ClientResponseError, EndpointConfig

from bot import action_calls

ROOT = Path(__file__).resolve().parents[2]
ENDPOINTS = ROOT / "endpoints.yml"
DOMAIN = Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture
def remote(monkeypatch):
    """RemoteAction.run replaced by a fake action server whose behaviour the test sets."""
    state = {"calls": 0, "behaviour": "answer"}

    async def fake_run(self, *args, **kwargs):
        state["calls"] += 1
        if state["behaviour"] == "hang":
            await asyncio.sleep(5)
        if state["behaviour"] == "reject":
            raise ActionExecutionRejection(self.name())
        if state["behaviour"] == "error status":
            try:
                raise ClientResponseError(500, "Internal Server Error", "")
            except ClientResponseError as e:
                raise RasaException("Failed to execute custom action") from e
        if state["behaviour"] == "unreachable":
            try:
                raise aiohttp.ClientConnectionError("refused")
            except aiohttp.ClientConnectionError:
                raise RasaException("Couldn't connect")  # noqa: B904 - as Rasa 3.6 raises it
        return ["event"]

    monkeypatch.setattr(RemoteAction, "run", fake_run)
    monkeypatch.setattr(RemoteAction, "_validate_action_result", RemoteAction._validate_action_result)
    monkeypatch.setattr(RemoteAction, "_action_call_format", RemoteAction._action_call_format)
    return state


def action() -> RemoteAction:
    return RemoteAction("action_answer_programme", None)


async def test_a_hung_call_times_out_and_later_calls_fail_at_once_until_retry(remote):
    action_calls.install(timeout=0.2, retry_after=0.5)
    remote["behaviour"] = "hang"
    started = time.monotonic()
    with pytest.raises(RasaException):
        await action().run(None, None, None, None)
    assert time.monotonic() - started < 1.0
    with pytest.raises(RasaException):
        await action().run(None, None, None, None)
    assert remote["calls"] == 1, "the second call should not have reached the action server"
    remote["behaviour"] = "answer"
    await asyncio.sleep(0.6)
    assert await action().run(None, None, None, None) == ["event"]
    assert await action().run(None, None, None, None) == ["event"]
    assert remote["calls"] == 3


async def test_a_rejection_is_an_answer_not_a_failure(remote):
    action_calls.install(timeout=1.0, retry_after=60)
    remote["behaviour"] = "reject"
    with pytest.raises(ActionExecutionRejection):
        await action().run(None, None, None, None)
    remote["behaviour"] = "answer"
    assert await action().run(None, None, None, None) == ["event"]


def test_installing_twice_wraps_the_original_once(remote):
    action_calls.install(timeout=1.0, retry_after=1.0)
    first = RemoteAction.run
    action_calls.install(timeout=1.0, retry_after=1.0)
    assert RemoteAction.run.unbounded is first.unbounded


@pytest.mark.parametrize("response", [
    {"events": [{"event": "slot", "name": "topic", "value": "tier"}], "responses": [{"text": "x"}]},
    {"events": [{"event": "nonsense"}]},
    {"events": "not a list"},
    {"responses": ["not an object"]},
])
def test_responses_are_checked_as_rasa_checks_them(remote, response):
    """The validator built once accepts and refuses exactly what jsonschema.validate does."""
    stock = RemoteAction._validate_action_result
    action_calls.install(timeout=1.0, retry_after=1.0)
    assert _verdict(RemoteAction._validate_action_result, response) == _verdict(stock, response)


def _verdict(check, response):
    """True for a response `check` accepts, else the message of the error it raises."""
    try:
        return check(action(), response)
    except ValidationError as e:
        return e.message


async def test_an_action_failing_on_a_reachable_server_does_not_stop_other_calls(remote):
    action_calls.install(timeout=1.0, retry_after=60)
    remote["behaviour"] = "error status"
    with pytest.raises(RasaException):
        await action().run(None, None, None, None)
    remote["behaviour"] = "answer"
    assert await action().run(None, None, None, None) == ["event"]
    remote["behaviour"] = "unreachable"
    with pytest.raises(RasaException):
        await action().run(None, None, None, None)
    remote["behaviour"] = "answer"
    with pytest.raises(RasaException):  # the server was unreachable: calls pause for a while
        await action().run(None, None, None, None)
    assert remote["calls"] == 3


@pytest.fixture
async def action_server(monkeypatch):
    """A real HTTP action server (aiohttp) whose answer the test sets; it records the client
    port of every call, so a new connection shows as a new port."""
    from aiohttp import web

    monkeypatch.setattr(RemoteAction, "run", RemoteAction.run)  # restored after the test
    monkeypatch.setattr(RemoteAction, "_validate_action_result", RemoteAction._validate_action_result)
    state = {"status": 200, "ports": []}

    async def webhook(request):
        state["ports"].append(request.transport.get_extra_info("peername")[1])
        if state["status"] != 200:
            return web.json_response({"error": "boom"}, status=state["status"])
        return web.json_response({"events": [], "responses": [{"text": "答案"}]})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state["url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/webhook"
    state["runner"] = runner
    yield state
    await runner.cleanup()


async def _call(endpoint):
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    return await RemoteAction("action_answer_programme", endpoint).run(
        None, None, DialogueStateTracker("m", []), Domain.empty())


async def test_calls_reuse_one_connection_and_close_it_when_idle(action_server):
    from rasa.utils.endpoints import EndpointConfig

    action_calls.install(timeout=2.0, retry_after=60, keepalive=0.3)
    endpoint = EndpointConfig(action_server["url"])
    for _ in range(5):
        events = await _call(endpoint)
        assert [e.text for e in events] == ["答案"]
    assert len(action_server["ports"]) == 5
    assert len(set(action_server["ports"])) == 1, action_server["ports"]
    await asyncio.sleep(0.6)  # idle longer than the keep-alive: the next call connects anew
    await _call(endpoint)
    assert len(set(action_server["ports"])) == 2
    await endpoint.keep_alive.close()


async def test_an_error_status_from_the_real_server_fails_that_call_alone(action_server):
    from rasa.utils.endpoints import EndpointConfig

    action_calls.install(timeout=2.0, retry_after=60)
    endpoint = EndpointConfig(action_server["url"])
    action_server["status"] = 500
    with pytest.raises(RasaException):
        await _call(endpoint)
    action_server["status"] = 200
    assert [e.text for e in await _call(endpoint)] == ["答案"]
    await endpoint.keep_alive.close()
    await action_server["runner"].cleanup()  # now nothing listens: unreachable
    with pytest.raises(RasaException):
        await _call(endpoint)
    calls = len(action_server["ports"])
    with pytest.raises(RasaException, match="unavailable"):  # calls pause after unreachable
        await _call(endpoint)
    assert len(action_server["ports"]) == calls == 2
    await endpoint.keep_alive.close()


def _session(messages: int) -> DialogueStateTracker:
    events = [ActionExecuted("action_session_start"), SessionStarted()]
    for n in range(messages):
        events += [ActionExecuted("action_listen"), UserUttered(f"第{n}个问题", {"name": "ask_programme"}),
                   ActionExecuted("action_answer_programme"), BotUttered(f"第{n}个回答"),
                   SlotSet("topic", f"t{n}")]
    return DialogueStateTracker.from_events("m-1", events, DOMAIN.slots)


def _endpoint(**options) -> EndpointConfig:
    return EndpointConfig("http://127.0.0.1:1/webhook", **options)


def _texts(payload: dict) -> list:
    return [e["text"] for e in payload["tracker"]["events"] if e["event"] == "user"]


@pytest.mark.parametrize("name", ["action_answer_programme", "action_handoff"])
def test_without_history_turns_an_action_gets_what_rasa_sends(remote, name):
    tracker = _session(12)
    stock = RemoteAction(name, _endpoint())._action_call_format(tracker, DOMAIN)
    action_calls.install(timeout=1.0, retry_after=1.0)
    assert RemoteAction(name, _endpoint())._action_call_format(tracker, DOMAIN) == stock


def test_an_action_gets_the_last_turns_and_the_handoff_the_whole_session(remote):
    tracker = _session(12)
    stock = RemoteAction("action_answer_programme", _endpoint())._action_call_format(tracker, DOMAIN)
    action_calls.install(timeout=1.0, retry_after=1.0)
    options = {"history_turns": 3, "whole_session_actions": ["action_handoff"]}
    answer = RemoteAction("action_answer_programme", _endpoint(**options))
    recent = answer._action_call_format(tracker, DOMAIN)
    assert _texts(recent) == ["第9个问题", "第10个问题", "第11个问题"]
    assert recent["tracker"]["events"] == stock["tracker"]["events"][-len(recent["tracker"]["events"]):]
    # Everything else is as Rasa sends it: slots, the latest message, the domain, ...
    assert {k: v for k, v in recent["tracker"].items() if k != "events"} == \
        {k: v for k, v in stock["tracker"].items() if k != "events"}
    assert {k: v for k, v in recent.items() if k != "tracker"} == \
        {k: v for k, v in stock.items() if k != "tracker"}
    whole = RemoteAction("action_handoff", _endpoint(**options))._action_call_format(tracker, DOMAIN)
    assert _texts(whole) == [f"第{n}个问题" for n in range(12)]
    short = _session(2)
    assert _texts(answer._action_call_format(short, DOMAIN)) == ["第0个问题", "第1个问题"]


def test_the_endpoints_file_sends_the_handoff_the_whole_session():
    config = yaml.safe_load(ENDPOINTS.read_text(encoding="utf-8"))["action_endpoint"]
    assert int(config["history_turns"]) >= action_calls_needs()
    assert "action_handoff" in config["whole_session_actions"]


def test_the_domain_is_not_sent_with_every_call(remote):
    """No action reads it (the end-to-end tests run every action with endpoints.yml)."""
    config = yaml.safe_load(ENDPOINTS.read_text(encoding="utf-8"))["action_endpoint"]
    assert config["enable_selective_domain"] is True
    action_calls.install(timeout=1.0, retry_after=1.0)
    for name in ("action_answer_programme", "action_handoff", "action_tier_status"):
        options = {k: v for k, v in config.items() if k not in ("url", "headers")}
        sent = RemoteAction(name, _endpoint(**options))._action_call_format(_session(2), DOMAIN)
        assert "domain" not in sent and sent["tracker"]["events"], name


def action_calls_needs() -> int:
    """The most recent messages an action other than the handoff reads: the run of
    misunderstood messages that leads to the offer of a human."""
    from actions.fallback import FAILURES_BEFORE_HANDOFF
    return FAILURES_BEFORE_HANDOFF + 1


def _responses() -> list:
    """Responses of every event kind Rasa knows, as actions send them, and broken variants."""
    from rasa.shared.core.events import (
        ActionExecutionRejected,
        ActionReverted,
        AgentUttered,
        AllSlotsReset,
        ConversationPaused,
        ConversationResumed,
        DefinePrevUserUtteredFeaturization,
        EntitiesAdded,
        FollowupAction,
        LoopInterrupted,
        ReminderCancelled,
        ReminderScheduled,
        Restarted,
        StoryExported,
        UserUtteranceReverted,
    )
    from rasa.shared.core.events import ActiveLoop as Loop
    gold = [{"entity": "tier", "value": "gold"}]
    events = [UserUttered("你好", {"name": "greet", "confidence": 0.9}, gold),
              ActionExecuted("action_listen"), SlotSet("topic", ["a", 1]), SlotSet("x", None),
              EntitiesAdded(gold), DefinePrevUserUtteredFeaturization(False),
              ReminderCancelled("r"), ActionExecutionRejected("a"), LoopInterrupted(True), Loop("f"),
              AllSlotsReset(), ConversationResumed(), ConversationPaused(), FollowupAction("a"),
              StoryExported(), Restarted(), UserUtteranceReverted(), ActionReverted(),
              BotUttered("回答", {"buttons": [{"title": "是", "payload": "/affirm"}]}, {"utter_action": "u"}),
              SessionStarted(), AgentUttered("人工", {"x": 1})]
    good = [e.as_dict() for e in events]
    good.append(ReminderScheduled("greet", __import__("datetime").datetime(2026, 1, 1)).as_dict())
    cases = [{"events": good, "responses": [{"text": "x"}]}, {"events": []}, {}, {"responses": []}]
    cases += [{"events": [event]} for event in good]
    broken = [{"events": "x"}, {"events": [{"event": "nonsense"}]}, {"events": [{}]}, {"events": [1]},
              {"events": [{"event": 3}]}, {"events": [{"event": "slot"}]}, {"responses": [1]}, [],
              {"events": [{"event": "user", "text": 5}]}, {"events": [{"event": "bot", "timestamp": "x"}]},
              {"events": [{"event": "action", "name": None, "policy": 3}]}, "text", None]
    for event in good:  # each kind with a field of the wrong type
        for key, value in event.items():
            if key != "event" and value is not None:
                broken.append({"events": [dict(event, **{key: [] if not isinstance(value, list) else 1.5})]})
    return cases + broken


def test_the_check_by_event_kind_accepts_exactly_what_rasa_accepts(remote):
    stock = RemoteAction._validate_action_result
    action_calls.install(timeout=1.0, retry_after=1.0)
    outcomes = {"accepted": 0, "refused": 0}
    for response in _responses():
        got = _verdict(RemoteAction._validate_action_result, response)
        assert got == _verdict(stock, response), response
        outcomes["accepted" if got is True else "refused"] += 1
    assert outcomes["accepted"] >= 25 and outcomes["refused"] >= 40, outcomes


def test_the_check_by_event_kind_takes_the_schema_as_rasa_states_it():
    from jsonschema.validators import validator_for
    schema = RemoteAction.action_response_format_spec()
    assert action_calls._by_event_kind(schema, validator_for(schema)) is not None
    unkeyed = {"properties": {"events": {"items": {"oneOf": [{"properties": {}}]}}}}
    assert action_calls._by_event_kind(unkeyed, validator_for(schema)) is None
