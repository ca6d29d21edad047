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
- the conversations of the last turns are kept in memory (`TRACKER_KEPT_CONVERSATIONS`, 128 by
  default): a turn reads only the newest event id of its conversation and, when no other
  process has written to it since, continues from the kept copy instead of reading and
  replaying every event of the session (about 4 ms of CPU for a ten-turn conversation); when
  another process has (two Rasa servers behind a load balancer), it reads only that
  process's new events and applies them to the kept copy; a save writes the new events
  without first counting the stored ones. Both go through a Core
  connection of the pool, without an ORM session (whose set-up and close cost more than the
  statements). The copies are `snapshot()`s,
  which share the logged events instead of replaying them as Rasa's `tracker.copy()` does
  (0.1 ms against 1.6 ms for 2,800 events); the trackers handed to Rasa copy themselves the
  same way. A copy is kept only of what this process saved on top of what it read (not after
  another process wrote), and is dropped when the domain changes. After a turn that started
  a new session the copy kept is the new session's alone, replayed from its own events, as
  the database would give it; a conversation found empty is remembered as such, so that its
  first save counts nothing either;
- a ValueError while a session is open fails that request alone: Rasa 3.6 exits the whole
  server on any ValueError there (it means a missing PostgreSQL schema), so one request whose
  conversation id the database cannot store (a NUL byte, a lone surrogate) stopped the server
  for everyone. A missing schema still stops it, as Rasa means it to.
