"""The conversations' store (bot/tracker_store.py): Rasa's SQL tracker store by class path, with
pooled SQLite connections and a ValueError failing one request instead of the server."""
from __future__ import annotations

import sqlite3
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from rasa.core.tracker_store import SQLTrackerStore, create_tracker_store
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    DefinePrevUserUtteredFeaturization,
    FollowupAction,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig, read_endpoint_config
from sqlalchemy import event

from bot.tracker_store import ConversationTracker, SQLConversationStore, engine_kwargs, snapshot

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


def _store(path: Path, keep: int = 128) -> SQLConversationStore:
    store = SQLConversationStore(Domain.empty(), host=f"sqlite:///{path}")
    store._keep = keep
    return store


def _reads(store: SQLConversationStore) -> list:
    """Calls of the query that reads a whole session's events (or counts them)."""
    calls: list = []
    original = store._event_query

    def spy(*args, **kwargs):
        calls.append(args[1])
        return original(*args, **kwargs)

    store._event_query = spy  # type: ignore[method-assign]
    return calls


async def _turn(store: SQLConversationStore, sender: str, n: int):
    tracker = await store.get_or_create_tracker(sender)
    tracker.update(UserUttered(f"第{n}个问题"))
    tracker.update(BotUttered(f"第{n}个回答"))
    await store.save(tracker)
    return tracker


def _begin_session(tracker, question: str, answer: str) -> None:
    """A session started on `tracker`, with one question and its answer."""
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered(question, {"name": "ask_programme"}))
    tracker.update(BotUttered(answer))


def _answers(tracker) -> list:
    return [e.text for e in tracker.events if isinstance(e, BotUttered)]


async def test_a_turn_continues_from_the_kept_conversation_without_reading_its_events(tmp_path):
    store = _store(tmp_path / "t.db")
    await _turn(store, "m-1", 0)
    await _turn(store, "m-1", 1)
    reads = _reads(store)
    for n in range(2, 6):
        await _turn(store, "m-1", n)
    assert reads == [], "kept conversations are neither re-read nor counted"
    fresh = _store(tmp_path / "t.db")  # what another process reads from the database
    assert _answers(await fresh.retrieve("m-1")) == [f"第{i}个回答" for i in range(6)]
    assert _answers(await store.retrieve("m-1")) == [f"第{i}个回答" for i in range(6)]


async def test_a_copy_is_handed_out_so_a_turn_that_fails_before_saving_leaves_nothing_behind(tmp_path):
    store = _store(tmp_path / "t.db")
    for n in range(3):
        await _turn(store, "m-1", n)
    failed = await store.retrieve("m-1")
    failed.update(BotUttered("没有保存的回答"))
    assert "没有保存的回答" not in _answers(await store.retrieve("m-1"))
    await _turn(store, "m-1", 3)
    fresh = _store(tmp_path / "t.db")
    assert _answers(await fresh.retrieve("m-1")) == [f"第{i}个回答" for i in range(4)]


async def test_a_conversation_another_process_wrote_to_is_read_again(tmp_path):
    mine, other = _store(tmp_path / "t.db"), _store(tmp_path / "t.db")
    for n in range(3):
        await _turn(mine, "m-1", n)
    await _turn(other, "m-1", 3)  # the load balancer sent this turn to the other process
    await _turn(mine, "m-1", 4)
    expected = [f"第{i}个回答" for i in range(5)]
    assert _answers(await mine.retrieve("m-1")) == expected
    assert _answers(await _store(tmp_path / "t.db").retrieve("m-1")) == expected
    with mine.session_scope() as session:  # each event stored once
        assert session.query(mine.SQLEvent).filter(mine.SQLEvent.type_name == "bot").count() == 5


