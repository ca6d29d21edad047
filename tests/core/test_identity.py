"""Tokens (core/identity.py): exactly the identities that were issued, for a bounded time."""
from __future__ import annotations

import datetime as dt
import time

import jwt
import pytest

from core.identity import (
    ALGORITHM,
    DELEGATION_SECONDS,
    Identity,
    InvalidToken,
    issue_token,
    seal_delegation,
    unseal_delegation,
    verify_token,
)

KEY = "identity-test-secret-of-32-bytes!"


def signed(**claims) -> str:
    return jwt.encode(claims, KEY, algorithm=ALGORITHM)


def test_an_issued_token_is_verified_as_issued():
    identity = verify_token(KEY, issue_token(KEY, "M1001", "merchant", dt.timedelta(hours=1)))
    assert (identity.sub, identity.role) == ("M1001", "merchant")
    assert time.time() + 3500 < identity.expires <= time.time() + 3600


@pytest.mark.parametrize("sub", ["M1001\x00", "M1001\n2026 ERROR", "M\u200b1001", "\u202eM1001",
                                 "M 1001", "", "-M1001", "m" * 65, "商家1001"])
def test_a_subject_outside_the_safe_characters_is_refused(sub):
    with pytest.raises(InvalidToken, match="bad subject"):
        verify_token(KEY, signed(sub=sub, role="merchant", exp=int(time.time()) + 600))
    with pytest.raises(ValueError):
        issue_token(KEY, sub, "merchant", dt.timedelta(hours=1))


# Expiries are worked out when the test runs: test ids made from the clock at collection differ
# between the parallel workers that collect them.
@pytest.mark.parametrize("expiry, reason", [
    (lambda now: str(now + 600), "whole number"),      # a string PyJWT would read as a number
    (lambda now: 10 ** 14, "lifetime"),                # valid for three million years
    (lambda now: now + 25 * 3600, "lifetime"),         # longer than the default 24 h
], ids=["string", "three-million-years", "25-hours"])
def test_an_expiry_that_is_not_a_number_or_too_far_away_is_refused(expiry, reason):
    with pytest.raises(InvalidToken, match=reason):
        verify_token(KEY, signed(sub="M1001", role="merchant", exp=expiry(int(time.time()))))


def test_the_longest_lifetime_is_configurable(monkeypatch):
    token = issue_token(KEY, "agent-7", "agent", dt.timedelta(hours=30))
    with pytest.raises(InvalidToken, match="lifetime"):
        verify_token(KEY, token)
    monkeypatch.setenv("ASSISTANT_MAX_TOKEN_HOURS", "48")
    assert verify_token(KEY, token).sub == "agent-7"


def test_expired_wrongly_signed_or_roleless_tokens_are_refused():
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(KEY, issue_token(KEY, "M1001", "merchant", dt.timedelta(hours=-1)))
    with pytest.raises(InvalidToken, match="InvalidSignatureError"):
        verify_token("another-secret-of-32-bytes-long!",
                     issue_token(KEY, "M1001", "merchant", dt.timedelta(hours=1)))
    with pytest.raises(InvalidToken, match="bad role"):
        verify_token(KEY, signed(sub="M1001", role="admin", exp=int(time.time()) + 600))


def test_a_delegation_is_trusted_only_as_sealed_for_its_conversation_and_for_a_while():
    key, now = "delegation-test-secret", 1_800_000_000
    sealed = seal_delegation(key, "merchant:M1:abc", Identity("agent-b", "agent"), now=now)
    found = unseal_delegation(key, "merchant:M1:abc", sealed, now=now + 10)
    assert found is not None and (found.sub, found.role) == ("agent-b", "agent")
    # Another conversation, another key, a changed agent, or too late: not trusted.
    assert unseal_delegation(key, "merchant:M2:def", sealed, now=now + 10) is None
    assert unseal_delegation("another-secret", "merchant:M1:abc", sealed, now=now + 10) is None
    forged = {"delegation": dict(sealed["delegation"], sub="agent-c")}
    assert unseal_delegation(key, "merchant:M1:abc", forged, now=now + 10) is None
    assert unseal_delegation(key, "merchant:M1:abc", sealed, now=now + DELEGATION_SECONDS + 1) is None
    assert unseal_delegation(key, "merchant:M1:abc", {"delegation": "agent-b"}, now=now) is None
    assert unseal_delegation(None, "merchant:M1:abc", sealed, now=now) is None
