"""The one place that creates the database engine and the session factory."""
from __future__ import annotations

import threading
from typing import Any, Dict, Optional

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from core import settings


def database_url() -> str:
    """$DATABASE_URL, else the embedded SQLite file under var/ (core/settings.py)."""
    return settings.database_url()


def make_engine(url: Optional[str] = None) -> Engine:
    """An engine for the URL; connections are checked before use so a restarted DB recovers."""
    url = url or database_url()
    kwargs: Dict[str, Any] = {"pool_pre_ping": True, "future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if ":memory:" not in url and url.rstrip("/") != "sqlite:":
            # A SQLite file: connections kept in a pool, as for a server database (SQLAlchemy
            # 1.4 would open a new one for every transaction: the handoff outbox is read after
            # every turn).
            kwargs.update(poolclass=QueuePool, pool_size=5, max_overflow=10)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> "sessionmaker[Session]":
    """Sessions bound to the engine; callers own one short transaction each."""
    return sessionmaker(bind=engine, future=True, expire_on_commit=False)


_shared: Dict[str, "sessionmaker[Session]"] = {}
_shared_lock = threading.Lock()


def shared_factory() -> "sessionmaker[Session]":
    """The process's session factory for $DATABASE_URL, the schema migrated on first use.

    Blocking (it may migrate): call it from a worker thread, never on the event loop.
    """
    url = database_url()
    with _shared_lock:
        if url not in _shared:
            from core.db.migrate import upgrade

            upgrade(url)
            _shared[url] = make_session_factory(make_engine(url))
        return _shared[url]
