"""The conversations' store: Rasa's SQL tracker store, named by class path in endpoints.yml
(`type: bot.tracker_store.SQLConversationStore`), with two changes:

- on a SQLite file (the embedded default) connections are kept open in a pool and written
  through a write-ahead log: with SQLAlchemy 1.4, Rasa 3.6 opened a new SQLite connection for
  every read and every write of a conversation, and each commit rewrote the rollback journal
  (commits stay fully synchronous: an answered turn is on disk). Other databases keep Rasa's
  engine settings (PostgreSQL's pool size, schema);
- whichever way the Rasa server was started (`python -m bot.rasa_server run`, or plain
  `rasa run` with this endpoints.yml), the project's run-time changes (bot/rasa_server.py) are
  in place before it serves;
- a ValueError while a session is open fails that request alone: Rasa 3.6 exits the whole
  server on any ValueError there (it means a missing PostgreSQL schema), so one request whose
  conversation id the database cannot store (a NUL byte, a lone surrogate) stopped the server
  for everyone. A missing schema still stops it, as Rasa means it to.
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Any, Dict, Generator, Optional, Text

import sqlalchemy as sa
from rasa.core import tracker_store as rasa_stores
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.utils.cli import print_error_and_exit
from sqlalchemy import event
from sqlalchemy.pool import QueuePool

from bot import rasa_server

logger = logging.getLogger(__name__)
# Seconds between attempts while the database is not reachable at start-up (as Rasa waits).
CONNECT_RETRY_SECONDS = 5


def is_sqlite_file(url: Any) -> bool:
    """A SQLite database in a file (not in memory)."""
    text = str(url)
    return text.startswith("sqlite") and ":memory:" not in text and text.rstrip("/") != "sqlite:"


def engine_kwargs(url: Any) -> Dict[str, Any]:
    """create_engine() arguments: a pool shared across threads for a SQLite file, Rasa's own
    settings for anything else."""
    if is_sqlite_file(url):
        # One thread uses a connection at a time (the pool sees to it), whichever opened it.
        return {"poolclass": QueuePool, "pool_size": 5, "max_overflow": 10,
                "connect_args": {"check_same_thread": False}}
    return rasa_stores.create_engine_kwargs(url)


def _write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


class SQLConversationStore(SQLTrackerStore):
    """SQLTrackerStore with pooled SQLite connections and per-request ValueErrors."""

    def __init__(
        self,
        domain: Optional[Domain] = None,
        host: Optional[Text] = None,
        dialect: Text = "sqlite",
        port: Optional[int] = None,
        db: Text = "rasa.db",
        username: Optional[Text] = None,
        password: Optional[Text] = None,
        event_broker: Optional[EventBroker] = None,
        login_db: Optional[Text] = None,
        query: Optional[Dict] = None,
        **kwargs: Any,
    ) -> None:
        # Started as plain `rasa run`, the server gets the same changes as under
        # `python -m bot.rasa_server` (a no-op there: they are in place already).
        rasa_server.install()
        # As SQLTrackerStore.__init__, with the engine created from engine_kwargs().
        url = self.get_db_url(dialect, host, rasa_stores.validate_port(port), db, username, password,
                              login_db, query)
        self.engine = sa.create_engine(url, **engine_kwargs(url))
        if is_sqlite_file(self.engine.url):
            event.listen(self.engine, "connect", _write_ahead_log)
        while True:
            try:
                if login_db:
                    self._create_database_and_update_engine(db, url)
                try:
                    self.Base.metadata.create_all(self.engine)
                except (sa.exc.OperationalError, sa.exc.ProgrammingError) as e:
                    # Several Rasa servers started at once may race to create the tables.
                    logger.error("could not create the tracker tables: %s", e.__class__.__name__)
                self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
                break
            except (sa.exc.OperationalError, sa.exc.IntegrityError) as e:
                logger.warning("tracker store database not reachable yet (%s); retrying",
                               e.__class__.__name__)
                time.sleep(CONNECT_RETRY_SECONDS)
        TrackerStore.__init__(self, domain, event_broker, **kwargs)

    @contextmanager
    def session_scope(self) -> Generator[Any, None, None]:
        """A session; Rasa's exit only for a missing PostgreSQL schema."""
        session = self.sessionmaker()
        try:
            try:
                rasa_stores.ensure_schema_exists(session)
            except ValueError as e:
                print_error_and_exit(
                    f"Requested PostgreSQL schema '{e}' was not found in the database. To "
                    f"continue, create the schema or unset the "
                    f"'{rasa_stores.POSTGRESQL_SCHEMA}' environment variable. Exiting.")
            yield session
        finally:
            session.close()
