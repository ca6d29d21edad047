"""DingTalk callbacks: signature, freshness, reply format."""
from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from bot.channels.dingtalk import conversation_for, signature, to_dingtalk, verify

SECRET = "SEC-app-secret"
NOW = 1_763_900_000_000


def test_signature_is_dingtalks_hmac_of_timestamp_and_secret():
    expected = base64.b64encode(hmac.new(SECRET.encode(), f"{NOW}\n{SECRET}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert signature(SECRET, str(NOW)) == expected


def test_a_genuine_fresh_callback_passes():
    assert verify(SECRET, str(NOW), signature(SECRET, str(NOW)), now_ms=NOW + 5_000) is None


@pytest.mark.parametrize("timestamp, sign, reason", [
    (None, "x", "missing"), (str(NOW), None, "missing"), ("12ab", "x", "bad timestamp"),
    (str(NOW), signature("another-secret", str(NOW)), "bad signature"),
    (str(NOW), signature(SECRET, str(NOW + 1)), "bad signature"),
    (str(NOW - 3_600_001), signature(SECRET, str(NOW - 3_600_001)), "stale"),
    (str(NOW + 3_600_001), signature(SECRET, str(NOW + 3_600_001)), "stale"),
])
def test_forged_or_stale_callbacks_are_refused(timestamp, sign, reason):
    assert reason in verify(SECRET, timestamp, sign, now_ms=NOW)


def test_conversations_are_per_account_and_unguessable():
    a, b = conversation_for("k", "staff-1"), conversation_for("k", "staff-2")
    assert a != b and a.startswith("dingtalk:") and "staff-1" not in a
    assert conversation_for("other-key", "staff-1") != a


def test_replies_are_text_or_markdown_with_the_choices():
    assert to_dingtalk({"text": "您好"}) == {"msgtype": "text", "text": {"content": "您好"}}
    offer = to_dingtalk({"text": "需要转人工吗?", "buttons": [
        {"title": "转人工客服", "payload": "/request_human"}, {"title": "不用了", "payload": "/deny"}]})
    assert offer["msgtype"] == "markdown"
    assert offer["markdown"]["text"] == "需要转人工吗?\n\n- 转人工客服\n- 不用了"
