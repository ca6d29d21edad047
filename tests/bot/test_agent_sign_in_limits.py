"""Failed console sign-ins pause sign-in for that name and that address, not for others."""
from __future__ import annotations

from bot.channels import agent_desk
from bot.channels.agent_desk import MAX_FAILED_SIGN_INS, SignInLimiter


def test_failures_in_a_row_pause_the_name_and_the_address(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(agent_desk.time, "monotonic", lambda: now[0])
    limiter = SignInLimiter()
    for _ in range(MAX_FAILED_SIGN_INS - 1):
        limiter.failed("agent-li", "10.0.0.1")
    assert not limiter.paused("agent-li", "10.0.0.1")
    limiter.failed("agent-li", "10.0.0.1")
    assert limiter.paused("agent-li", "10.0.0.9")  # the name, from anywhere
    assert limiter.paused("agent-wang", "10.0.0.1")  # the address, for any name
    assert not limiter.paused("agent-wang", "10.0.0.9")
    # The pause ends; a success forgets the failures.
    now[0] += agent_desk.SIGN_IN_PAUSE_SECONDS + 1
    assert not limiter.paused("agent-li", "10.0.0.1")
    limiter.failed("agent-li", "10.0.0.1")
    limiter.succeeded("agent-li", "10.0.0.1")
    assert not limiter.paused("agent-li", "10.0.0.1")


def test_a_ticket_kept_open_is_audited_again_after_a_while(monkeypatch):
    from bot.channels.agent_desk import RE_READ_AUDIT_SECONDS, ReReads

    now = [500.0]
    monkeypatch.setattr(agent_desk.time, "monotonic", lambda: now[0])
    reads = ReReads()
    assert reads.due("agent-li", 7) and not reads.due("agent-li", 7)
    assert reads.due("agent-wang", 7) and reads.due("agent-li", 8)
    now[0] += RE_READ_AUDIT_SECONDS + 1
    assert reads.due("agent-li", 7)
