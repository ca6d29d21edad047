"""Questions over HTTP, in both scripts, against the real Rasa and action servers."""
from __future__ import annotations

import uuid

import pytest

from core import script

pytestmark = pytest.mark.e2e

# Characters that exist only in simplified form: none may appear in a traditional reply.
SIMPLIFIED_ONLY = set("个来规则权银铺问题们这说吗贷务")


def sender() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def assert_traditional(text: str, variant: str) -> None:
    assert not (set(text) & SIMPLIFIED_ONLY), f"simplified characters in {text!r}"
    assert script.detect_script(text) in (script.TAIWAN, script.HONG_KONG)
    assert script.to_simplified(text, variant) != text


def assert_simplified(text: str) -> None:
    assert script.detect_script(text) == script.SIMPLIFIED, text


def test_taiwan_question_gets_three_windows_in_traditional_with_source(client):
    reply = client.text(sender(), "金牌店鋪每個月有幾個櫥窗?")
    assert "3個櫥窗" in reply
    assert "來源" in reply and "金牌商家規則" in reply and "流量扶持" in reply
    assert "2024年3月31日" in reply
    assert_traditional(reply, script.TAIWAN)


def test_simplified_question_gets_the_same_answer_in_simplified(client):
    reply = client.text(sender(), "金牌店铺每个月有几个橱窗?")
    assert "3个橱窗" in reply and "来源" in reply and "金牌商家规则" in reply
    assert_simplified(reply)


def test_silver_loan_discount_in_traditional(client):
    reply = client.text(sender(), "銀牌貸款打幾折?")
    assert "95折" in reply and "網商銀行" in reply
    assert "來源" in reply and "銀牌權益" in reply
    assert_traditional(reply, script.TAIWAN)


def test_hong_kong_question_gets_hong_kong_forms(client):
    reply = client.text(sender(), "銀牌嘅貸款打幾折?")
    assert "95折" in reply
    assert_traditional(reply, script.HONG_KONG)


def test_english_mixed_question(client):
    reply = client.text(sender(), "gold seller 橱窗几个")
    assert "3个橱窗" in reply and "2个" not in reply


def test_question_about_both_tiers_answers_both(client):
    reply = client.text(sender(), "金銀牌櫥窗各有幾個")
    assert "3個櫥窗" in reply and "2個櫥窗" in reply
    assert_traditional(reply, script.TAIWAN)


def test_greeting_follows_the_script(client):
    assert_simplified(client.text(sender(), "你好"))
    reply = client.text(sender(), "您好,請問")
    assert_traditional(reply, script.TAIWAN)


def test_out_of_scope_question_is_not_answered_with_a_benefit(client):
    reply = client.text(sender(), "今天天气怎么样")
    assert "橱窗激励" not in reply and "来源" not in reply
    assert "不在我能回答的范围" in reply or "没有理解" in reply


def test_conversation_keeps_following_the_latest_script(client):
    who = sender()
    assert_simplified(client.text(who, "金牌贷款打几折"))
    reply = client.text(who, "銀牌呢?貸款打幾折")
    assert "95折" in reply
    assert_traditional(reply, script.TAIWAN)