async def test_a_new_session_is_kept_as_the_database_reads_it_holding_only_that_session(tmp_path):
    store = _store(tmp_path / "t.db")
    for n in range(2):
        await _turn(store, "m-1", n)
    tracker = await store.retrieve("m-1")
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    tracker.update(SlotSet("topic", "gold"))  # carried over
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered("新会话的问题", {"name": "ask_programme"}))
    tracker.update(BotUttered("新会话的回答"))
    await store.save(tracker)
    reads = _reads(store)
    again = await store.retrieve("m-1")
    assert reads == [], "the new session is continued from memory"
    fresh = await _store(tmp_path / "t.db").retrieve("m-1")
    assert _answers(again) == _answers(fresh) == ["新会话的回答"]
    assert _state(again) == _state(fresh)
    # the next turn continues it, and what is stored is each event once
    await _turn(store, "m-1", 2)
    assert _state(await store.retrieve("m-1")) == _state(await _store(tmp_path / "t.db").retrieve("m-1"))
    assert reads == []


async def test_the_tracker_that_began_a_new_session_saved_again_is_not_taken_for_the_kept_one(tmp_path):
    """The same tracker object saved twice in one turn, a new session begun in between: its
    events are not the kept session's, so the second save counts what is stored."""
    store = _store(tmp_path / "t.db")
    await _turn(store, "m-1", 0)
    tracker = await store.retrieve("m-1")
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    await store.save(tracker)
    tracker.update(UserUttered("新会话的问题", {"name": "ask_programme"}))
    tracker.update(BotUttered("同一个对象再保存"))
    await store.save(tracker)
    fresh = await _store(tmp_path / "t.db").retrieve("m-1")
    assert _answers(fresh) == ["同一个对象再保存"]
    assert _state(await store.retrieve("m-1")) == _state(fresh)
    with store.session_scope() as session:  # each event stored once
        assert session.query(store.SQLEvent).filter(store.SQLEvent.type_name == "bot").count() == 2


async def test_at_most_the_configured_number_of_conversations_is_kept(tmp_path):
    store = _store(tmp_path / "t.db", keep=2)
    for sender in ("a", "b", "c"):
        await _turn(store, sender, 0)
    assert list(store._known) == ["b", "c"]
    none_kept = _store(tmp_path / "t2.db", keep=0)
    await _turn(none_kept, "a", 0)
    await _turn(none_kept, "a", 1)
    assert not none_kept._known
    assert _answers(await none_kept.retrieve("a")) == ["第0个回答", "第1个回答"]


async def test_turns_alternating_between_two_processes_read_only_the_others_new_events(tmp_path):
    """Two Rasa servers behind a load balancer: each catches its kept copy up with the events
    the other wrote, and holds what a fresh read of the database holds."""
    first, second = _store(tmp_path / "t.db"), _store(tmp_path / "t.db")
    await _turn(first, "m-1", 0)
    await _turn(second, "m-1", 1)
    reads = _reads(first) + _reads(second)
    first_reads, second_reads = _reads(first), _reads(second)
    for n in range(2, 8):
        await _turn(first if n % 2 == 0 else second, "m-1", n)
    assert first_reads == [] and second_reads == [], "no session read again"
    assert reads == []
    expected = [f"第{i}个回答" for i in range(8)]
    fresh = await _store(tmp_path / "t.db").retrieve("m-1")
    assert _answers(fresh) == expected
    for store in (first, second):
        assert _state(await store.retrieve("m-1")) == _state(fresh)
    with first.session_scope() as session:  # each event stored once
        assert session.query(first.SQLEvent).filter(first.SQLEvent.type_name == "bot").count() == 8


async def test_state_the_other_process_left_is_caught_up_as_a_replay_gives_it(tmp_path):
    """Slots, a form, a pause and its end, a follow-up: caught up from the new events alone,
    the tracker is the one read from the database, and the next turn continues it."""
    domain = Domain.from_dict({"slots": {name: {"type": "any", "mappings": [{"type": "custom"}]}
                                         for name in _rich_tracker().slots
                                         if name != "session_started_metadata"}})
    mine = SQLConversationStore(domain, host=f"sqlite:///{tmp_path / 't.db'}")
    other = SQLConversationStore(domain, host=f"sqlite:///{tmp_path / 't.db'}")
    await _turn(mine, "m-1", 0)
    tracker = await other.retrieve("m-1")
    for e in list(_rich_tracker().events)[2:]:  # (made after that turn: their clock is later)
        tracker.update(e)
    await other.save(tracker)
    reads = _reads(mine)
    caught_up = await mine.retrieve("m-1")
    assert reads == []
    fresh = await SQLConversationStore(domain, host=f"sqlite:///{tmp_path / 't.db'}").retrieve("m-1")
    assert _state(caught_up) == _state(fresh)
    assert caught_up.get_slot("entries") == ["gold", "silver"] and caught_up.active_loop_name == "a_form"
    await _turn(mine, "m-1", 1)
    assert reads == []
    assert _state(await mine.retrieve("m-1")) == \
        _state(await SQLConversationStore(domain, host=f"sqlite:///{tmp_path / 't.db'}").retrieve("m-1"))



