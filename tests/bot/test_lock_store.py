"""The Redis lock store shared by several Rasa servers: one message of a conversation at a time,
no queued message lost, however the servers' changes to the queue interleave."""
from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import List

import pytest
from rasa.core.lock_store import LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

from bot.lock_store import DELETE_IF_UNCHANGED, AtomicRedisLockStore
from tests.conftest import redis_or_skip

REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 4
SERVERS, MESSAGES = 4, 40


@pytest.fixture
def redis_db():
    client = redis_or_skip(f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}", "the lock store tests")
    # The give-back script loaded, as after the first lock a server takes (the first call
    # after Redis started also sends SCRIPT LOAD).
    client.script_load(DELETE_IF_UNCHANGED)
    yield client
    for key in client.scan_iter("lock:test-*"):
        client.delete(key)


def store() -> AtomicRedisLockStore:
    return AtomicRedisLockStore(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)


def test_endpoints_yml_loads_it_by_module_path(redis_db):
    config = EndpointConfig(url=REDIS_HOST, type="bot.lock_store.AtomicRedisLockStore",
                            port=REDIS_PORT, db=REDIS_DB)
    created = LockStore.create(config)
    assert isinstance(created, AtomicRedisLockStore)
    assert created.red.connection_pool.connection_kwargs["db"] == REDIS_DB


def test_tickets_are_served_in_order_and_an_empty_queue_is_deleted(redis_db):
    s, cid = store(), f"test-{uuid.uuid4().hex}"
    first, second = s.issue_ticket(cid, 60), s.issue_ticket(cid, 60)
    assert (first, second) == (0, 1)
    lock = s.get_lock(cid)
    assert not lock.is_locked(first) and lock.is_locked(second)
    s.cleanup(cid, first)
    assert not s.get_lock(cid).is_locked(second)
    s.cleanup(cid, second)
    assert redis_db.get(s.key_prefix + cid) is None


def test_an_expired_ticket_gives_way(redis_db):
    s, cid = store(), f"test-{uuid.uuid4().hex}"
    stale = s.issue_ticket(cid, 0.05)
    waiting = s.issue_ticket(cid, 60)
    time.sleep(0.1)
    s.update_lock(cid)
    lock = s.get_lock(cid)
    assert [t.number for t in lock.tickets] == [waiting] and not lock.is_locked(waiting)
    s.cleanup(cid, stale)  # the crashed holder's late give-back changes nothing
    assert [t.number for t in s.get_lock(cid).tickets] == [waiting]


def test_a_poll_that_changes_nothing_writes_nothing(redis_db):
    """Waiting messages poll the lock every few ms; a poll that finds nothing to drop must not
    write, or every other server's transaction on the key starts again (a retry storm)."""
    s, cid = store(), f"test-{uuid.uuid4().hex}"
    s.issue_ticket(cid, 60)
    s.issue_ticket(cid, 60)
    key = s.key_prefix + cid
    with redis_db.pipeline() as other:  # another server, in the middle of its own change
        other.watch(key)
        s.update_lock(cid)
        s.update_lock("test-no-such-conversation")
        current = other.get(key)
        other.multi()
        other.set(key, current)
        assert other.execute() == [True], "the idle poll wrote the key"
    with redis_db.pipeline() as other:  # a real change still lands, and is seen by watchers
        other.watch(key)
        s.cleanup(cid, 0)
        other.multi()
        other.get(key)
        with pytest.raises(Exception, match="Watched variable changed"):
            other.execute()


