"""A Redis lock store that several Rasa servers can share safely.

Rasa keeps one message of a conversation in work at a time with a ticket lock: each message
takes a ticket, waits until its ticket is first in the queue, and gives it back when done.
Rasa 3.6's own Redis lock store changes that queue with separate GET and SET calls, so when two
servers change one conversation's queue at the same moment, one change overwrites the other: a
waiting ticket vanishes (the message fails with LockError) or two turns of the conversation run
at once and the tracker store keeps only one of them.

Here every change of a queue (issue a ticket, drop expired tickets, give a ticket back) is one
optimistic Redis transaction (WATCH the key, read, MULTI/SET or DEL, EXEC, again if another
server changed the key in between), so no change is lost. A queue left empty is deleted in the
same transaction. `bot.serve` selects this store for LOCK_STORE_TYPE=redis.

Most messages find their conversation's queue empty. For them `lock` takes two Redis round
trips instead of seven (once Redis has the script loaded): the first ticket is one SET of a
new queue if none exists (NX), and it is given back by one script that deletes the queue if
it is still exactly as written. When a queue exists, or another ticket joined the queue
meanwhile, the transactions above do the work. A ticket is given back by its number and
expiry, so that a message whose ticket expired cannot take out a later message's ticket of
the same number.
"""
from __future__ import annotations

import json
import logging
from collections import deque
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Callable, Optional, Tuple, TypeVar

from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)
T = TypeVar("T")
Change = Callable[[Optional[TicketLock]], Tuple[Optional[TicketLock], T]]

# Delete KEYS[1] if it holds ARGV[1]; 1 if deleted, else 0.
DELETE_IF_UNCHANGED = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
"""


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's RedisLockStore with each read-modify-write of a lock done atomically."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, **kwargs: Any) -> None:
        if endpoint_config is not None:
            # Loaded by module path from endpoints.yml: `url` is the Redis host, as for `redis`.
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)
        self._delete_if_unchanged = self.red.register_script(DELETE_IF_UNCHANGED)

    @asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncGenerator[TicketLock, None]:
        """Rasa's `LockStore.lock`: the message's ticket held while the context is open (when
        other tickets are in the queue, after waiting for them in turn as Rasa does), then
        given back by its number and expiry: a ticket of the same number issued after this
        one expired and was dropped is another message's."""
        first = self._first_ticket(conversation_id, lock_lifetime)
        if first is not None:
            held: Optional[TicketLock] = first[0]
            ticket, written = first[0].tickets[0], first[1]
        else:
            held, ticket, written = None, self._issue(conversation_id, lock_lifetime), None
        try:
            if held is None:
                held = await self._acquire_lock(conversation_id, ticket.number, wait_time_in_seconds)
            yield held
        finally:
            self._give_back(conversation_id, ticket, written)

    def _key(self, conversation_id: str) -> str:
        return self.key_prefix + conversation_id

    def _first_ticket(self, conversation_id: str, lifetime: float) -> Optional[Tuple[TicketLock, str]]:
        """The first ticket of a new queue and the queue as written, or None when the
        conversation has a queue already."""
        lock = self.create_lock(conversation_id)
        lock.issue_ticket(lifetime)
        written = lock.dumps()
        try:
            created = self.red.set(self._key(conversation_id), written, nx=True)
        except Exception as e:  # Rasa's contract: any failure here is a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{e}") from e
        return (lock, written) if created else None

    def _give_back(self, conversation_id: str, ticket: Ticket, written: Optional[str]) -> None:
        """Delete the queue if it is still as `_first_ticket` wrote it (`written`); else
        (another message joined the queue, the ticket expired and was dropped, or it was
        queued behind others) take this very ticket out in a transaction."""
        if written is not None and self._delete_if_unchanged(keys=[self._key(conversation_id)],
                                                             args=[written]):
            return

        def give_back(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock is not None:
                lock.tickets = deque(t for t in lock.tickets
                                     if (t.number, t.expires) != (ticket.number, ticket.expires))
            return lock, None

        self._change(conversation_id, give_back)

    def _change(self, conversation_id: str, change: Change[T]) -> T:
        """Apply `change` to the stored lock in one transaction; an empty lock is deleted."""
        key = self._key(conversation_id)

        def apply(pipe: Any) -> T:
            raw = pipe.get(key)
            lock = TicketLock.from_dict(json.loads(raw)) if raw else None
            new, result = change(lock)
            kept = new.dumps() if new is not None and new.tickets else None
            if kept == (raw.decode() if isinstance(raw, bytes) else raw):
                # Nothing changed: write nothing, so no other server's transaction on this
                # key has to start again (a waiting message polls the lock every few ms).
                return result
            pipe.multi()
            if kept is None:
                pipe.delete(key)
            else:
                pipe.set(key, kept)
            return result

        return self.red.transaction(apply, key, value_from_callable=True)

    def _issue(self, conversation_id: str, lifetime: float) -> Ticket:
        """A ticket at the end of the conversation's queue (its number and expiry)."""
        def take(lock: Optional[TicketLock]) -> Tuple[TicketLock, Ticket]:
            lock = lock or self.create_lock(conversation_id)
            lock.issue_ticket(lifetime)
            return lock, lock.tickets[-1]

        try:
            return self._change(conversation_id, take)
        except Exception as e:  # Rasa's contract: any failure here is a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{e}") from e

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        return self._issue(conversation_id, lock_lifetime).number

    def update_lock(self, conversation_id: str) -> None:
        def drop_expired(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._change(conversation_id, drop_expired)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        def give_back(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return lock, None

        self._change(conversation_id, give_back)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        # Giving the ticket back deletes the lock when nobody else waits, in one transaction;
        # Rasa's separate "is someone waiting? then delete" could delete a ticket just issued.
        self.finish_serving(conversation_id, ticket_number)
