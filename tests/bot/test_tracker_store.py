"""The conversations' store (bot/tracker_store.py): Rasa's SQL tracker store by class path, with
pooled SQLite connections and a ValueError failing one request instead of the server."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore, create_tracker_store
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.utils.endpoints import EndpointConfig, read_endpoint_config
from sqlalchemy import event

from bot.tracker_store import SQLConversationStore, engine_kwargs

ENDPOINTS = Path(__file__).resolve().parents[2] / "endpoints.yml"


def test_rasa_as_it_is_exits_the_server_on_any_value_error_in_a_session(tmp_path):
    """Why the store exists: pins Rasa 3.6's own behaviour."""
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "t.db"))
    with pytest.raises(SystemExit):
        with store.session_scope():
            raise ValueError("a conversation id the database cannot store")


def test_a_value_error_in_a_session_fails_that_request_only(tmp_path):
    store = SQLConversationStore(Domain.empty(), host=f"sqlite:///{tmp_path / 't.db'}")
    with pytest.raises(ValueError):
        with store.session_scope():
            raise ValueError("a conversation id the database cannot store")
    with store.session_scope() as session:  # and the store still works
        assert session.query(store.SQLEvent).count() == 0


async def test_a_sqlite_file_keeps_its_connections_and_writes_ahead(tmp_path):
    store = SQLConversationStore(Domain.empty(), host=f"sqlite:///{tmp_path / 'trackers.db'}")
    connections = []
    event.listen(store.engine, "connect", lambda conn, _: connections.append(conn))
    for turn in range(5):
        tracker = await store.get_or_create_tracker("merchant-1")
        tracker.update(UserUttered(f"第{turn}个问题"))
        tracker.update(BotUttered(f"第{turn}个回答"))
        await store.save(tracker)
    assert len(connections) <= 1, "every read and write should reuse one pooled connection"
    stored = await store.retrieve("merchant-1")
    assert [e.text for e in stored.events if isinstance(e, BotUttered)] == [f"第{i}个回答" for i in range(5)]
    # On disk: write-ahead log, and another process (a second connection) sees every turn.
    other = sqlite3.connect(tmp_path / "trackers.db")
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert other.execute("SELECT count(*) FROM events WHERE type_name = 'bot'").fetchone()[0] == 5
    other.close()


def test_other_databases_keep_rasas_engine_settings():
    assert engine_kwargs("sqlite://") == {}
    assert engine_kwargs("postgresql://u@h/db")["pool_size"] >= 1


def test_the_project_endpoints_name_this_store_and_rasa_builds_it(tmp_path, monkeypatch):
    for name, value in {"TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'trackers.db'}",
                        "LOCK_STORE_TYPE": "in_memory", "ACTION_ENDPOINT_URL": "http://127.0.0.1:1/webhook",
                        "ACTION_SERVER_TOKEN": "t", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6379",
                        "REDIS_DB": "0"}.items():
        monkeypatch.setenv(name, value)
    config = read_endpoint_config(str(ENDPOINTS), "tracker_store")
    store = create_tracker_store(config, Domain.empty())
    assert isinstance(getattr(store, "_tracker_store", store), SQLConversationStore)


def test_rasa_builds_it_from_a_class_path_with_a_full_url(tmp_path):
    config = EndpointConfig(type="bot.tracker_store.SQLConversationStore",
                            url=f"sqlite:///{tmp_path / 'trackers.db'}")
    store = create_tracker_store(config, Domain.empty())
    inner = getattr(store, "_tracker_store", store)
    assert isinstance(inner, SQLConversationStore)
    assert str(inner.engine.url).endswith("trackers.db")


def test_a_server_started_as_plain_rasa_run_gets_the_projects_changes(tmp_path, monkeypatch):
    import logging

    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.events import Event

    from bot import rasa_server

    # Put back afterwards whatever this test installs process-wide.
    monkeypatch.setattr(RemoteAction, "run", RemoteAction.run)
    monkeypatch.setattr(RemoteAction, "_validate_action_result", RemoteAction._validate_action_result)
    monkeypatch.setattr(Event, "resolve_by_type", Event.resolve_by_type)
    factory = logging.getLogRecordFactory()
    monkeypatch.setattr(rasa_server, "_installed", False)
    try:
        SQLConversationStore(Domain.empty(), host=f"sqlite:///{tmp_path / 't.db'}")
        assert hasattr(RemoteAction.run, "unbounded"), "action calls not bounded"
        assert hasattr(Event.resolve_by_type, "uncached"), "event types not cached"
        assert getattr(logging.getLogRecordFactory(), "escapes_control_characters", False)
    finally:
        logging.setLogRecordFactory(factory)
