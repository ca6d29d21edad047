"""DingTalk robot over HTTP, against a fake DingTalk session webhook on loopback."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Optional

import pytest
from sqlalchemy import create_engine, text

from bot.channels.dingtalk import signature
from tests.e2e.conftest import DINGTALK_SECRET, PROJECT
from tests.e2e.fake_dingtalk import FakeDingTalk

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dingtalk(imported):
    fake = FakeDingTalk()
    result = subprocess.run([sys.executable, "-m", "actions.cli", "--database-url",
                             imported.database_url, "link-dingtalk", "staff-9001", "T9001"],
                            cwd=PROJECT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    yield fake
    fake.server.shutdown()


def callback(servers, fake: FakeDingTalk, staff: str, text: str, session: str,
             secret: str = DINGTALK_SECRET, timestamp: Optional[int] = None,
             webhook: Optional[str] = None, sign: Optional[str] = None,
             message_id: Optional[str] = None):
    ts = str(int(time.time() * 1000) if timestamp is None else timestamp)
    body = {"msgtype": "text", "text": {"content": text}, "senderStaffId": staff,
            "msgId": message_id or f"msg-{uuid.uuid4().hex}",
            "senderNick": "张三", "conversationId": f"cid-{staff}", "conversationType": "1",
            "sessionWebhook": webhook or fake.webhook(session),
            "sessionWebhookExpiredTime": int(time.time() * 1000) + 3_600_000}
    headers = {"Content-Type": "application/json", "timestamp": ts,
               "sign": sign if sign is not None else signature(secret, ts)}
    request = urllib.request.Request(f"http://127.0.0.1:{servers.rasa_port}/webhooks/dingtalk/webhook",
                                     json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_a_question_is_answered_through_the_session_webhook(imported, dingtalk):
    status, body = callback(imported, dingtalk, "staff-anon", "金牌賣家每個月有幾個櫥窗?", "s1")
    assert status == 200 and body["delivered"] >= 1
    text = dingtalk.texts("s1")
    assert "3個櫥窗" in text  # in the script the merchant wrote in


def test_a_linked_account_gets_its_own_merchants_status_and_nobody_elses(imported, dingtalk):
    callback(imported, dingtalk, "staff-9001", "我离金牌还差多少?", "s2")
    own = dingtalk.texts("s2")
    assert "72h上网率:您是83.5%" in own
    callback(imported, dingtalk, "staff-9001", '/ask_tier_status{"merchant_id": "T9002"}', "s3")
    callback(imported, dingtalk, "staff-9001", "查一下商家 T9002 的金银牌状态", "s3")
    assert "別人的店" not in dingtalk.texts("s3") and "99%" not in dingtalk.texts("s3")


def test_an_unlinked_account_gets_no_private_data(imported, dingtalk):
    callback(imported, dingtalk, "staff-unknown", "我离金牌还差多少?", "s4")
    text = dingtalk.texts("s4")
    assert "需要先登录" in text and "83.5" not in text


def test_a_replayed_callback_is_dropped_and_audited(imported, dingtalk):
    # Signed callbacks stay valid for an hour; the same message id is taken once.
    first = callback(imported, dingtalk, "staff-replay", "金牌每个月有几个橱窗?", "s9",
                     message_id="msg-replayed")
    again = callback(imported, dingtalk, "staff-replay", "金牌每个月有几个橱窗?", "s9",
                     message_id="msg-replayed")
    assert first[0] == 200 and first[1]["delivered"] >= 1
    assert again == (200, {"delivered": 0, "duplicate": True})
    assert len(dingtalk.received["/robot/sendBySession?session=s9"]) == first[1]["delivered"]
    engine = create_engine(imported.database_url, future=True)
    with engine.connect() as conn:
        reasons = conn.execute(text("SELECT reason FROM audit_log WHERE allowed = :no"),
                               {"no": False}).scalars().all()
    engine.dispose()
    assert "replayed message: msg-replayed" in reasons


def test_choices_come_as_markdown(imported, dingtalk):
    callback(imported, dingtalk, "staff-md", "qwpeorituy zmxncbv", "s5")
    callback(imported, dingtalk, "staff-md", "lkjhg asdfpoiu", "s5")
    posted = dingtalk.received["/robot/sendBySession?session=s5"]
    assert posted[-1]["msgtype"] == "markdown" and "- 转人工客服" in posted[-1]["markdown"]["text"]


@pytest.mark.parametrize("forgery", ["wrong secret", "stale", "future", "no sign", "garbage sign"])
def test_forged_or_stale_callbacks_get_401_and_no_reply(imported, dingtalk, forgery):
    now = int(time.time() * 1000)
    kwargs = {"wrong secret": dict(secret="not-the-secret"),
              "stale": dict(timestamp=now - 3_700_000), "future": dict(timestamp=now + 3_700_000),
              "no sign": dict(sign=""), "garbage sign": dict(sign="abc=")}[forgery]
    status, body = callback(imported, dingtalk, "staff-9001", "我离金牌还差多少?", "s6", **kwargs)
    assert status == 401 and "error" in body
    assert dingtalk.texts("s6") == ""


def test_replies_go_only_to_allowed_hosts(imported, dingtalk):
    status, body = callback(imported, dingtalk, "staff-9001", "你好", "s7",
                            webhook="http://169.254.169.254/latest/meta-data")
    assert status == 400 and "allowed host" in body["error"]
