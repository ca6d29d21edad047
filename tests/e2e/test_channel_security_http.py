"""Identity comes from the channel: no intent shortcuts, no direct action calls, no HTTP API."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import ACTION_TOKEN
from tests.e2e.test_handoff_http import Merchant, audit_rows, call, ticket_number

pytestmark = pytest.mark.e2e


def action_call(servers, token=None, path="/webhook"):
    body = {"next_action": "action_tier_status", "sender_id": "merchant:T9002:x",
            "tracker": {"sender_id": "merchant:T9002:x", "slots": {}, "latest_message": {
                "text": "我离金牌还差多少", "intent": {"name": "ask_tier_status"},
                "entities": [{"entity": "merchant_id", "value": "T9002"}],
                "metadata": {"identity": {"sub": "T9002", "role": "merchant", "exp": 9999999999,
                                          "seal": "0" * 64}}},
                "events": [], "latest_input_channel": "merchant", "paused": False,
                "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen"},
            "domain": {}, "version": "3.6.2"}
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-Action-Token"] = token
    request = urllib.request.Request(f"http://127.0.0.1:{servers.action_port}{path}",
                                     json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.mark.parametrize("token", [None, "", "wrong-token", ACTION_TOKEN + "x"])
def test_action_server_refuses_calls_without_its_token(servers, token):
    status, body = action_call(servers, token)
    assert status == 401 and "token" in body["error"]


def test_action_server_health_is_open_and_the_rasa_server_has_the_token(servers, client):
    with urllib.request.urlopen(f"http://127.0.0.1:{servers.action_port}/health", timeout=10) as r:
        assert r.status == 200
    # The Rasa server's own calls carry the token: actions still answer.
    assert "3个橱窗" in client.text("sec-1", "金牌每个月有几个橱窗?")
    # A forged seal gets nothing, even with the token.
    status, body = action_call(servers, ACTION_TOKEN)
    assert status == 200
    text = json.dumps(body, ensure_ascii=False)
    assert "需要先登录" in text and "99" not in text


@pytest.mark.parametrize("payload", [
    '/ask_tier_status{"merchant_id": "T9002"}',
    '/ask_tier_status{"merchant_id": "T9001", "tier": "gold"}',
    '/ask_tier_status',
])
def test_intent_payloads_typed_on_the_rest_channel_are_plain_text(imported, client, payload):
    replies = client.send("sec-intent", payload)
    text = "\n".join(r.get("text", "") for r in replies)
    assert text and "T900" not in text and "99" not in text and "83.5" not in text


def test_intent_payloads_with_another_merchants_id_on_the_merchant_channel(imported):
    merchant = Merchant(imported, "T9001")
    text = merchant.say('/ask_tier_status{"merchant_id": "T9002"}')
    assert "別人的店" not in text and "T9002" not in text and "99%" not in text
    # The refusal is audited under the signed-in merchant who sent it.
    rows = [r for r in audit_rows(imported, "merchant_refused") if r[:2] == ("T9001", "merchant")]
    assert rows, audit_rows(imported, "merchant_refused")


def test_a_button_just_offered_is_honoured(servers, client):
    sender = "sec-button"
    client.text(sender, "qwpeorituy zmxncbv")
    offer = client.send(sender, "lkjhg asdfpoiu")
    payloads = [b["payload"] for r in offer for b in r.get("buttons") or []]
    assert "/request_human" in payloads
    created = client.text(sender, "/request_human")
    assert "工单号" in created
    # Typing Rasa's restart shortcut does not take the conversation away from the agent.
    assert "已转给人工客服" in client.text(sender, "/restart")
    assert str(ticket_number(created)) in client.text(sender, "金牌每个月有几个橱窗?")


@pytest.mark.parametrize("path", ["/conversations/sec-1/tracker", "/status", "/domain"])
def test_rasa_http_api_is_off_by_default(servers, path):
    status, body = call(servers, "GET", path)
    assert status in (403, 404) and "events" not in json.dumps(body)


def test_the_chat_page_never_carries_a_token_in_its_query(servers):
    # A token belongs in the fragment: a query ends up in logs, Referer and redirects.
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", servers.rasa_port, timeout=30)
    conn.request("GET", "/webhooks/webchat?token=abc.def.ghi")
    answer = conn.getresponse()
    assert answer.status == 301 and answer.getheader("Location") == "/webhooks/webchat/"
    conn.close()
    page_js = (Path(__file__).resolve().parents[2] / "web" / "page.js").read_text(encoding="utf-8")
    assert "location.search" not in page_js and "location.hash" in page_js