async def test_the_other_processs_events_are_caught_up_as_they_were_stored(tmp_path):
    """Applied as a read replays them: not stamped with this server's model id."""
    mine, other = _store(tmp_path / "t.db"), _store(tmp_path / "t.db")
    await _turn(mine, "m-1", 0)
    mine._known["m-1"].tracker.model_id = "this-servers-model"
    await _turn(other, "m-1", 1)
    caught_up = await mine.retrieve("m-1")
    fresh = await _store(tmp_path / "t.db").retrieve("m-1")
    assert [e.metadata for e in caught_up.events] == [e.metadata for e in fresh.events]

async def test_a_new_session_or_an_older_event_from_the_other_process_is_read_whole(tmp_path):
    mine, other = _store(tmp_path / "t.db"), _store(tmp_path / "t.db")
    for n in range(2):
        await _turn(mine, "m-1", n)
    tracker = await other.retrieve("m-1")
    _begin_session(tracker, "新会话的问题", "新会话的回答")
    await other.save(tracker)
    reads = _reads(mine)
    again = await mine.retrieve("m-1")
    assert reads == ["m-1"], "a new session is read from the database"
    assert _answers(again) == ["新会话的回答"]
    assert _state(again) == _state(await _store(tmp_path / "t.db").retrieve("m-1"))
    await _turn(mine, "m-1", 2)
    # An event whose clock is behind the kept copy's last: the database orders the session
    # by id but finds its start by timestamp, so it is read whole.
    tracker = await other.retrieve("m-1")
    late = BotUttered("时钟慢的服务器", timestamp=tracker.events[-1].timestamp - 60)
    tracker.update(late)
    await other.save(tracker)
    reads.clear()
    again = await mine.retrieve("m-1")
    assert reads == ["m-1"]
    assert _state(again) == _state(await _store(tmp_path / "t.db").retrieve("m-1"))


async def test_a_save_on_top_of_another_processs_write_keeps_no_copy(tmp_path):
    """Two writers at once (a lock that expired): the next turn reads what the database holds."""
    mine, other = _store(tmp_path / "t.db"), _store(tmp_path / "t.db")
    for n in range(2):
        await _turn(mine, "m-1", n)
    read_by_me = await mine.retrieve("m-1")
    await _turn(other, "m-1", 2)
    read_by_me.update(BotUttered("A的回答"))
    await mine.save(read_by_me)
    stored = _answers(await _store(tmp_path / "t.db").retrieve("m-1"))
    assert _answers(await mine.retrieve("m-1")) == stored


async def test_a_new_domain_drops_the_kept_conversations(tmp_path):
    store = _store(tmp_path / "t.db")
    for n in range(2):
        await _turn(store, "m-1", n)
    assert store._known["m-1"].tracker is not None
    store.domain = Domain.from_dict({"slots": {"b": {"type": "any", "mappings": [{"type": "custom"}]}}})
    assert not store._known
    tracker = await store.retrieve("m-1")
    tracker.update(SlotSet("b", "有值"))
    assert tracker.get_slot("b") == "有值"


