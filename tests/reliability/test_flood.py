"""Floods from one client (core/limits.py): a conversation or an address over its limit is
answered 429 and nothing reaches a conversation; anonymous handoffs cannot fill the agents'
queue, and a signed-in merchant's ticket comes first in it; a flood of bad tokens writes the
audit log in aggregate, the first of each kind always.

These servers run with limits low enough to reach in a test (the rest of the suite runs with
limits its own load never reaches). Writes FIGURES["flood"].
"""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.reliability.conftest import FIGURES, http, reply_text, start_servers, token

pytestmark = pytest.mark.e2e

# Per hour, so that a slow run does not see its early messages leave the window.
LIMITS = {"ASSISTANT_LIMIT_PER_ADDRESS": "70/hour", "ASSISTANT_LIMIT_PER_CONVERSATION": "10/hour",
          "ASSISTANT_LIMIT_ANONYMOUS_TICKETS": "3/hour", "ASSISTANT_LIMIT_REFUSAL_AUDITS": "5/hour"}
REST = "/webhooks/rest/webhook"
MERCHANT = "/webhooks/merchant/webhook"
DESK = "/webhooks/agent/tickets"
HANDOFFS, BAD_TOKENS = 20, 1000


@pytest.fixture(scope="module")
def flooded(trained_model, tmp_path_factory):
    srv = start_servers(trained_model, tmp_path_factory.mktemp("flood"), **LIMITS)
    yield srv
    srv.stop()


def refusal_rows(srv, like: str) -> list:
    engine = create_engine(srv.database_url, future=True)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT reason FROM audit_log WHERE allowed = :no AND reason LIKE :like "
                                 "ORDER BY id"), {"no": False, "like": like}).scalars().all()
    engine.dispose()
    return list(rows)


def test_a_message_cannot_forge_a_log_line(flooded):
    forged = "2026-11-27 09:00:00 ERROR payments - charge failed for R7002"
    status, raw, _ = http(flooded.rasa_port, "POST", REST,
                          {"sender": "log-injection", "message": f"/greet\n{forged}\r\u202ex"})
    assert status == 200, raw
    logs = "".join(p.read_text(errors="replace") for p in (flooded.state / "logs").glob("*.log"))
    assert "\\n" + forged in logs, "the refused payload was not logged at all"
    assert not any(line.startswith(forged) for line in logs.splitlines())
    assert "\u202e" not in logs


def test_a_flood_from_one_client_is_bounded_and_others_go_on(flooded):
    port = flooded.rasa_port
    # One conversation over its limit: 429 with Retry-After, the first ten answered.
    statuses = [http(port, "POST", REST, {"sender": "flood-one", "message": "金牌有几个橱窗"})[0]
                for _ in range(12)]
    assert statuses == [200] * 10 + [429] * 2, statuses
    status, raw, parsed = http(port, "POST", REST, {"sender": "flood-one", "message": "你好"})
    assert status == 429 and "wait" in parsed["error"], raw

    # Anonymous handoffs under new names from one address: three tickets, then "try later".
    told = [reply_text(http(port, "POST", REST, {"sender": f"flood-{uuid.uuid4().hex}",
                                                 "message": "转人工"})[2]) for _ in range(HANDOFFS)]
    opened = sum("工单号" in t for t in told)
    assert opened == 3 and sum("暂时无法接入" in t for t in told) == HANDOFFS - 3, told

    # A signed-in merchant's handoff is opened, and agents see it first.
    status, raw, parsed = http(port, "POST", MERCHANT, {"message": "转人工"},
                               {"Authorization": f"Bearer {token('R7001')}"})
    assert status == 200 and "工单号" in reply_text(parsed), raw
    status, raw, listed = http(port, "GET", f"{DESK}?limit=2", None,
                               {"Authorization": f"Bearer {token('agent-flood', role='agent')}"})
    assert status == 200 and listed["tickets"][0]["merchant_id"] == "R7001", raw
    assert listed["total"] == 4 and listed["next_offset"] == 2 and len(listed["tickets"]) == 2

    # The address's own limit: new conversations from it are refused too, once it is spent.
    spent = [http(port, "POST", REST, {"sender": f"later-{n}", "message": "金牌有几个橱窗"})[0]
             for n in range(40)]
    assert 429 in spent and spent.count(200) + 1 + 10 + HANDOFFS + 1 <= 70, spent

    # A flood of bad tokens: each refused; the audit log gets the first rows of the kind and
    # then one row per window that counts the others.
    before = len(refusal_rows(flooded, "%token%"))
    bad = [http(port, "POST", MERCHANT, {"message": "我的等级"}, {"Authorization": f"Bearer x.{n}.y"})[0]
           for n in range(BAD_TOKENS)]
    assert set(bad) == {401}
    rows = refusal_rows(flooded, "%token%")[before:]
    assert len(rows) == 5, rows  # the first five of the kind; the rest counted, not written
    FIGURES["flood"] = (f"flood from one address: {opened} tickets from {HANDOFFS} anonymous handoffs "
                        f"(limit {LIMITS['ASSISTANT_LIMIT_ANONYMOUS_TICKETS']}); {len(rows)} audit rows "
                        f"for {BAD_TOKENS} bad tokens; one conversation: 2 of 12 messages answered 429")