def test_a_burst_over_several_servers_runs_one_message_at_a_time_and_loses_none(redis_db):
    """SERVERS lock stores (one per Rasa server) take MESSAGES messages of one conversation at
    once. Each message checks that nobody else is inside, and records itself."""
    cid = f"test-{uuid.uuid4().hex}"
    stores = [store() for _ in range(SERVERS)]
    inside = threading.Lock()
    served: List[int] = []
    overlaps: List[int] = []
    failures: List[str] = []
    start = threading.Barrier(MESSAGES)

    def message(n: int) -> None:
        async def turn() -> None:
            async with stores[n % SERVERS].lock(cid, lock_lifetime=20, wait_time_in_seconds=0.005):
                if not inside.acquire(blocking=False):
                    overlaps.append(n)
                    return
                try:
                    await asyncio.sleep(0.003)
                    served.append(n)
                finally:
                    inside.release()

        start.wait()
        try:
            asyncio.run(turn())
        except LockError as e:
            failures.append(f"{n}: {e}")

    threads = [threading.Thread(target=message, args=(n,), daemon=True) for n in range(MESSAGES)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(t.is_alive() for t in threads)
    assert not stuck, f"{stuck} messages still waiting for the lock after 30 s"
    assert not failures, failures
    assert not overlaps, f"messages {overlaps} ran while another message held the lock"
    assert sorted(served) == list(range(MESSAGES))
    assert redis_db.get(stores[0].key_prefix + cid) is None, "the lock was not cleaned up"


def test_redis_down_is_a_lock_error_not_a_hang():
    unreachable = AtomicRedisLockStore(host="127.0.0.1", port=1, db=0, socket_timeout=1)
    started = time.monotonic()
    with pytest.raises(LockError):
        unreachable.issue_ticket("test-down", 60)
    assert time.monotonic() - started < 5


def _commands(s: AtomicRedisLockStore) -> List[str]:
    """The Redis commands `s` sends from now on, by name (transactions as TRANSACTION)."""
    sent: List[str] = []
    execute, transaction = s.red.execute_command, s.red.transaction

    def counted(*args, **kwargs):
        sent.append(str(args[0]).split()[0].upper())
        return execute(*args, **kwargs)

    def counted_transaction(*args, **kwargs):
        sent.append("TRANSACTION")
        return transaction(*args, **kwargs)

    s.red.execute_command, s.red.transaction = counted, counted_transaction
    return sent


def test_a_message_alone_in_its_conversation_takes_the_lock_in_two_round_trips(redis_db):
    s, cid = store(), f"test-{uuid.uuid4().hex}"
    sent = _commands(s)

    async def turn() -> List[int]:
        async with s.lock(cid) as lock:
            assert redis_db.get(s.key_prefix + cid) is not None, "the queue is in Redis meanwhile"
            return [t.number for t in lock.tickets]

    assert asyncio.run(turn()) == [0]
    assert sent == ["SET", "EVALSHA"]
    assert redis_db.get(s.key_prefix + cid) is None, "the queue is deleted"


def test_a_message_that_finds_a_queue_waits_its_turn_and_the_first_gives_back_in_a_transaction(redis_db):
    first, second, cid = store(), store(), f"test-{uuid.uuid4().hex}"
    order: List[str] = []

    async def both() -> None:
        async def later() -> None:
            async with second.lock(cid, wait_time_in_seconds=0.005) as lock:
                order.append(f"second {[t.number for t in lock.tickets]}")

        async with first.lock(cid):
            waiting = asyncio.ensure_future(later())
            await asyncio.sleep(0.05)
            assert [t.number for t in first.get_lock(cid).tickets] == [0, 1]
            order.append("first")
            sent = _commands(first)
        await asyncio.wait_for(waiting, 5)
        assert sent[:2] == ["EVALSHA", "TRANSACTION"], "the queue had changed: given back in a transaction"

    asyncio.run(both())
    assert order == ["first", "second [1]"]
    assert redis_db.get(first.key_prefix + cid) is None


def test_a_first_ticket_that_expired_and_was_dropped_is_given_back_without_harm(redis_db):
    s, other, cid = store(), store(), f"test-{uuid.uuid4().hex}"

    async def slow_turn() -> None:
        async with s.lock(cid, lock_lifetime=0.05):
            await asyncio.sleep(0.1)
            # Another server drops the expired ticket and takes the next.
            assert other.issue_ticket(cid, 60) == 0  # numbered afresh: the queue was empty
            assert len(other.get_lock(cid).tickets) == 1

    asyncio.run(slow_turn())
    left = s.get_lock(cid).tickets
    assert len(left) == 1 and left[0].expires > time.time() + 30, "the other server's ticket stays"


def test_redis_down_is_a_lock_error_when_taking_the_lock():
    unreachable = AtomicRedisLockStore(host="127.0.0.1", port=1, db=0, socket_timeout=1)

    async def turn() -> None:
        async with unreachable.lock("test-down"):
            pass

    with pytest.raises(LockError):
        asyncio.run(turn())


def test_a_queued_ticket_that_expired_is_given_back_without_taking_a_later_one_of_its_number(redis_db):
    s, other, cid = store(), store(), f"test-{uuid.uuid4().hex}"

    async def turns() -> None:
        async def queued() -> None:
            async with s.lock(cid, lock_lifetime=0.2, wait_time_in_seconds=0.005) as lock:
                assert [t.number for t in lock.tickets] == [1]
                await asyncio.sleep(0.3)  # past its lifetime
                # Another server drops it and issues two tickets: the second has its number.
                assert (other.issue_ticket(cid, 60), other.issue_ticket(cid, 60)) == (0, 1)

        async with s.lock(cid):
            waiting = asyncio.ensure_future(queued())
            await asyncio.sleep(0.05)
        await asyncio.wait_for(waiting, 5)

    asyncio.run(turns())
    assert [t.number for t in s.get_lock(cid).tickets] == [0, 1], "the later tickets stay"