async def test_a_conversation_with_nothing_stored_is_remembered_as_empty(tmp_path):
    store = _store(tmp_path / "t.db")
    await store.save(DialogueStateTracker("z", store.domain.slots))
    assert await store.retrieve("z") is None
    assert store._known["z"].tracker is None and store._known["z"].stored == 0
    reads = _reads(store)
    await _turn(store, "z", 0)  # no event stored, so none read; its first save counts nothing
    assert reads == []
    other = _store(tmp_path / "t.db")
    assert await other.retrieve("y") is None
    await _turn(store, "y", 0)  # meanwhile written by this process: the other one sees it
    await _turn(other, "y", 1)
    assert _answers(await _store(tmp_path / "t.db").retrieve("y")) == ["第0个回答", "第1个回答"]


def _rich_tracker() -> DialogueStateTracker:
    """A session with every kind of state a turn can leave: slots (text, list, bool), an
    active loop, a follow-up action, a pause, a latest message and bot utterance."""
    domain = Domain.from_dict({
        "intents": ["ask_programme", "affirm"],
        "slots": {"pending_offer": {"type": "text", "mappings": [{"type": "custom"}]},
                  "entries": {"type": "list", "mappings": [{"type": "custom"}]},
                  "signed_in": {"type": "bool", "mappings": [{"type": "custom"}]}},
        "actions": ["action_answer_programme"], "forms": {"a_form": {"required_slots": []}}})
    events = [
        ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
        UserUttered("金牌卖家要什么条件", {"name": "ask_programme", "confidence": 0.9},
                    [{"entity": "tier", "value": "gold"}]),
        DefinePrevUserUtteredFeaturization(False),
        ActionExecuted("action_answer_programme"), BotUttered("第一个回答", metadata={"x": 1}),
        SlotSet("pending_offer", "check_status"), SlotSet("entries", ["gold", "silver"]),
        ActiveLoop("a_form"), FollowupAction("action_listen"), ConversationPaused(),
        ConversationResumed(), SlotSet("signed_in", True),
        ActionExecuted("action_listen"), UserUttered("好的", {"name": "affirm", "confidence": 0.95}),
    ]
    return DialogueStateTracker.from_events("m-1", events, domain.slots)


def _state(tracker: DialogueStateTracker) -> dict:
    """Everything a tracker holds, comparable: its events, slots and the state beside them."""
    from rasa.shared.core.trackers import EventVerbosity
    return {"current": tracker.current_state(EventVerbosity.ALL),
            "slots": {name: slot.value for name, slot in tracker.slots.items()},
            **{name: (value.as_dict() if hasattr(value, "as_dict") else value)
               for name, value in vars(tracker).items() if name not in ("events", "slots")}}


def test_a_snapshot_is_what_rasas_replayed_copy_is():
    """Guards snapshot() against Rasa: a tracker state it does not carry (a new attribute
    holding state, an event that keeps state of its own) shows as a difference here."""
    tracker = _rich_tracker()
    replayed, snap = tracker.copy(), snapshot(tracker)
    replayed.sender_source = tracker.sender_source  # the one attribute Rasa's copy drops
    assert _state(snap) == _state(replayed) == _state(tracker)
    assert snap.latest_message is snap.events[-1], "the latest message is the very event logged"


def test_a_turn_on_a_snapshot_leaves_the_original_as_it_was():
    tracker = _rich_tracker()
    before = _state(tracker)
    snap = snapshot(tracker)
    snap.slots["entries"].value.append("changed in place")
    snap.update_with_events([SlotSet("entries", ["silver"]), SlotSet("pending_offer", None),
                             ActiveLoop(None), UserUttered("再问一个"), Restarted()], None)
    assert _state(tracker) == before
    assert len(snap.events) == len(tracker.events) + 5


async def test_the_trackers_a_turn_works_on_copy_themselves_as_snapshots(tmp_path):
    store = _store(tmp_path / "t.db")
    await _turn(store, "m-1", 0)
    fresh = await _store(tmp_path / "t.db").retrieve("m-1")  # read from the database
    kept = await store.retrieve("m-1")  # continued from memory
    for tracker in (fresh, kept):
        assert isinstance(tracker, ConversationTracker)
        copied = tracker.copy()
        assert type(copied) is ConversationTracker and _state(copied) == _state(tracker)
        copied.update(BotUttered("只在副本里"))
        assert "只在副本里" not in _answers(tracker)


