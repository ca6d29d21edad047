"""`python -m bot.rasa_server run ...`: Rasa's own command line, with the project's changes to
how the Rasa server works, installed before it starts (`bot.serve` starts it this way):

- calls to the action server bounded in time, and the check of their responses done with a
  validator built once (bot/action_calls.py);
- event types looked up once: Rasa 3.6 finds the class of every stored event, each time a
  conversation is read from the tracker store, by walking all subclasses of Event (about a
  quarter of a millisecond per event, so 20 ms and more for a conversation of some length);
- the SQL tracker store exits the Rasa server only when its PostgreSQL schema is missing, as
  Rasa means it to: Rasa 3.6 exits on any ValueError raised while a session is open, so one
  request whose conversation id the database cannot store (a NUL byte, a lone surrogate)
  stopped the server for everyone. Now that request fails alone;
- the SQLite tracker store (the embedded default) keeps its connections open in a pool and
  writes through a write-ahead log: with SQLAlchemy 1.4 Rasa opened a new SQLite connection
  for every read and every write of a conversation and each commit rewrote the rollback
  journal (commits stay fully synchronous: an answered turn is on disk);
- log records have control characters escaped (actions/logsafe.py), so that a client's text
  cannot forge a log line.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Dict, Generator, Optional, Type

from rasa.shared.core.events import Event

from actions import logsafe
from bot import action_calls


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


def exit_only_for_a_missing_schema() -> None:
    """SQLTrackerStore.session_scope, with Rasa's exit kept to the schema check."""
    from rasa.core import tracker_store
    from rasa.shared.utils.cli import print_error_and_exit

    @contextmanager
    def session_scope(self: Any) -> Generator[Any, None, None]:
        session = self.sessionmaker()
        try:
            try:
                tracker_store.ensure_schema_exists(session)
            except ValueError as e:
                print_error_and_exit(
                    f"Requested PostgreSQL schema '{e}' was not found in the database. To "
                    f"continue, create the schema or unset the "
                    f"'{tracker_store.POSTGRESQL_SCHEMA}' environment variable. Exiting.")
            yield session
        finally:
            session.close()

    tracker_store.SQLTrackerStore.session_scope = session_scope


def _is_sqlite_file(url: Any) -> bool:
    text = str(url)
    return text.startswith("sqlite") and ":memory:" not in text and text.rstrip("/") != "sqlite:"


def _write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


def sqlite_connections_kept() -> None:
    """SQLTrackerStore on a SQLite file: pooled connections, write-ahead log."""
    from rasa.core import tracker_store
    from sqlalchemy import event
    from sqlalchemy.pool import QueuePool

    stock_kwargs = getattr(tracker_store.create_engine_kwargs, "stock", tracker_store.create_engine_kwargs)
    stock_init = getattr(tracker_store.SQLTrackerStore.__init__, "stock",
                         tracker_store.SQLTrackerStore.__init__)

    def create_engine_kwargs(url: Any) -> Dict[str, Any]:
        if _is_sqlite_file(url):
            # One thread uses a connection at a time (the pool sees to it), whichever thread
            # opened it.
            return {"poolclass": QueuePool, "pool_size": 5, "max_overflow": 10,
                    "connect_args": {"check_same_thread": False}}
        return stock_kwargs(url)

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        stock_init(self, *args, **kwargs)
        if self.engine.dialect.name == "sqlite" and _is_sqlite_file(self.engine.url):
            event.listen(self.engine, "connect", _write_ahead_log)
            self.engine.dispose()  # the connection that created the tables had no pragmas

    create_engine_kwargs.stock = stock_kwargs  # type: ignore[attr-defined]
    init.stock = stock_init  # type: ignore[attr-defined]
    tracker_store.create_engine_kwargs = create_engine_kwargs
    tracker_store.SQLTrackerStore.__init__ = init


def install() -> None:
    logsafe.install()
    action_calls.install_from_environment()
    cache_event_types()
    exit_only_for_a_missing_schema()
    sqlite_connections_kept()


def main() -> None:
    install()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
