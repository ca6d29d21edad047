"""How often one client may call the assistant, so that one client's flood neither stalls the
others, nor fills the agents' queue, nor writes the audit log row by row.

Four limits, each a `limits` rate ("30/minute"), set by environment variables:

- ASSISTANT_LIMIT_PER_ADDRESS (default 120/minute): messages from one client address, on every
  channel together (behind a proxy, the address it passes on: see docs/deployment.md);
- ASSISTANT_LIMIT_PER_CONVERSATION (default 30/minute): messages to one conversation (a REST
  sender, a signed-in merchant, a web chat user);
- ASSISTANT_LIMIT_ANONYMOUS_TICKETS (default 5/hour): handoff tickets opened by anonymous
  conversations from one client address (signed-in merchants' are not limited: their
  conversation holds one open ticket at most, whatever they send);
- ASSISTANT_LIMIT_REFUSAL_AUDITS (default 10/minute): audit rows of one kind of refusal (bad
  token, bad signature, ...) per channel; the first of each kind is always written, the rest
  are counted and the count is written with the next row of that kind.

A message over a limit is answered 429 with Retry-After and nothing reaches the conversation;
a handoff over the ticket limit is told that no agent can take it now. The counters live in
memory (one process) unless ASSISTANT_LIMIT_STORAGE names shared storage, e.g.
redis://127.0.0.1:6379/3, which several Rasa servers behind nginx must share.
`limits` is pinned at 2.4 because Rasa 3.6 pins `packaging` below 21, which later releases need.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from limits import parse, storage, strategies
from limits.storage import MemoryStorage

from core import contract, settings
from core.logsafe import failure

logger = logging.getLogger(__name__)

DEFAULTS = {
    "ASSISTANT_LIMIT_PER_ADDRESS": "120/minute",
    "ASSISTANT_LIMIT_PER_CONVERSATION": "30/minute",
    "ASSISTANT_LIMIT_ANONYMOUS_TICKETS": "5/hour",
    "ASSISTANT_LIMIT_REFUSAL_AUDITS": "10/minute",
}
# Rates no client on one machine reaches: for servers that a scorer, a benchmark or a test
# suite drives from 127.0.0.1 many times a second.
UNLIMITED = {name: "1000000/minute" for name in DEFAULTS}
STORAGE_VARIABLE = "ASSISTANT_LIMIT_STORAGE"
# Where a channel puts the client's address in a message's metadata (for the ticket limit).
CLIENT_ADDRESS = contract.META_CLIENT_ADDRESS


class SweptMemoryStorage(MemoryStorage):
    """`limits`' in-process storage, swept of expired entries by the call that finds a sweep
    due (at most once a second), not by a timer thread. `limits` 2.4 starts a new
    `threading.Timer` on every hit whose last timer has fired, 10 ms after it: one thread
    started and one sweep of every key per message. Counters and windows read their own
    expiry, so a sweep only frees memory; what it frees is the same."""

    SWEEP_SECONDS = 1.0

    def __init__(self, uri: str = "memory://", **options: Any) -> None:
        super().__init__(uri, **options)
        self.timer.cancel()  # the one timer MemoryStorage starts as it is made
        self.timer.join()
        self._swept = time.monotonic()

    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now - self._swept >= self.SWEEP_SECONDS:
            self._swept = now
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


def _rate(name: str, configured: Optional[str], default: str) -> Any:
    """The configured rate, or the default (logged) when it is not one `limits` reads."""
    if configured:
        try:
            return parse(configured)
        except ValueError:
            logger.error("%s=%r is not a rate such as 30/minute; using %s", name, configured, default)
    return parse(default)


@dataclass(frozen=True)
class Refusal:
    """Whether a refusal's audit row is written, and how many like it were not since the last."""

    write: bool
    not_written_before: int = 0


class Limits:
    """The rate limits of one process (a Rasa or action server), with their storage."""

    def __init__(self, env: Optional[Dict[str, str]] = None) -> None:
        env = settings.environment() if env is None else dict(env)
        self.rates = {name: _rate(name, env.get(name), default) for name, default in DEFAULTS.items()}
        url = env.get(STORAGE_VARIABLE) or "memory://"
        self.storage = SweptMemoryStorage() if url == "memory://" else storage.storage_from_string(url)
        self.limiter = strategies.MovingWindowRateLimiter(self.storage)
        self._unwritten: Dict[Tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def _hit(self, variable: str, *key: str) -> Optional[int]:
        """None when allowed; else the seconds until the window lets the next one through."""
        rate = self.rates[variable]
        try:
            if self.limiter.hit(rate, *key):
                return None
            reset, _ = self.limiter.get_window_stats(rate, *key)
        except Exception as e:  # noqa: BLE001 - shared storage down: serve rather than refuse
            logger.error("rate limit storage unreachable, not limiting: %s", failure(e))
            return None
        return max(1, int(reset - time.time()) + 1)

    def message(self, channel: str, address: str, conversation: str) -> Optional[int]:
        """Count one message; the seconds to wait when the address or conversation is over."""
        wait = self._hit("ASSISTANT_LIMIT_PER_ADDRESS", "address", address or "?")
        if wait is None:
            wait = self._hit("ASSISTANT_LIMIT_PER_CONVERSATION", "conversation", channel, conversation)
        return wait

    def anonymous_ticket(self, address: Optional[str]) -> bool:
        """Whether an anonymous conversation from this address may open a ticket now."""
        return self._hit("ASSISTANT_LIMIT_ANONYMOUS_TICKETS", "ticket", address or "?") is None

    def first_time(self, kind: str, key: str, seconds: int) -> bool:
        """Whether `key` of this kind was not seen in the last `seconds` (a replayed callback's
        message id was); counted in the limits' storage, so several servers share it."""
        try:
            return self.storage.incr(f"seen/{kind}/{key}", seconds) == 1
        except Exception as e:  # noqa: BLE001 - storage down: take the message
            logger.error("rate limit storage unreachable, not checking repeats: %s", failure(e))
            return True

    def forget(self, kind: str, key: str) -> None:
        """Let `key` be taken again (its message was not handled: a retry must get through)."""
        try:
            self.storage.clear(f"seen/{kind}/{key}")
        except Exception as e:  # noqa: BLE001 - then the retry is dropped; logged
            logger.error("rate limit storage unreachable, repeat not forgotten: %s", failure(e))

    def refusal(self, channel: str, reason: str) -> Refusal:
        """Whether to write this refusal's audit row (its kind: the reason up to a colon)."""
        kind = (channel, reason.split(":", 1)[0][:80])
        if self._hit("ASSISTANT_LIMIT_REFUSAL_AUDITS", "refusal", *kind) is None:
            with self._lock:
                return Refusal(True, self._unwritten.pop(kind, 0))
        with self._lock:
            self._unwritten[kind] = self._unwritten.get(kind, 0) + 1
            if self._unwritten[kind] == 1:
                logger.warning("%s: refusals '%s' now audited in aggregate", channel, kind[1])
        return Refusal(False)


_shared: Optional[Limits] = None
_shared_lock = threading.Lock()


def shared() -> Limits:
    """This process's limits, read from the environment on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Limits()
        return _shared
