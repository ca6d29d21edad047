"""The Rasa server's event type lookup, remembered: the same answers as Rasa's own."""
from __future__ import annotations

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SlotSet, UserUttered

from bot.rasa_server import cache_event_types, exit_only_for_a_missing_schema


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


def test_a_value_error_in_a_tracker_store_session_fails_that_request_only(monkeypatch, tmp_path):
    monkeypatch.setattr(SQLTrackerStore, "session_scope", SQLTrackerStore.session_scope)
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db"))
    with pytest.raises(SystemExit):  # Rasa 3.6 as it is: the whole server would exit
        with store.session_scope():
            raise ValueError("a conversation id the database cannot store")
    exit_only_for_a_missing_schema()
    with pytest.raises(ValueError):
        with store.session_scope():
            raise ValueError("a conversation id the database cannot store")
    with store.session_scope() as session:  # and the store still works
        assert session.query(store.SQLEvent).count() == 0


@pytest.fixture
def tuned_sqlite(monkeypatch):
    from rasa.core import tracker_store

    from bot.rasa_server import sqlite_connections_kept

    monkeypatch.setattr(tracker_store, "create_engine_kwargs", tracker_store.create_engine_kwargs)
    monkeypatch.setattr(SQLTrackerStore, "__init__", SQLTrackerStore.__init__)
    sqlite_connections_kept()


async def test_the_sqlite_tracker_store_keeps_connections_and_writes_ahead(tuned_sqlite, tmp_path):
    import sqlite3

    from sqlalchemy import event

    store = SQLTrackerStore(Domain.empty(), host=f"sqlite:///{tmp_path / 'trackers.db'}")
    connections = []
    event.listen(store.engine, "connect", lambda conn, _: connections.append(conn))
    for turn in range(5):
        tracker = await store.get_or_create_tracker("merchant-1")
        tracker.update(UserUttered(f"第{turn}个问题"))
        tracker.update(BotUttered(f"第{turn}个回答"))
        await store.save(tracker)
    assert len(connections) == 1, "every read and write should reuse one pooled connection"
    stored = await store.retrieve("merchant-1")
    assert [e.text for e in stored.events if isinstance(e, BotUttered)] == [f"第{i}个回答" for i in range(5)]
    # On disk: write-ahead log, and another process (a second connection) sees every turn.
    other = sqlite3.connect(tmp_path / "trackers.db")
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert other.execute("SELECT count(*) FROM events WHERE type_name = 'bot'").fetchone()[0] == 5
    other.close()


def test_other_databases_keep_rasas_engine_settings(tuned_sqlite):
    from rasa.core import tracker_store

    assert tracker_store.create_engine_kwargs("sqlite://") == {}
    assert tracker_store.create_engine_kwargs("postgresql://u@h/db")["pool_size"] >= 1
