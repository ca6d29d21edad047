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

