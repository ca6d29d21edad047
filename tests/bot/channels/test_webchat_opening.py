"""The web chat window's first message and how agents' messages are marked (no server needed)."""
from __future__ import annotations

import pytest

from bot.channels.webchat import AGENT_MARK, browser_script, to_widget
from core import script


@pytest.mark.parametrize("language, expected", [
    ("zh-TW", script.TAIWAN), ("zh-Hant", script.TAIWAN), ("zh-Hant-TW", script.TAIWAN),
    ("zh_TW", script.TAIWAN), ("zh-HK", script.HONG_KONG), ("zh-MO", script.HONG_KONG),
    ("zh-CN", None), ("zh", None), ("en-US", None), ("", None), (None, None), (42, None),
])
def test_the_browsers_language_decides_the_script_of_the_greeting(language, expected):
    assert browser_script(language) == expected


def test_an_agents_message_is_marked_and_the_assistants_is_not():
    agent = to_widget({"text": "您好,我是客服小李", "custom": {"from": "agent", "ticket": 3}})
    assert agent == [{"text": AGENT_MARK + "您好,我是客服小李"}]
    assistant = to_widget({"text": "银牌每个月有2个橱窗", "custom": {"from": "assistant", "ticket": 3}})
    assert assistant == [{"text": "银牌每个月有2个橱窗"}]
    assert to_widget({"text": "普通回复"}) == [{"text": "普通回复"}]