def test_applied_events_continued_turn_by_turn_are_rasas():
    """ConversationTracker.applied_events against Rasa's own, through every kind of event that
    rewinds or resets the dialogue, and through a form (whose events are never continued)."""
    import random
    rng = random.Random(17)
    domain = Domain.from_dict({"intents": ["ask_programme"], "forms": {"a_form": {"required_slots": []}},
                               "actions": ["action_answer_programme"]})
    tracker = ConversationTracker("m-1", domain.slots)
    rare = [[Restarted()], [ActionExecuted("action_session_start"), SessionStarted()],
            [UserUtteranceReverted()], [ActionReverted()], [ConversationPaused(), ConversationResumed()]]
    for n in range(80):
        tracker = tracker.copy()
        turn = [ActionExecuted("action_listen"), UserUttered(f"第{n}个问题", {"name": "ask_programme"}),
                ActionExecuted("action_answer_programme"), BotUttered(f"第{n}个回答")]
        if rng.random() < 0.15:
            turn += rng.choice(rare)
        if n == 60:
            turn += [ActiveLoop("a_form"), ActionExecuted("a_form"), ActiveLoop(None)]
        for logged in turn:
            tracker.update(logged)
            expected = DialogueStateTracker.applied_events(tracker)
            assert tracker.applied_events() == expected, f"turn {n}, after {logged}"
    assert tracker._applied is None, "after a form, applied events are read whole"


async def _said(store: SQLConversationStore, sender: str, *events) -> bool:
    """One turn with `events` after the merchant's message; then whether the handoff outbox
    is to be read for the conversation."""
    tracker = await store.get_or_create_tracker(sender)
    tracker.update(UserUttered("问题"))
    for e in events:
        tracker.update(e)
    tracker.update(BotUttered("回答"))
    await store.save(tracker)
    may = store.may_hold_agent_messages(sender)
    if may:
        store.outbox_read(sender)  # as the reply to the merchant reads it (bot/agent_relay.py)
    return may


async def test_the_handoff_outbox_is_read_only_where_the_session_shows_a_handoff(tmp_path):
    store = _store(tmp_path / "t.db")
    assert store.may_hold_agent_messages("m-1"), "a conversation this process has not saved: read"
    assert await _said(store, "m-1", SessionStarted()), "the first turn of a session: read"
    assert not await _said(store, "m-1"), "no ticket, no pause: nothing can wait"
    assert not await _said(store, "m-1")
    assert await _said(store, "m-1", SlotSet("handoff_ticket", "7"), ConversationPaused())
    assert await _said(store, "m-1"), "the session shows the handoff from then on"
    assert await _said(store, "m-1", ConversationResumed(), SlotSet("handoff_ticket", None)), \
        "handed back: the notice waits in the outbox"
    assert await _said(store, "m-1")
    # A new session (an hour of silence): its first turn reads what was queued before it.
    assert await _said(store, "m-1", SessionStarted())
    assert not await _said(store, "m-1")


async def test_a_handoff_written_by_another_process_is_seen_at_the_next_turn(tmp_path):
    mine, other = _store(tmp_path / "t.db"), _store(tmp_path / "t.db")
    await _said(mine, "m-1", SessionStarted())
    assert not await _said(mine, "m-1")
    # An agent's message through the other Rasa server, in the transcript, while a ticket is open.
    tracker = await other.retrieve("m-1")
    tracker.update(SlotSet("handoff_ticket", "9"))
    tracker.update(ConversationPaused())
    tracker.update(BotUttered("客服的消息", metadata={"agent": "agent-1"}))
    await other.save(tracker)
    assert await _said(mine, "m-1"), "read again from the database: the ticket shows"
    assert await _said(_store(tmp_path / "t.db"), "m-1"), "a process that only read it: read"


