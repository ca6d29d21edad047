"""Who the audit log names: the agent who let the assistant answer (the desk's delegate), not
whoever opened the conversation; and where each refusal came from."""
from __future__ import annotations

import re
from typing import Any, Dict, List

from tests.reliability.conftest import audit_since, http, last_audit_id, say_signed, token


def _desk(port: int, bearer: str, method: str, path: str, body: Any = None) -> Dict[str, Any]:
    status, raw, parsed = http(port, method, f"/webhooks/agent{path}", body,
                               {"Authorization": f"Bearer {bearer}"})
    assert status == 200, raw
    return parsed


def _ticket(reply: str) -> int:
    found = re.search(r"工[单單][号號][::]\s*(\d+)", reply)
    assert found, reply
    return int(found.group(1))


def _reads_since(database_url: str, after: int) -> List[Dict[str, Any]]:
    return [r for r in audit_since(database_url, after) if r["action"] == "read_tier_status"]


def _delegate(port: int, opener: str, delegator: str, question: str) -> List[str]:
    """The opener hands off; the delegator claims the ticket and lets the assistant answer."""
    number = _ticket(say_signed(port, opener, "转人工"))
    _desk(port, delegator, "POST", f"/tickets/{number}/claim")
    answers = _desk(port, delegator, "POST", f"/tickets/{number}/delegate", {"text": question})
    _desk(port, delegator, "POST", f"/tickets/{number}/handback")
    return answers["answers"]


def test_a_delegated_read_in_an_agents_conversation_names_the_agent_who_delegated(reliable):
    port, url = reliable.rasa_port, reliable.database_url
    before = last_audit_id(url)
    answers = _delegate(port, token("agent-opener", "agent"), token("agent-delegator", "agent"),
                        "查一下商家 R7001 的金银牌状态")
    assert any("可靠小店" in a for a in answers), answers
    [read] = _reads_since(url, before)
    assert (read["actor"], read["actor_role"], read["subject_merchant"], read["allowed"]) == (
        "agent-delegator", "agent", "R7001", True)
    assert "delegated by agent agent-delegator in the conversation of agent agent-opener" in read["reason"]


def test_a_delegated_read_in_a_merchants_conversation_shows_only_their_own_data(reliable):
    port, url = reliable.rasa_port, reliable.database_url
    merchant = token("R7001")
    before = last_audit_id(url)
    answers = _delegate(port, merchant, token("agent-helper", "agent"), "我现在是什么等级?")
    joined = "\n".join(answers)
    assert "83.5" in joined and "97.25" not in joined, joined
    [read] = _reads_since(url, before)
    assert (read["actor"], read["actor_role"], read["subject_merchant"], read["allowed"]) == (
        "agent-helper", "agent", "R7001", True)
    assert "in the conversation of merchant R7001" in read["reason"]
    assert read["source"] is None  # the agent's request, not the merchant's address


def test_a_merchants_own_read_records_their_address(reliable):
    port, url = reliable.rasa_port, reliable.database_url
    before = last_audit_id(url)
    assert "83.5" in say_signed(port, token("R7001"), "我离金牌还差多少?")
    [read] = _reads_since(url, before)
    assert (read["actor"], read["subject_merchant"], read["allowed"], read["source"]) == (
        "R7001", "R7001", True, "127.0.0.1")
