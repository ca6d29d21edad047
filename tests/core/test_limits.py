"""Rate limits per client address, conversation, anonymous ticket and refusal kind (core/limits.py),
in memory and in Redis shared by several servers."""
from __future__ import annotations

import threading
import time
import uuid

import pytest

from core.limits import DEFAULTS, Limits, SweptMemoryStorage
from tests.bot.test_patched_rasa_code import source_digest
from tests.conftest import redis_or_skip

REDIS_URL = "redis://127.0.0.1:6379/5"


def limits_with(**rates: str) -> Limits:
    env = {name: rates.get(name.replace("ASSISTANT_LIMIT_", "").lower(), default)
           for name, default in DEFAULTS.items()}
    if "storage" in rates:
        env["ASSISTANT_LIMIT_STORAGE"] = rates["storage"]
    return Limits(env)


@pytest.fixture
def redis_url():
    client = redis_or_skip(REDIS_URL, "the shared rate limit tests")
    yield REDIS_URL
    client.flushdb()


def test_a_conversation_over_its_limit_waits_and_others_go_on():
    limits = limits_with(per_conversation="3/minute", per_address="100/minute")
    assert [limits.message("rest", "10.0.0.1", "a") for _ in range(3)] == [None] * 3
    wait = limits.message("rest", "10.0.0.1", "a")
    assert wait is not None and 1 <= wait <= 61
    # Another conversation, even from the same address, and the same name on another channel.
    assert limits.message("rest", "10.0.0.1", "b") is None
    assert limits.message("merchant", "10.0.0.1", "a") is None


def test_one_address_is_limited_across_all_its_conversations():
    limits = limits_with(per_conversation="100/minute", per_address="4/minute")
    assert [limits.message("rest", "10.0.0.2", f"sender-{n}") for n in range(4)] == [None] * 4
    assert limits.message("rest", "10.0.0.2", "sender-new") is not None
    assert limits.message("rest", "10.0.0.3", "sender-new") is None


def test_anonymous_tickets_are_limited_per_address():
    limits = limits_with(anonymous_tickets="2/hour")
    assert [limits.anonymous_ticket("10.0.0.4") for _ in range(3)] == [True, True, False]
    assert limits.anonymous_ticket("10.0.0.5") is True


def test_a_flood_of_refusals_writes_the_first_of_each_kind_and_counts_the_rest():
    limits = limits_with(refusal_audits="2/second")
    first = [limits.refusal("merchant", "invalid token: signature") for _ in range(5)]
    assert [r.write for r in first] == [True, True, False, False, False]
    # Another kind on the same channel, or the same kind elsewhere, is written from its first.
    assert limits.refusal("merchant", "missing bearer token").write
    assert limits.refusal("webchat", "invalid token: signature").write
    time.sleep(1.1)
    later = limits.refusal("merchant", "invalid token: expired")  # same kind: up to the colon
    assert later.write and later.not_written_before == 3
    assert limits.refusal("merchant", "invalid token: expired").not_written_before == 0


def test_servers_sharing_redis_share_the_counts(redis_url):
    one = limits_with(per_conversation="3/minute", storage=redis_url)
    two = limits_with(per_conversation="3/minute", storage=redis_url)
    sender = f"shared-{uuid.uuid4().hex}"
    assert one.message("rest", "10.0.0.6", sender) is None
    assert two.message("rest", "10.0.0.6", sender) is None
    assert one.message("rest", "10.0.0.6", sender) is None
    assert two.message("rest", "10.0.0.6", sender) is not None


def test_unreachable_shared_storage_serves_rather_than_refuses(caplog):
    limits = limits_with(per_conversation="1/minute", storage="redis://127.0.0.1:1/0")
    assert limits.message("rest", "10.0.0.7", "x") is None
    assert limits.message("rest", "10.0.0.7", "x") is None
    assert "rate limit storage unreachable" in caplog.text


def test_a_key_is_seen_once_per_window_and_shared_storage_sees_it_everywhere(redis_url):
    local = limits_with()
    assert local.first_time("dingtalk", "msg-1", 60) and not local.first_time("dingtalk", "msg-1", 60)
    assert local.first_time("dingtalk", "msg-2", 60) and local.first_time("webchat", "msg-1", 60)
    one, two = limits_with(storage=redis_url), limits_with(storage=redis_url)
    key = f"msg-{uuid.uuid4().hex}"
    assert one.first_time("dingtalk", key, 60) and not two.first_time("dingtalk", key, 60)


def test_a_rate_that_is_not_one_falls_back_to_the_default(caplog):
    limits = limits_with(per_conversation="lots")
    default = limits_with().rates["ASSISTANT_LIMIT_PER_CONVERSATION"]
    assert str(limits.rates["ASSISTANT_LIMIT_PER_CONVERSATION"]) == str(default)
    assert "is not a rate" in caplog.text


def test_a_key_forgotten_is_taken_again():
    limits = limits_with()
    assert limits.first_time("dingtalk", "msg-retry", 60)
    assert not limits.first_time("dingtalk", "msg-retry", 60)
    limits.forget("dingtalk", "msg-retry")
    assert limits.first_time("dingtalk", "msg-retry", 60)


# limits 2.4's MemoryStorage as SweptMemoryStorage was written against: its timer started in
# __init__ and on every hit (__schedule_expiry), the sweep it runs, and the two hits that call
# it. After an upgrade of `limits` this fails until the subclass has been checked again.
MEMORY_STORAGE_PINNED = {
    "__init__": "add6c11b0e9cb040",
    "__schedule_expiry": "c9800d5c45f7d991",
    "__expire_events": "dcf260ff99939aca",
    "incr": "70af0fe6b88c5763",
    "acquire_entry": "a029fdd1345e893c",
}


@pytest.mark.parametrize("function, digest", MEMORY_STORAGE_PINNED.items(), ids=list(MEMORY_STORAGE_PINNED))
def test_the_memory_storage_code_is_the_code_the_sweep_was_written_for(function, digest):
    assert source_digest("limits.storage.memory", "MemoryStorage", function) == digest


def test_hits_in_memory_start_no_timer_thread():
    limits = limits_with(per_conversation="1000/minute", per_address="1000/minute")
    assert isinstance(limits.storage, SweptMemoryStorage)
    before = {t.ident for t in threading.enumerate()}
    for i in range(50):
        assert limits.message("rest", "10.0.0.9", f"c{i % 5}") is None
        assert limits.first_time("callback", f"m{i}", 60)
    assert not limits.storage.timer.is_alive()
    assert {t.ident for t in threading.enumerate()} <= before


def test_expired_entries_are_swept_by_a_later_hit(monkeypatch):
    limits = limits_with(per_conversation="2/second", per_address="1000/minute")
    monkeypatch.setattr(SweptMemoryStorage, "SWEEP_SECONDS", 0.0)
    assert limits.message("rest", "10.0.0.8", "old") is None
    assert limits.first_time("callback", "old-message", 1)
    key = next(k for k in limits.storage.events if "old" in k)
    time.sleep(1.1)
    # Another conversation's hit sweeps the expired window and counter; the limits still hold.
    assert limits.message("rest", "10.0.0.8", "new") is None
    assert not limits.storage.events.get(key) and "seen/callback/old-message" not in limits.storage.storage
    assert limits.first_time("callback", "old-message", 1)
    assert [limits.message("rest", "10.0.0.8", "new") for _ in range(2)][-1] is not None
