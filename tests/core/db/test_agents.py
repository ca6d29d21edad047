"""Agent accounts: created by an operator, passwords hashed, sessions' CSRF tokens; on SQLite and
PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest

from actions import cli
from core import agents
from core.db.models import AgentAccount

PASSWORD = "a-long-enough-secret"


def test_a_password_is_stored_only_as_an_argon2_hash_and_checked(factory):
    with factory.begin() as session:
        agents.add_agent(session, "agent-li", PASSWORD)
    with factory() as session:
        stored = session.get(AgentAccount, "agent-li").password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    with factory.begin() as session:
        assert agents.check_password(session, "agent-li", PASSWORD)
        assert not agents.check_password(session, "agent-li", PASSWORD + "x")
        assert not agents.check_password(session, "agent-wang", PASSWORD)  # no such agent
        assert not agents.check_password(session, "", PASSWORD)
        assert not agents.check_password(session, "bad name with spaces", PASSWORD)


def test_accounts_refuse_short_passwords_bad_names_and_duplicates(factory):
    with factory.begin() as session:
        with pytest.raises(agents.AccountError, match="at least"):
            agents.add_agent(session, "agent-li", "short")
        with pytest.raises(agents.AccountError, match="name"):
            agents.add_agent(session, "李 客服", PASSWORD)
        agents.add_agent(session, "agent-li", PASSWORD)
    with factory.begin() as session:
        with pytest.raises(agents.AccountError, match="exists"):
            agents.add_agent(session, "agent-li", "another-long-secret")
        agents.add_agent(session, "agent-li", "another-long-secret", replace=True)
    with factory.begin() as session:
        assert agents.check_password(session, "agent-li", "another-long-secret")
        assert not agents.check_password(session, "agent-li", PASSWORD)


def test_a_disabled_agent_cannot_sign_in(factory):
    with factory.begin() as session:
        agents.add_agent(session, "agent-li", PASSWORD)
    with factory.begin() as session:
        agents.disable_agent(session, "agent-li")
    with factory.begin() as session:
        assert not agents.check_password(session, "agent-li", PASSWORD)
        with pytest.raises(agents.AccountError):
            agents.disable_agent(session, "nobody")


def test_operator_commands_create_and_disable_accounts(db_url, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(PASSWORD + "\n"))
    assert cli.main(["--database-url", db_url, "agent", "add", "agent-li", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("short\n"))
    assert cli.main(["--database-url", db_url, "agent", "add", "agent-wang", "--password-stdin"]) == 1
    assert "at least" in capsys.readouterr().err
    assert cli.main(["--database-url", db_url, "agent", "disable", "agent-li"]) == 0
    assert cli.main(["--database-url", db_url, "agent", "disable", "agent-zhao"]) == 1


def test_the_csrf_token_belongs_to_one_session_and_one_secret():
    token = agents.csrf_token("secret-one", "session-a")
    assert agents.csrf_matches("secret-one", "session-a", token)
    assert not agents.csrf_matches("secret-one", "session-b", token)
    assert not agents.csrf_matches("secret-two", "session-a", token)
    assert not agents.csrf_matches("secret-one", "session-a", None)
    assert not agents.csrf_matches("secret-one", "session-a", "")
    assert not agents.csrf_matches("secret-one", "session-a", "é" * 64)  # a mismatch, not an error


@pytest.mark.parametrize("value, minutes", [("", 60), ("15", 15), ("abc", 60), ("0", 60), ("-5", 60),
                                            ("nan", 60), ("inf", 60)])
def test_session_lifetime_falls_back_on_a_typo(monkeypatch, value, minutes):
    monkeypatch.setenv("AGENT_SESSION_MINUTES", value)
    assert agents.session_lifetime() == dt.timedelta(minutes=minutes)


def test_signing_out_moves_the_session_epoch_on(factory):
    with factory.begin() as session:
        agents.add_agent(session, "agent-li", PASSWORD)
    with factory.begin() as session:
        epoch = agents.session_epoch(session, "agent-li")
        assert agents.session_allowed(session, "agent-li", epoch)
        agents.end_sessions(session, "agent-li")
    with factory.begin() as session:
        assert not agents.session_allowed(session, "agent-li", epoch)
        assert agents.session_allowed(session, "agent-li", agents.session_epoch(session, "agent-li"))
        assert not agents.session_allowed(session, "nobody", 0)