def test_a_snapshots_slots_are_of_their_own_and_of_rasas_kind():
    tracker = _rich_tracker()
    snap = snapshot(tracker)
    assert type(snap.slots) is type(tracker.slots)
    untyped = DialogueStateTracker("m-2", None)  # without a domain: Rasa's AnySlotDict
    untyped.update(SlotSet("any_name", "值"))
    copied = snapshot(untyped)
    assert type(copied.slots) is type(untyped.slots) and copied.slots["never_declared"].value is None
    assert copied.get_slot("any_name") == "值"
    for name, slot in tracker.slots.items():
        assert snap.slots[name] is not slot and snap.slots[name].value == slot.value
    snap.slots["signed_in"].value = False
    assert tracker.get_slot("signed_in") is True


async def test_an_agents_message_shows_the_handoff_and_a_failed_read_is_tried_again(tmp_path):
    store = _store(tmp_path / "t.db")
    assert await _said(store, "m-1", SessionStarted())
    assert not await _said(store, "m-1")
    # A ticket whose events never reached the conversation (the handoff action timed out after
    # opening it): the agent's message itself shows the handoff.
    tracker = await store.retrieve("m-1")
    tracker.update(BotUttered("客服的消息", metadata={"agent": "agent-1", "ticket": 5}))
    await store.save(tracker)
    assert store.may_hold_agent_messages("m-1")
    # The read fails (the database is down): nothing marks it read, the next turn reads again.
    tracker = await store.retrieve("m-1")
    tracker.update(UserUttered("问题"))
    await store.save(tracker)
    assert store.may_hold_agent_messages("m-1")
    # A session of its own without any of that: read once, at its first turn.
    other = _store(tmp_path / "t.db")
    tracker = await other.get_or_create_tracker("m-2")
    tracker.update(SessionStarted())
    tracker.update(UserUttered("会话的第一条"))
    await other.save(tracker)
    tracker = await other.retrieve("m-2")
    tracker.update(UserUttered("同时到达的另一条"))
    await other.save(tracker)  # a second turn saved before the first one's reply read the outbox
    assert other.may_hold_agent_messages("m-2")
    other.outbox_read("m-2")
    assert not other.may_hold_agent_messages("m-2")


async def test_a_conversation_rasa_creates_is_saved_without_counting_what_is_stored(tmp_path):
    """Rasa's processor creates a new conversation without a first event and saves it at once."""
    store = _store(tmp_path / "t.db")
    reads = _reads(store)
    tracker = await store.get_or_create_tracker("new", append_action_listen=False)
    assert tracker.events == deque() or not tracker.events
    _begin_session(tracker, "第一个问题", "第一个回答")
    await store.save(tracker)
    assert reads == [], "nothing stored, so nothing read; then neither counted nor read back"
    again = await store.retrieve("new")
    assert reads == []
    assert _state(again) == _state(await _store(tmp_path / "t.db").retrieve("new"))


async def test_an_empty_conversation_another_process_wrote_to_meanwhile_is_saved_and_read_again(tmp_path):
    mine, other = _store(tmp_path / "t.db"), _store(tmp_path / "t.db")
    assert await mine.retrieve("m-1") is None  # remembered as empty
    await _turn(other, "m-1", 0)  # the other server's turn gets there first
    await mine.save(DialogueStateTracker("m-1", mine.domain.slots))  # Rasa creating it here
    assert _answers(await mine.retrieve("m-1")) == ["第0个回答"]
    await _turn(mine, "m-1", 1)
    assert _answers(await _store(tmp_path / "t.db").retrieve("m-1")) == ["第0个回答", "第1个回答"]


