"""Live tier status over HTTP: imported metrics, a token, the question in both scripts."""
from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request

import pytest

from core import script
from core.identity import issue_token
from tests.e2e.conftest import JWT_SECRET

pytestmark = pytest.mark.e2e

def post(servers, body, token=None):
    url = f"http://127.0.0.1:{servers.rasa_port}/webhooks/merchant/webhook"
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def token(sub, role="merchant", hours=1.0, key=JWT_SECRET):
    return issue_token(key, sub, role, dt.timedelta(hours=hours))


def test_merchant_gets_own_gaps_in_both_scripts(imported):
    status, replies = post(imported, {"sender": "T9002", "message": "我离金牌还差多少?"}, token("T9001"))
    assert status == 200
    text = "\n".join(r["text"] for r in replies)
    assert "72h上网率:您是83.5%,要求≥85%,差1.5%" in text
    assert "店铺好评率:您是91%,要求≥92%,差1%" in text
    assert "下一次考核在2027年1月" in text
    assert "99" not in text  # nothing of T9002, whatever the body's sender says
    status, replies = post(imported, {"message": "我離金牌還差多少?"}, token("T9001"))
    text = "\n".join(r["text"] for r in replies)
    assert script.detect_script(text) in (script.TAIWAN, script.HONG_KONG)
    assert "72h上網率:您是83.5%,要求≥85%,差1.5%" in text


@pytest.mark.parametrize("bad", [None, "not-a-token", "expired", "wrong-key"])
def test_bad_tokens_get_401(imported, bad):
    value = {None: None, "not-a-token": "abc.def.ghi", "expired": token("T9001", hours=-1),
             "wrong-key": token("T9001", key="another-secret")}[bad]
    status, body = post(imported, {"message": "我现在是什么等级"}, value)
    assert status == 401 and "error" in body


def test_plain_rest_channel_never_reaches_private_data(imported, client):
    reply = client.text("T9001", "我离金牌还差多少?")
    assert "需要先登录" in reply and "83.5" not in reply
    # Conversation ids of the signed-in channels cannot be named on the anonymous channel.
    with pytest.raises(urllib.error.HTTPError) as refused:
        client.text("merchant:T9001", "我离金牌还差多少?")
    assert refused.value.code == 403
