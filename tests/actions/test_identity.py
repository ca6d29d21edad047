"""Tokens (actions/identity.py): exactly the identities that were issued, for a bounded time."""
from __future__ import annotations

import datetime as dt
import time

import jwt
import pytest

from actions.identity import ALGORITHM, InvalidToken, issue_token, verify_token

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


@pytest.mark.parametrize("exp, reason", [
    (str(int(time.time()) + 600), "whole number"),     # a string PyJWT would read as a number
    (10 ** 14, "lifetime"),                           # valid for three million years
    (int(time.time()) + 25 * 3600, "lifetime"),       # longer than the default 24 h
])
def test_an_expiry_that_is_not_a_number_or_too_far_away_is_refused(exp, reason):
    with pytest.raises(InvalidToken, match=reason):
        verify_token(KEY, signed(sub="M1001", role="merchant", exp=exp))


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
        verify_token("another-secret-of-32-bytes-long!", issue_token(KEY, "M1001", "merchant", dt.timedelta(hours=1)))
    with pytest.raises(InvalidToken, match="bad role"):
        verify_token(KEY, signed(sub="M1001", role="admin", exp=int(time.time()) + 600))