"""
from __future__ import annotations

import copy
import itertools
import json
import logging
import time
from collections import OrderedDict, deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Deque, Dict, Generator, Iterable, List, Optional, Text, Type

import sqlalchemy as sa
from rasa.core import tracker_store as rasa_stores
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionReverted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
    deserialise_events,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.cli import print_error_and_exit
from sqlalchemy import event
from sqlalchemy.pool import QueuePool

from bot import jsontext, rasa_server
from core import contract, settings

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


def snapshot(tracker: DialogueStateTracker,
             cls: Optional[Type[DialogueStateTracker]] = None) -> DialogueStateTracker:
    """A copy of `tracker` (of class `cls`, else the tracker's own) as `tracker.copy()` makes
    it, without replaying its events: a turn may change either without touching the other.
    The events themselves are shared, as Rasa never changes an event once it is logged (the
    latest message and bot utterance stay the very events in the list, as in a replayed copy);
    the state around them (slots, active loop, latest action, ...) is copied."""
    kind = cls or type(tracker)
    clone = object.__new__(kind)
    for name, value in vars(tracker).items():
        if isinstance(value, deque):
            value = deque(value, maxlen=value.maxlen)
        elif name == "slots" and isinstance(value, dict):
            slots = copy.copy(value)  # of its own class (Rasa's AnySlotDict)
            for key, slot in value.items():
                slots[key] = _slot_copy(slot)
            value = slots
        elif not isinstance(value, Event):
            value = copy.deepcopy(value)
        setattr(clone, name, value)
    return clone


def _slot_copy(slot: Any) -> Any:
    """A slot as deepcopy() copies it, sharing what a turn never changes in place (its
    mappings, its initial value): a turn sets a slot's value, it does not change it."""
    clone = copy.copy(slot)
    for name, value in vars(slot).items():
        if isinstance(value, (list, dict, set)) and name not in _SLOT_SHARED:
            setattr(clone, name, copy.deepcopy(value))
    return clone


# Slot attributes a tracker never changes in place (Slot.reset() assigns initial_value anew;
# a categorical slot's values are the domain's).
_SLOT_SHARED = frozenset({"mappings", "initial_value", "values"})


# Events after which the applied events are not those before plus the new ones.
REWINDING = (Restarted, SessionStarted, ActionReverted, UserUtteranceReverted, ActiveLoop)


def appended(events: Deque[Event], count: int, last: Event) -> Optional[List[Event]]:
    """The events added after the first `count` of `events` (read from the end: the start of
    a long deque is far away), when the `count`-th is still `last` (the very object: another
    process's events are new ones) and none of the added ones rewinds or resets the
    dialogue; else None."""
    total = len(events)
    if not 0 < count <= total:
        return None
    newest = list(itertools.islice(reversed(events), total - count + 1))[::-1]
    if newest[0] is not last or any(isinstance(e, REWINDING) for e in newest[1:]):
        return None
    return newest[1:]


class _Applied:
    """A tracker's applied events as of its first `count` events (the last of them `last`),
    shared by its snapshots: never changed once made."""

    __slots__ = ("count", "last", "events")

    def __init__(self, count: int, last: Event, events: List[Event]) -> None:
        self.count, self.last, self.events = count, last, events

    def __deepcopy__(self, memo: Dict[int, Any]) -> "_Applied":
        return self


# The most events one INSERT statement writes (a turn saves a handful; a conversation read
# from elsewhere and saved whole, more).
INSERT_ROWS = 32


class DriverStatement:
    """A Core statement compiled once for a dialect and run on the database driver's cursor of
    a connection: the SQL and parameters SQLAlchemy would send (the dialect's parameter
    style, the connection's transaction), without SQLAlchemy's work around each execution,
    which took most of the time of a one-row lookup. Only for statements whose parameters
    and results need no conversion by SQLAlchemy's types (strings, text, integers, floats)."""

    def __init__(self, statement: Any, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.names = tuple(compiled.positiontup) if compiled.positional else None

    def parameters(self, values: Dict[str, Any]) -> Any:
        return tuple(values[name] for name in self.names) if self.names is not None else values

    def scalar(self, connection: Any, values: Dict[str, Any]) -> Any:
        """The first column of the first row, or None."""
        rows = self.rows(connection, values, first_only=True)
        return rows[0][0] if rows else None

    def rows(self, connection: Any, values: Dict[str, Any], first_only: bool = False) -> List[Any]:
        """The rows (the first alone with `first_only`). A driver's error is raised as
        SQLAlchemy raises it (a DBAPIError), and a lost connection is invalidated, as
        SQLAlchemy does, so that the pool does not hand it out again."""
        parameters = self.parameters(values)
        driver = connection.connection
        dialect = connection.dialect
        try:
            cursor = driver.cursor()
            try:
                cursor.execute(self.sql, parameters)
                if first_only:
                    row = cursor.fetchone()
                    rows = [row] if row else []
                else:
                    rows = cursor.fetchall()
            finally:
                cursor.close()
        except dialect.dbapi.Error as e:
            lost = dialect.is_disconnect(e, driver, None)
            if lost:
                connection.invalidate(e)
            raise sa.exc.DBAPIError.instance(self.sql, parameters, e, dialect.dbapi.Error,
                                             connection_invalidated=lost, dialect=dialect) from e
        return list(rows)


class EventInsert:
    """A conversation's new events written with one multi-row INSERT (per INSERT_ROWS events)
    on the driver's cursor (`DriverStatement`), compiled once for each number of rows: the
    statement SQLAlchemy's Core insert of the rows sends, without its work around the
    execution. On PostgreSQL the statement also returns the new rows' ids, so that the
    newest id need not be read again after it (a round trip to the server)."""

    COLUMNS = ("sender_id", "type_name", "timestamp", "intent_name", "action_name", "data")

    def __init__(self, table: Any, dialect: Any) -> None:
        self.table, self.dialect = table, dialect
        self.returning = dialect.name == "postgresql"
        self._statements: Dict[int, DriverStatement] = {}

    def _statement(self, count: int) -> DriverStatement:
        known = self._statements.get(count)
        if known is None:
            statement = self.table.insert().values(
                [{c: sa.bindparam(f"{c}_{i}") for c in self.COLUMNS} for i in range(count)])
            if self.returning:
                statement = statement.returning(self.table.c.id)
            known = self._statements[count] = DriverStatement(statement, self.dialect)
        return known

    def write(self, connection: Any, rows: List[Dict[str, Any]]) -> Optional[int]:
        """Insert `rows` (each a value for every column in COLUMNS) in the transaction of
        `connection` (Core); the largest new id when the database returns ids, else None."""
        newest: Optional[int] = None
        for start in range(0, len(rows), INSERT_ROWS):
            chunk = rows[start:start + INSERT_ROWS]
            values = {f"{c}_{i}": row[c] for i, row in enumerate(chunk) for c in self.COLUMNS}
            returned = self._statement(len(chunk)).rows(connection, values)
            if self.returning:
                newest = max([newest or 0, *(row[0] for row in returned)])
        return newest


class ConversationTracker(DialogueStateTracker):
    """The tracker a turn works on: Rasa's, with two costs that grew with the session made
    flat. It copies itself by `snapshot()` (Rasa copies the tracker before every action it
    runs, MessageProcessor._run_action, by replaying the session), and its applied events
    (read several times a turn: whether the session is new or has expired, ...) are continued
    from the last time they were read when only plain events were added since."""

    _applied: Optional[_Applied] = None

    def copy(self) -> "DialogueStateTracker":
        return snapshot(self)

    def applied_events(self) -> List[Event]:
        events, known = self.events, self._applied
        total = len(events)
        added = appended(events, known.count, known.last) if known is not None else None
        if known is not None and added is not None:
            if added:
                known = _Applied(total, events[-1], known.events + added)
                self._applied = known
            return list(known.events)
        applied = super().applied_events()
        # Continued later only while no form has run: a loop's later events change how its
        # earlier ones count.
        loops = any(isinstance(e, ActiveLoop) for e in events)
        self._applied = _Applied(total, events[-1], applied) if total and not loops else None
        return list(applied)


# Metadata of a message an agent wrote into the conversation (bot/agent_relay.py).
AGENT_MESSAGE_KEYS = ("agent", "ticket")


def shows_handoff(events: Iterable[Event]) -> bool:
    """Whether a handoff shows in these events: the ticket slot set or cleared (a new session
    carries an open ticket over as such an event), the assistant paused or resumed, a message
    of an agent (also where the ticket opened without its events reaching the conversation: an
    action that timed out after opening it). Messages wait in the handoff outbox (an agent's,
    an answer an agent asked the assistant for, the notice of a hand-back) only for
    conversations whose session shows one, or for a message queued before the session began."""
    return any(isinstance(e, (ConversationPaused, ConversationResumed))
               or (isinstance(e, SlotSet) and e.key == contract.SLOT_HANDOFF_TICKET)
               or (isinstance(e, BotUttered) and any(k in (e.metadata or {}) for k in AGENT_MESSAGE_KEYS))
               for e in events)


def _handoff_or_new(tracker: DialogueStateTracker) -> bool:
    """`shows_handoff` for a session read from the database; a session with no merchant
    message yet counts as showing one: the turn about to be saved is its first, when
    messages queued before it are passed on."""
    return shows_handoff(tracker.events) or not any(isinstance(e, UserUttered) for e in tracker.events)


def _first_turn_of_session(events: Deque[Event]) -> bool:
    """At most one merchant message since the session began (or no session start in view)."""
    messages = 0
    for e in reversed(events):
        if isinstance(e, SessionStarted):
            return messages <= 1
        if isinstance(e, UserUttered):
            messages += 1
            if messages > 1:
                return False
    return True


@dataclass
class _Known:
    """What this process knows of a conversation as stored: the newest event's id, how many
    events its current session has and the last of them (the very object), a copy of the
    tracker as saved (None once it cannot be continued from), whether the session shows a
    handoff, and whether the handoff outbox may hold messages for it (see
    `may_hold_agent_messages`)."""

    last_id: Optional[int]
    stored: int
    last: Optional[Event] = None
    tracker: Optional[DialogueStateTracker] = None
    handoff: bool = True
    outbox: bool = True

    def added(self, events: Deque[Event]) -> Optional[List[Event]]:
        """The events after the stored ones, when `events` hold those (their last is the
        very object `last`: a tracker from the kept copy or from this process's read shares
        its event objects, also one that holds the session before a new one began); else
        None."""
        if self.last is None:
            return list(events) if self.stored == 0 else None
        after: List[Event] = []
        for e in reversed(events):
            if e is self.last:
                after.reverse()
                return after
            after.append(e)
        return None


def session_of(tracker: DialogueStateTracker, domain: Domain,
               max_event_history: Optional[int]) -> Optional["ConversationTracker"]:
    """The tracker of the latest session alone, as the database reads it (the events from
    the latest SessionStarted's timestamp on, SQLTrackerStore._event_query), replayed."""
    starts = [e.timestamp for e in tracker.events if isinstance(e, SessionStarted)]
    if not starts:
        return None
    start = max(starts)
    events = [e for e in tracker.events if e.timestamp >= start]
    return ConversationTracker.from_events(tracker.sender_id, events, domain.slots, max_event_history)


class SQLConversationStore(SQLTrackerStore):
    """SQLTrackerStore with pooled SQLite connections, recent conversations kept in memory
    and per-request ValueErrors."""

    @property
    def domain(self) -> Domain:
        return self._domain

    @domain.setter
    def domain(self, domain: Optional[Domain]) -> None:
        # A new model's domain may have other slots: kept copies would carry the old ones.
        self._domain = domain or Domain.empty()
        if hasattr(self, "_known"):
            self._known.clear()

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
        self._known: "OrderedDict[str, _Known]" = OrderedDict()
        # One statement, compiled once for the database: the id of a conversation's newest
        # event, read when a turn gets and saves the conversation (and after the events are
        # written, where the database does not return their ids).
        table = self.SQLEvent.__table__
        self._newest = DriverStatement(
            sa.select(sa.func.max(table.c.id)).where(table.c.sender_id == sa.bindparam("sender_id")),
            self.engine.dialect)
        # ... and a conversation's events written after a given one, in the order written.
        self._after = DriverStatement(
            sa.select(table.c.data).where(table.c.sender_id == sa.bindparam("sender_id"),
                                          table.c.id > sa.bindparam("after"),
                                          table.c.id <= sa.bindparam("upto")).order_by(table.c.id),
            self.engine.dialect)
        self._event_insert = EventInsert(table, self.engine.dialect)
        self._keep = settings.kept_conversations()

    def _remember(self, sender_id: str, known: _Known) -> None:
        self._known[sender_id] = known
        self._known.move_to_end(sender_id)
        while len(self._known) > max(self._keep, 0):
            self._known.popitem(last=False)

    def _insert(self, executor: Any, sender_id: str, events: List[Event]) -> Optional[int]:
        """Write `events` (in the transaction of a Core connection or an ORM session), as Rasa
        does (the same JSON, written by `bot.jsontext.dumps`); the conversation's newest event
        id after them when the database returned it (see `EventInsert`), else None."""
        rows = []
        for logged in events:
            data = logged.as_dict()
            rows.append({"sender_id": sender_id, "type_name": logged.type_name,
                         "timestamp": data.get("timestamp"),
                         "intent_name": data.get("parse_data", {}).get("intent", {}).get("name"),
                         "action_name": data.get("name"), "data": jsontext.dumps(data)})
        if not rows:
            return None
        connection = executor.connection() if isinstance(executor, sa.orm.Session) else executor
        return self._event_insert.write(connection, rows)

    def _last_id(self, executor: Any, sender_id: str) -> Optional[int]:
        """The id of the conversation's newest event, in the transaction of `executor` (a Core
        connection or an ORM session)."""
        connection = executor.connection() if isinstance(executor, sa.orm.Session) else executor
        return self._newest.scalar(connection, {"sender_id": sender_id})

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        """The conversation's current session: the kept copy when nothing was written to it
        since this process saved it, else read from the database."""
        known = self._known.get(sender_id)
        if known is not None and known.tracker is not None:
            # One statement on a pooled connection: no ORM session for a kept conversation.
            with self.engine.connect() as connection:
                last_id = self._last_id(connection, sender_id)
                if last_id == known.last_id:
                    self._known.move_to_end(sender_id)
                    return snapshot(known.tracker, ConversationTracker)
                caught_up = self._caught_up(connection, sender_id, known, last_id)
            if caught_up is not None:
                self._remember(sender_id, _Known(last_id, len(caught_up.events), caught_up.events[-1],
                                                 snapshot(caught_up), handoff=_handoff_or_new(caught_up)))
                return caught_up
        with self.session_scope() as session:
            last_id = self._last_id(session, sender_id)
            events = []
            if last_id is not None:  # (a conversation with no event: nothing to read)
                # The events' data alone: no ORM object made for each row.
                query = self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
                events = [json.loads(row.data) for row in query.with_entities(self.SQLEvent.data)]
        if not (self.domain and events):
            if self.domain and last_id is None:
                # Nothing stored (so no handoff either): the save that creates it need not
                # count what is stored.
                self._remember(sender_id, _Known(None, 0, handoff=False))
            else:
                self._known.pop(sender_id, None)
            return None
        tracker = ConversationTracker.from_dict(sender_id, events, self.domain.slots,
                                                self.max_event_history)
        self._remember(sender_id, _Known(last_id, len(tracker.events), tracker.events[-1],
                                         handoff=_handoff_or_new(tracker)))
        return tracker

    def _caught_up(self, connection: Any, sender_id: str, known: _Known,
                   last_id: Optional[int]) -> Optional["ConversationTracker"]:
        """The kept copy with the events another process wrote since (up to `last_id`) applied
        in the order they were written, as a replay of the whole session applies them: what
        the database would give, read without the session's earlier events. With two Rasa
        servers behind a load balancer a conversation's turns alternate between them, and
        each turn found the other's events new. None (read the session instead) when there
        is no kept copy, or one of the new events begins a new session, or one is older than
        the copy's last (the database reads a session from its start's timestamp on)."""
        kept = known.tracker
        if kept is None or not kept.events or known.last_id is None or last_id is None \
                or last_id <= known.last_id:
            return None
        rows = self._after.rows(connection, {"sender_id": sender_id, "after": known.last_id,
                                             "upto": last_id})
        events = deserialise_events([json.loads(data) for (data,) in rows])
        newest = kept.events[-1].timestamp
        if any(isinstance(e, SessionStarted) or e.timestamp < newest for e in events):
            return None
        tracker = snapshot(kept, ConversationTracker)
        for e in events:
            # As the replay of a read applies them (`update` would also stamp this server's
            # model id on another server's events).
            tracker.events.append(e)
            e.apply_to(tracker)
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Write the events the database does not have yet; keep a copy of the tracker when it
        holds exactly what is stored (see `keep` below)."""
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        known = self._known.get(sender_id)
        continued = False
        added = known.added(tracker.events) if known is not None else None
        if known is not None and added is not None:
            # Continued from what this process saved: a Core transaction, no ORM session.
            with self.engine.begin() as connection:
                continued = self._last_id(connection, sender_id) == known.last_id
                if continued:
                    new = added
                    last_id = self._insert(connection, sender_id, new)
                    if last_id is None:
                        last_id = self._last_id(connection, sender_id)
        if not continued:
            with self.session_scope() as session:
                stored = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).count()
                new = list(itertools.islice(tracker.events, stored, None))
                last_id = self._insert(session, sender_id, new)
                if last_id is None:
                    last_id = self._last_id(session, sender_id)
                session.commit()
        if last_id is None:
            # Nothing stored (Rasa saves a conversation it creates before its first event).
            self._remember(sender_id, _Known(None, 0, handoff=False))
            return
        # Kept only when the tracker holds exactly what is stored: this process's own turn on
        # top of what it read, in the session the database reads next.
        new_session = any(isinstance(e, SessionStarted) for e in new)
        kept: Optional[DialogueStateTracker] = None
        if continued:
            assert known is not None
            # A tracker that began a new session holds the one before too (also when saved
            # again in the same turn: its first event is not the kept copy's).
            before = known.tracker is not None and bool(known.tracker.events) and \
                tracker.events[0] is not known.tracker.events[0]
            if new_session or before:
                kept = session_of(tracker, self.domain, self.max_event_history)
            else:
                kept = snapshot(tracker, ConversationTracker)
        if kept is not None and len(kept.events) < len(tracker.events):
            handoff = shows_handoff(kept.events)  # the new session's own
        elif continued:
            assert known is not None
            handoff = known.handoff or shows_handoff(new)
        else:
            handoff = shows_handoff(tracker.events)
        # Once set, it stays set until the outbox has been read (`outbox_read`): a turn saved
        # meanwhile, or a read that failed, does not lose what waits.
        outbox = (handoff or new_session or (known is not None and known.outbox)
                  or (not continued and _first_turn_of_session(tracker.events)))
        if kept is not None:
            stored, last = len(kept.events), kept.events[-1]
        else:
            # (An empty tracker saved where another process has written: no last event.)
            stored, last = len(tracker.events), tracker.events[-1] if tracker.events else None
        self._remember(sender_id, _Known(last_id, stored, last, kept, handoff, outbox))

    def outbox_read(self, sender_id: str) -> None:
        """The handoff outbox was read for the conversation: it may hold more only while its
        session shows a handoff."""
        known = self._known.get(sender_id)
        if known is not None:
            known.outbox = known.handoff

    def may_hold_agent_messages(self, sender_id: str) -> bool:
        """False only when this process saved the conversation's latest turn, its session
        shows no handoff, and the outbox was read since the session began: the handoff
        outbox holds nothing for it then, and the read that follows every merchant turn is
        skipped. An agent's message written after that save reaches the merchant with the
        next turn, whose session then shows the handoff, or through the channel's poll."""
        known = self._known.get(sender_id)
        return known is None or known.outbox

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
