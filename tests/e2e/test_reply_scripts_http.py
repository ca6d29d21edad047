"""Every kind of reply, asked in Taiwan and Hong Kong writing over HTTP, comes back in that script."""
from __future__ import annotations

from typing import List, Tuple

import pytest

from tests.bot.test_reply_scripts import OPENCC_DICT_TOOL, build_script_chars
from tests.e2e.conftest import REPORT
from tests.e2e.test_handoff_http import Desk, Merchant

pytestmark = pytest.mark.e2e

# One conversation per script: (message, what the reply must contain), covering programme
# answers, the status offer, tier status, clarification, the handoff offer and its refusal,
# the menu, out of scope, another platform, an unknown measure, starting over and a handoff.
TAIWAN = [
    ("您好,請問", "商家助手"),
    ("金牌賣家的72小時上網率要達到多少?", "≥85%"),
    ("好的", "S8001"),  # the offer to check the store: no metrics imported for S8001
    ("那銀牌呢?", "85%"),
    ("第99條是什麼?", "沒有第99條"),
    ("淘寶的扣分規則是什麼?", ""),
    ("你能做什麼?", "商家助手"),
    ("今天天氣怎麼樣?", ""),
    ("qwpoeiruty 嗎", ""),
    ("zxcvbnm 嗎", ""),
    ("不用了", "好的"),
    ("重新開始", "重新開始"),
    ("轉人工", "工單號"),
    ("我還在等", "人工客服"),
]
HONG_KONG = [
    ("金牌賣家有咩權益?", "櫥窗"),
    ("第3條點樣申請?", "第3條"),
    ("詢價單訂閱V2同V3有咩唔同?", "V3"),
    ("你係邊個?", "商家助手"),
    ("我想搵真人", "工單號"),
    ("仲有冇人喺度?", "人工客服"),
]


@pytest.fixture(scope="module")
def chars(tmp_path_factory):
    if not OPENCC_DICT_TOOL.exists():
        pytest.fail(f"OpenCC's dictionary tool is missing: {OPENCC_DICT_TOOL}")
    return build_script_chars(tmp_path_factory.mktemp("opencc"))


@pytest.mark.parametrize("target, sub, conversation", [("zh-TW", "S8001", TAIWAN),
                                                       ("zh-HK", "S8002", HONG_KONG)])
def test_every_reply_follows_the_merchants_script(servers, chars, target, sub, conversation):
    merchant = Merchant(servers, sub)
    offences: List[Tuple[str, str, List[str]]] = []
    for message, expected in conversation:
        reply = merchant.say(message)
        assert reply, f"no reply to {message!r}"
        assert expected in reply, f"{message!r} -> {reply!r}"
        wrong = chars.offences(reply, target)
        if wrong:
            offences.append((message, reply, wrong))
    assert not offences, "\n".join(f"{m!r} -> {r!r}: {w}" for m, r, w in offences)
    # An agent's message (written in simplified) and the hand-back notice too.
    desk = Desk(servers, "agent-script")
    listed = [t for t in desk("GET", "/tickets")[1]["tickets"] if t["merchant_id"] == sub]
    number = listed[0]["id"]
    desk("POST", f"/tickets/{number}/claim")
    desk("POST", f"/tickets/{number}/messages", {"text": "您好,请问还有什么问题?"})
    desk("POST", f"/tickets/{number}/handback")
    waiting = merchant.poll()
    assert len(waiting) == 2
    for message in waiting:
        assert not chars.offences(message["text"], target), message["text"]
    REPORT[f"scripts {target}"] = (f"replies in {target}: {len(conversation)} messages, "
                                   f"0 characters of the other script")