@contextmanager
def _store_on(database: str, tmp_path: Path) -> Iterator[SQLConversationStore]:
    """A store on SQLite in `tmp_path`, or on PostgreSQL in a schema of its own (dropped after)."""
    import sqlalchemy as sa

    from tests.database import _postgres_schema_url

    admin = schema = None
    if database == "sqlite":
        url = f"sqlite:///{tmp_path / 't.db'}"
    else:
        admin, schema, url = _postgres_schema_url()
    store = SQLConversationStore(Domain.empty(), host=url)
    try:
        yield store
    finally:
        store.engine.dispose()
        if admin is not None:
            with admin.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_the_newest_events_id_is_read_as_sqlalchemy_reads_it(tmp_path, database):
    """The id the store checks when a turn gets and saves a conversation, read on the driver's
    cursor (and returned by the insert on PostgreSQL): the same as
    SQLAlchemy's execution of the statement, in the same transaction, with SQLAlchemy's error
    when the driver fails (what the channels answer 503 to)."""
    import sqlalchemy as sa

    from bot.tracker_store import DriverStatement
    with _store_on(database, tmp_path) as store:
        await _turn(store, "merchant-1", 1)
        await _turn(store, "merchant-2", 1)
        await _turn(store, "merchant-1", 2)
        table = store.SQLEvent.__table__
        query = sa.select(sa.func.max(table.c.id)).where(table.c.sender_id == sa.bindparam("sender_id"))
        senders = ("merchant-1", "merchant-2", "nobody", "it's \"quoted\" %s %(x)s ? :x")
        with store.engine.begin() as connection:
            expected = [connection.execute(query, {"sender_id": s}).scalar() for s in senders]
            assert [store._last_id(connection, s) for s in senders] == expected
            assert expected[0] > expected[1] > 0 and expected[2] is None
            # Not committed yet:
            returned = store._insert(connection, "merchant-2", [UserUttered("再问一个")])
            assert store._last_id(connection, "merchant-2") == expected[0] + 1
            assert returned == (expected[0] + 1 if database == "postgresql" else None)
        with store.session_scope() as session:
            assert store._last_id(session, "merchant-2") == expected[0] + 1
        broken = DriverStatement(sa.select(sa.column("no_such_column")).select_from(table),
                                 store.engine.dialect)
        with store.engine.connect() as connection:
            with pytest.raises(sa.exc.DBAPIError):
                broken.scalar(connection, {})


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_events_are_written_as_sqlalchemys_insert_writes_them(tmp_path, database):
    """The store's own INSERT (one statement per 32 events, on the driver's cursor) writes the
    rows SQLAlchemy's Core insert of the same values writes, in the same order; on PostgreSQL
    it returns the newest id."""
    import sqlalchemy as sa

    with _store_on(database, tmp_path) as store:
        events = [UserUttered(f"问题{i}", {"name": "ask_programme", "confidence": 0.9}, timestamp=1000.0 + i)
                  if i % 2 else ActionExecuted("action_listen", timestamp=1000.0 + i) for i in range(70)]
        table = store.SQLEvent.__table__
        with store.engine.begin() as connection:
            returned = store._insert(connection, "ours", events)
            newest = connection.execute(sa.select(sa.func.max(table.c.id))).scalar()
            # SQLAlchemy's Core insert of the rows the store makes, as Rasa's store executes it.
            rows = []
            store._event_insert.write = lambda _, made: rows.extend(made)
            store._insert(connection, "sqlalchemy", events)
            connection.execute(table.insert(), [dict(r, sender_id="sqlalchemy") for r in rows])
        assert returned == (newest if database == "postgresql" else None)
        columns = [c for c in table.c if c.name not in ("id", "sender_id")]
        with store.engine.connect() as connection:
            written = {sender: connection.execute(sa.select(*columns).where(table.c.sender_id == sender)
                                                  .order_by(table.c.id)).fetchall()
                       for sender in ("ours", "sqlalchemy")}
        assert len(written["ours"]) == 70 and written["ours"] == written["sqlalchemy"]
        assert [r.timestamp for r in written["ours"]] == [1000.0 + i for i in range(70)]


async def test_a_conversation_with_no_event_is_not_read_for_its_events(tmp_path):
    import sqlalchemy as sa

    store = _store(tmp_path / "t.db")
    await _turn(store, "stored", 0)
    queries: list = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: queries.append(args[2]))
    try:
        assert await store.retrieve("nobody") is None
        assert not any(q.startswith("SELECT events.data") for q in queries), queries
        assert await _store(tmp_path / "t.db").retrieve("stored") is not None  # (another store: read)
        assert await store.retrieve("stored-elsewhere") is None
        store._known.clear()  # nothing kept: read from the database
        assert _answers(await store.retrieve("stored")) == ["第0个回答"]
        assert any(q.startswith("SELECT events.data") for q in queries), "the listener sees reads"
    finally:
        store.engine.dispose()
