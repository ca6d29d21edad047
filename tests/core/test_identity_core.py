"""The identity core (core/identity.py) at unit level: identity seals, delegation seals,
conversation ids and token checks, with explicit clocks (no model, server or network).

tests/actions/test_identity.py covers issuing and verifying tokens (unsafe subjects, far expiries,
the configurable lifetime, wrong signatures, missing roles) and one delegation round trip; the
tests here cover what it leaves out, above all `seal` / `unseal`, which it does not call.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
from types import SimpleNamespace

import jwt
import pytest

from core import identity as core
from core.identity import (
    ALGORITHM,
    CHANNELS,
    DELEGATION_KEY,
    DELEGATION_SECONDS,
    METADATA_KEY,
    Identity,
    InvalidToken,
    conversation_id,
    issue_token,
    max_token_seconds,
    seal,
    seal_delegation,
    secret,
    unseal,
    unseal_delegation,
    verify_token,
)

KEY = "identity-core-test-secret-32byte"
OTHER_KEY = "identity-core-other-secret-32byt"
NOW = 1_800_000_000
MERCHANT = Identity("M1001", "merchant", NOW + 3600)
AGENT = Identity("agent-b", "agent", NOW + 3600)
SENDER = conversation_id(KEY, MERCHANT)

# Strings that look like (or print like) "M1001" but are other strings.
LOOK_ALIKES = [
    "m1001",            # another letter case
    "M1001 ",           # trailing space
    " M1001",           # leading space
    "M1001\n",          # trailing newline (re.match with `$` would let it through)
    "M\u200b1001",      # zero-width space
    "M1001\ufeff",      # zero-width no-break space (BOM)
    "\u041c1001",       # Cyrillic capital EM
    "\uff2d1001",       # fullwidth M
    "M1001\u00a0",      # no-break space
]


def sealed_fields(sender: str = SENDER, who: Identity = MERCHANT, key: str = KEY) -> dict:
    """The inner dict of a seal, as a fresh copy to tamper with."""
    return dict(seal(key, sender, who)[METADATA_KEY])


def freeze_clock(monkeypatch, at: float) -> None:
    """Make the module's own clock (time.time) read `at`, leaving every other module's alone."""
    monkeypatch.setattr(core, "time", SimpleNamespace(time=lambda: at))


# --- seal / unseal ---------------------------------------------------------------------------

@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("who", [MERCHANT, AGENT], ids=["merchant", "agent"])
def test_a_seal_round_trips_to_the_same_identity_on_every_authenticating_channel(channel, who):
    sender = conversation_id(KEY, who)
    # Other metadata next to the seal (the channels add the client's address) does not matter.
    metadata = {**seal(KEY, sender, who), "client_address": "203.0.113.9"}
    found = unseal(KEY, sender, metadata, channel, now=NOW)
    assert found == who
    assert (found.sub, found.role, found.expires) == (who.sub, who.role, who.expires)


def test_a_seal_has_the_documented_shape_and_does_not_carry_the_secret():
    metadata = seal(KEY, SENDER, MERCHANT)
    assert list(metadata) == [METADATA_KEY]
    fields = metadata[METADATA_KEY]
    assert {k: v for k, v in fields.items() if k != "seal"} == {
        "sub": "M1001", "role": "merchant", "exp": NOW + 3600}
    mac = fields["seal"]
    assert len(mac) == 64 and set(mac) <= set("0123456789abcdef"), mac
    assert KEY not in repr(metadata)
    # Deterministic for the same inputs; different for another conversation or another key.
    assert seal(KEY, SENDER, MERCHANT) == metadata
    assert sealed_fields(sender=SENDER + "x")["seal"] != mac
    assert sealed_fields(key=OTHER_KEY)["seal"] != mac


@pytest.mark.parametrize("sender", [
    conversation_id(KEY, Identity("M1002", "merchant")),   # another merchant's conversation
    conversation_id(KEY, Identity("M1001", "agent")),      # the same id as an agent
    SENDER.upper(),
    SENDER + " ",
    " " + SENDER,
    SENDER + "\u200b",
    SENDER[:-1],
    "",
], ids=["other-merchant", "other-role", "upper", "trailing-space", "leading-space", "zero-width",
        "truncated", "empty"])
def test_a_seal_is_refused_for_any_other_conversation(sender):
    assert sender != SENDER
    metadata = seal(KEY, SENDER, MERCHANT)
    assert unseal(KEY, SENDER, metadata, "merchant", now=NOW) == MERCHANT   # the control
    assert unseal(KEY, sender, metadata, "merchant", now=NOW) is None


@pytest.mark.parametrize("key", [OTHER_KEY, KEY.upper(), KEY + " ", KEY[:-1], "", None])
def test_a_seal_is_refused_under_another_key_or_without_one(key):
    assert unseal(key, SENDER, seal(KEY, SENDER, MERCHANT), "merchant", now=NOW) is None


def _flip(mac: str) -> str:
    return mac[:-1] + ("0" if mac[-1] != "0" else "1")


@pytest.mark.parametrize("field, change", [
    *[("sub", lambda _, s=s: s) for s in LOOK_ALIKES],
    ("sub", lambda _: "M1002"),
    ("role", lambda _: "agent"),
    ("exp", lambda exp: exp + 86400),     # a longer life
    ("exp", lambda exp: exp - 1),         # even a shorter one: the seal covers the exact value
    ("seal", _flip),
    ("seal", str.upper),                  # the same digest in capitals is another string
    ("seal", lambda mac: mac[:-1]),
    ("seal", lambda mac: mac + "0"),
    ("seal", lambda _: ""),
], ids=[*[f"sub={s!r}" for s in LOOK_ALIKES], "sub=M1002", "role=agent", "exp-later", "exp-earlier",
        "seal-flipped", "seal-upper", "seal-truncated", "seal-extended", "seal-empty"])
def test_a_tampered_field_is_refused(field, change):
    fields = sealed_fields()
    fields[field] = change(fields[field])
    assert fields != sealed_fields()
    assert unseal(KEY, SENDER, {METADATA_KEY: fields}, "merchant", now=NOW) is None


def test_a_seal_is_trusted_until_its_expiry_and_not_a_moment_after():
    metadata = seal(KEY, SENDER, MERCHANT)
    assert unseal(KEY, SENDER, metadata, "merchant", now=NOW) == MERCHANT
    assert unseal(KEY, SENDER, metadata, "merchant", now=MERCHANT.expires) == MERCHANT
    assert unseal(KEY, SENDER, metadata, "merchant", now=MERCHANT.expires + 0.001) is None
    assert unseal(KEY, SENDER, metadata, "merchant", now=MERCHANT.expires + 86400) is None


def test_an_already_expired_identity_sealed_by_a_channel_is_refused():
    stale = Identity("M1001", "merchant", NOW - 1)
    assert unseal(KEY, SENDER, seal(KEY, SENDER, stale), "merchant", now=NOW) is None


@pytest.mark.parametrize("missing", ["sub", "role", "exp", "seal"])
def test_a_seal_missing_a_field_is_refused(missing):
    fields = sealed_fields()
    del fields[missing]
    assert unseal(KEY, SENDER, {METADATA_KEY: fields}, "merchant", now=NOW) is None


@pytest.mark.parametrize("field, value", [
    ("exp", str(NOW + 3600)),       # the same digits as a string: the MAC alone would match it
    ("exp", float(NOW + 3600)),
    ("exp", None),
    ("sub", 1001),
    ("sub", None),
    ("role", "Merchant"),
    ("role", "admin"),
    ("role", None),
    ("seal", "\u00e9" * 64),        # non-ASCII: hmac.compare_digest on str would raise
    ("seal", "\ud800" * 64),        # a lone surrogate (JSON allows it): .encode() would raise
    ("seal", b"0" * 64),
    ("seal", None),
])
def test_a_seal_field_of_the_wrong_type_or_value_is_refused_without_raising(field, value):
    fields = sealed_fields()
    fields[field] = value
    assert unseal(KEY, SENDER, {METADATA_KEY: fields}, "merchant", now=NOW) is None


@pytest.mark.parametrize("metadata", [None, "identity", [], [seal(KEY, SENDER, MERCHANT)], {},
                                      {METADATA_KEY: None}, {METADATA_KEY: "M1001"},
                                      {METADATA_KEY: [sealed_fields()]},
                                      {"Identity": sealed_fields()}])
def test_metadata_that_holds_no_sealed_identity_is_refused(metadata):
    assert unseal(KEY, SENDER, metadata, "merchant", now=NOW) is None


@pytest.mark.parametrize("channel", ["rest", "callback", "socketio", "Merchant", "merchant ", "", None])
def test_a_seal_replayed_through_a_channel_that_does_not_authenticate_is_refused(channel):
    metadata = seal(KEY, SENDER, MERCHANT)
    assert unseal(KEY, SENDER, metadata, "merchant", now=NOW) == MERCHANT
    assert unseal(KEY, SENDER, metadata, channel, now=NOW) is None


def test_without_an_explicit_time_the_seal_is_checked_against_the_clock(monkeypatch):
    metadata = seal(KEY, SENDER, MERCHANT)
    freeze_clock(monkeypatch, MERCHANT.expires)
    assert unseal(KEY, SENDER, metadata, "merchant") == MERCHANT
    freeze_clock(monkeypatch, MERCHANT.expires + 1)
    assert unseal(KEY, SENDER, metadata, "merchant") is None


def test_an_unsealed_identity_cannot_be_changed_afterwards():
    found = unseal(KEY, SENDER, seal(KEY, SENDER, MERCHANT), "merchant", now=NOW)
    assert found == MERCHANT
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.sub = "M1002"  # type: ignore[misc]
    assert found.sub == "M1001"


# --- identity seals and delegation seals are not interchangeable -----------------------------

def test_a_delegation_mac_is_not_accepted_as_an_identity_seal():
    # Over the same bytes ("conv\x1fagent-b\x1fagent\x1f<time>") under one undivided key, this
    # delegation's MAC would be a valid identity seal for agent-b in "conv".
    delegation = seal_delegation(KEY, "conv\x1fagent-b", Identity("agent", "agent"), now=NOW)
    forged = {"sub": "agent-b", "role": "agent", "exp": NOW, "seal": delegation[DELEGATION_KEY]["seal"]}
    genuine = seal(KEY, "conv", Identity("agent-b", "agent", NOW))
    assert unseal(KEY, "conv", genuine, "merchant", now=NOW) == Identity("agent-b", "agent", NOW)
    assert unseal(KEY, "conv", {METADATA_KEY: forged}, "merchant", now=NOW) is None


def test_an_identity_seal_is_not_accepted_as_a_delegation():
    mac = sealed_fields("conv", Identity("x", "agent", NOW))["seal"]
    forged = {DELEGATION_KEY: {"sub": "agent", "at": NOW, "seal": mac}}
    assert unseal_delegation(KEY, "conv\x1fx", forged, now=NOW) is None
    # Nor does a message that carries only an identity seal name a delegating agent.
    assert unseal_delegation(KEY, SENDER, seal(KEY, SENDER, AGENT), now=NOW) is None


def test_an_identity_seal_and_a_delegation_seal_side_by_side_each_name_their_own_caller():
    metadata = {**seal(KEY, SENDER, MERCHANT), **seal_delegation(KEY, SENDER, AGENT, now=NOW)}
    assert unseal(KEY, SENDER, metadata, "merchant", now=NOW + 10) == MERCHANT
    assert unseal_delegation(KEY, SENDER, metadata, now=NOW + 10) == Identity(
        "agent-b", "agent", NOW + DELEGATION_SECONDS)


# --- delegation seals ------------------------------------------------------------------------

def test_a_delegation_seal_has_the_documented_shape():
    sealed = seal_delegation(KEY, SENDER, AGENT, now=NOW + 0.9)
    assert list(sealed) == [DELEGATION_KEY]
    fields = sealed[DELEGATION_KEY]
    assert {k: v for k, v in fields.items() if k != "seal"} == {"sub": "agent-b", "at": NOW}
    assert type(fields["at"]) is int        # a fractional clock is truncated to whole seconds
    assert len(fields["seal"]) == 64 and KEY not in repr(sealed)


@pytest.mark.parametrize("elapsed", [0, 1, 0.5, DELEGATION_SECONDS - 1, DELEGATION_SECONDS])
def test_a_delegation_is_trusted_throughout_its_lifetime(elapsed):
    sealed = seal_delegation(KEY, SENDER, AGENT, now=NOW)
    found = unseal_delegation(KEY, SENDER, sealed, now=NOW + elapsed)
    # Always an agent, trusted until DELEGATION_SECONDS after the seal (not the token's expiry).
    assert found == Identity("agent-b", "agent", NOW + DELEGATION_SECONDS)


@pytest.mark.parametrize("elapsed", [DELEGATION_SECONDS + 0.001, DELEGATION_SECONDS + 1, 86400,
                                     -0.001, -1, -DELEGATION_SECONDS])
def test_a_delegation_is_refused_after_its_lifetime_or_before_it_was_sealed(elapsed):
    sealed = seal_delegation(KEY, SENDER, AGENT, now=NOW)
    assert unseal_delegation(KEY, SENDER, sealed, now=NOW + elapsed) is None


def test_without_an_explicit_time_a_delegation_uses_the_clock(monkeypatch):
    freeze_clock(monkeypatch, NOW)
    sealed = seal_delegation(KEY, SENDER, AGENT)
    assert sealed[DELEGATION_KEY]["at"] == NOW
    freeze_clock(monkeypatch, NOW + DELEGATION_SECONDS)
    assert unseal_delegation(KEY, SENDER, sealed) is not None
    freeze_clock(monkeypatch, NOW + DELEGATION_SECONDS + 1)
    assert unseal_delegation(KEY, SENDER, sealed) is None


@pytest.mark.parametrize("sender", [conversation_id(KEY, Identity("M1002", "merchant")),
                                    SENDER.upper(), SENDER + " ", SENDER + "\u200b", SENDER[:-1], ""])
def test_a_delegation_is_refused_for_another_conversation(sender):
    sealed = seal_delegation(KEY, SENDER, AGENT, now=NOW)
    assert unseal_delegation(KEY, sender, sealed, now=NOW + 10) is None


@pytest.mark.parametrize("field, change", [
    ("sub", lambda _: "Agent-b"),
    ("sub", lambda _: "agent-b "),
    ("sub", lambda _: "agent\u2011b"),      # non-breaking hyphen
    ("at", lambda at: at + 1),              # moved later, to live longer
    ("at", lambda at: at - 1),
    ("at", str),                            # the same digits as a string
    ("at", float),
    ("at", lambda _: None),
    ("sub", lambda _: None),
    ("seal", _flip),
    ("seal", str.upper),
    ("seal", lambda mac: "\u00e9" + mac[1:]),
    ("seal", lambda mac: "\ud800" + mac[1:]),
    ("seal", lambda _: None),
], ids=["sub-case", "sub-space", "sub-lookalike", "at-later", "at-earlier", "at-str", "at-float",
        "at-none", "sub-none", "seal-flipped", "seal-upper", "seal-non-ascii",
        "seal-surrogate", "seal-none"])
def test_a_tampered_or_malformed_delegation_is_refused_without_raising(field, change):
    fields = dict(seal_delegation(KEY, SENDER, AGENT, now=NOW)[DELEGATION_KEY])
    fields[field] = change(fields[field])
    assert unseal_delegation(KEY, SENDER, {DELEGATION_KEY: fields}, now=NOW + 10) is None


@pytest.mark.parametrize("missing", ["sub", "at", "seal"])
def test_a_delegation_missing_a_field_is_refused(missing):
    fields = dict(seal_delegation(KEY, SENDER, AGENT, now=NOW)[DELEGATION_KEY])
    del fields[missing]
    assert unseal_delegation(KEY, SENDER, {DELEGATION_KEY: fields}, now=NOW + 10) is None


@pytest.mark.parametrize("key", [OTHER_KEY, "", None])
def test_a_delegation_is_refused_under_another_key_or_without_one(key):
    sealed = seal_delegation(KEY, SENDER, AGENT, now=NOW)
    assert unseal_delegation(key, SENDER, sealed, now=NOW + 10) is None


@pytest.mark.parametrize("metadata", [None, [], "delegation", {}, {DELEGATION_KEY: None},
                                      {DELEGATION_KEY: ["agent-b", NOW]}])
def test_metadata_that_holds_no_delegation_is_refused(metadata):
    assert unseal_delegation(KEY, SENDER, metadata, now=NOW) is None


# --- conversation ids ------------------------------------------------------------------------

def test_a_conversation_id_names_the_caller_with_a_tag_only_the_key_gives():
    cid = conversation_id(KEY, MERCHANT)
    role, sub, tag = cid.split(":")
    assert (role, sub) == ("merchant", "M1001")
    assert len(tag) == 16 and set(tag) <= set("0123456789abcdef"), tag
    # The same caller keeps the conversation (whatever the token's expiry) ...
    assert conversation_id(KEY, Identity("M1001", "merchant", NOW + 99)) == cid
    # ... and without the key nobody can work it out: another key gives another tag.
    assert conversation_id(OTHER_KEY, MERCHANT) != cid
    assert conversation_id(KEY, Identity("M1001", "agent")) != cid.replace("merchant", "agent", 1)


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_look_alike_subjects_get_other_conversations(look_alike):
    assert conversation_id(KEY, Identity(look_alike, "merchant")) != SENDER
    tag = conversation_id(KEY, Identity(look_alike, "merchant")).rsplit(":", 1)[1]
    assert tag != SENDER.rsplit(":", 1)[1]


# --- tokens (what tests/actions/test_identity.py does not cover) ------------------------------

SOON = int(time.time()) + 600


def _signed(claims: dict, key=KEY, algorithm: str = ALGORITHM) -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


@pytest.mark.parametrize("sub", ["M1001\n", "\u041c1001", "\uff2d1001", "M1001\t", "M1001\ufeff",
                                 "M1001\u00a0", "\u0131d-1", "M1001\r"])
def test_a_look_alike_subject_is_refused_in_a_token(sub):
    with pytest.raises(InvalidToken, match="bad subject"):
        verify_token(KEY, _signed({"sub": sub, "role": "merchant", "exp": SOON}))
    with pytest.raises(ValueError, match="sub must be"):
        issue_token(KEY, sub, "merchant", dt.timedelta(minutes=5))


@pytest.mark.parametrize("sub", ["m1001", "a", "7", "M" * 64, "agent.b@shop-1_x"])
def test_a_subject_is_kept_exactly_as_issued(sub):
    found = verify_token(KEY, issue_token(KEY, sub, "merchant", dt.timedelta(minutes=5)))
    assert found.sub == sub and found.role == "merchant"
    if sub == "m1001":
        assert found.sub != "M1001"        # not upper-cased into another merchant's id


@pytest.mark.parametrize("role", ["admin", "Merchant", "AGENT", "", "merchant "])
def test_a_token_is_not_issued_for_an_unknown_role(role):
    with pytest.raises(ValueError, match="role"):
        issue_token(KEY, "M1001", role, dt.timedelta(minutes=5))


def test_a_token_signed_with_another_algorithm_is_refused():
    claims = {"sub": "M1001", "role": "merchant", "exp": int(time.time()) + 600}
    assert verify_token(KEY, _signed(claims)).sub == "M1001"    # the control
    for token in (_signed(claims, algorithm="HS512"), _signed(claims, key=None, algorithm="none")):
        with pytest.raises(InvalidToken, match="invalid token"):
            verify_token(KEY, token)


@pytest.mark.parametrize("claims", [
    {"sub": "M1001", "role": "merchant"},                  # no expiry
    {"role": "merchant", "exp": SOON},                     # no subject
    {"sub": 1001, "role": "merchant", "exp": SOON},        # a number as subject
    {"sub": ["M1001"], "role": "merchant", "exp": SOON},
    {"sub": "M1001", "role": "merchant", "exp": "soon"},   # an expiry that is no time
])
def test_a_token_without_an_expiry_or_a_string_subject_is_refused(claims):
    with pytest.raises(InvalidToken, match="invalid token"):
        verify_token(KEY, _signed(claims))


@pytest.mark.parametrize("token", ["", "not-a-token", "a.b.c", "Bearer x.y.z"])
def test_a_malformed_token_is_refused_with_a_reason(token):
    with pytest.raises(InvalidToken, match="invalid token"):
        verify_token(KEY, token)


def test_the_longest_lifetime_is_measured_from_now(monkeypatch):
    now = int(time.time())      # PyJWT checks exp against the real clock: keep ours beside it
    freeze_clock(monkeypatch, now)
    limit = 24 * 3600
    longest = _signed({"sub": "M1001", "role": "merchant", "exp": now + limit})
    assert verify_token(KEY, longest).expires == now + limit
    with pytest.raises(InvalidToken, match="lifetime"):
        verify_token(KEY, _signed({"sub": "M1001", "role": "merchant", "exp": now + limit + 1}))


@pytest.mark.parametrize("setting, seconds", [(None, 86400.0), ("", 86400.0), ("a day", 86400.0),
                                              ("0.5", 1800.0), ("48", 172800.0)])
def test_the_lifetime_setting_is_read_in_hours_with_a_default(monkeypatch, setting, seconds):
    if setting is None:
        monkeypatch.delenv("ASSISTANT_MAX_TOKEN_HOURS", raising=False)
    else:
        monkeypatch.setenv("ASSISTANT_MAX_TOKEN_HOURS", setting)
    assert max_token_seconds() == seconds


@pytest.mark.parametrize("setting", ["nan", "inf", "-inf", "0", "-5"])
def test_a_lifetime_setting_that_is_no_positive_number_does_not_disable_the_limit(monkeypatch, setting):
    # "nan" once made `exp > now + nan` always false: a token that never expired was trusted.
    monkeypatch.setenv("ASSISTANT_MAX_TOKEN_HOURS", setting)
    with pytest.raises(InvalidToken, match="lifetime"):
        verify_token(KEY, _signed({"sub": "M1001", "role": "merchant", "exp": 10 ** 14}))


@pytest.mark.parametrize("value, expected", [(None, None), ("", None), (KEY, KEY)])
def test_the_secret_is_none_unless_configured(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("ASSISTANT_JWT_SECRET", raising=False)
    else:
        monkeypatch.setenv("ASSISTANT_JWT_SECRET", value)
    assert secret() == expected


def test_only_an_agent_can_be_sealed_as_delegating():
    # The delegation seal carries no role and unseals as an agent: a merchant must not get one.
    with pytest.raises(ValueError, match="only an agent"):
        seal_delegation(KEY, SENDER, MERCHANT, now=NOW)
