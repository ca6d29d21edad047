"""Script detection, normalisation and reply conversion."""
from __future__ import annotations

import pytest

from core import script


@pytest.mark.parametrize(
    "text, expected_script, expected_text",
    [
        ("金牌店铺每个月有几个橱窗?", script.SIMPLIFIED, "金牌店铺每个月有几个橱窗?"),
        ("金牌店鋪每個月有幾個櫥窗?", script.TAIWAN, "金牌店铺每个月有几个橱窗?"),
        ("銀牌貸款打幾折?", script.TAIWAN, "银牌贷款打几折?"),
        # Hong Kong character forms (裏, 着) without any Cantonese words.
        ("我的店鋪裏面有多少櫥窗", script.HONG_KONG, "我的店铺里面有多少橱窗"),
        ("金牌賣家着重甚麼指標", script.HONG_KONG, "金牌卖家着重甚么指标"),
        # Written Cantonese.
        ("銀牌嘅貸款點樣計?", script.HONG_KONG, "银牌嘅贷款点样计?"),
        # Taiwan wording is mapped to mainland wording, not only characters.
        ("軟體", script.TAIWAN, "软件"),
    ],
)
def test_detects_script_and_normalises_to_simplified(text, expected_script, expected_text):
    normalised, detected = script.normalize(text)
    assert detected == expected_script
    # Cantonese particles (嘅) have no one-to-one mainland word and stay; characters converge.
    assert normalised == expected_text


def test_traditional_and_simplified_questions_become_identical():
    pairs = [
        ("金牌店鋪每個月有幾個櫥窗?", "金牌店铺每个月有几个橱窗?"),
        ("72小時上網率要達到多少", "72小时上网率要达到多少"),
        ("貨不對版糾紛率", "货不对版纠纷率"),
        ("詢價單訂閱V3有什麼功能", "询价单订阅v3有什么功能"),
    ]
    for traditional, simplified in pairs:
        assert script.normalize(traditional)[0] == script.normalize(simplified)[0]


def test_mixed_script_text_is_fully_simplified():
    normalised, detected = script.normalize("金牌店铺每個月有几個橱窗")
    assert normalised == "金牌店铺每个月有几个橱窗"
    assert detected in (script.TAIWAN, script.HONG_KONG)


def test_english_mixed_text_is_lower_cased_and_width_folded():
    normalised, detected = script.normalize("ＧＯＬＤ　Seller 櫥窗幾個？")
    assert normalised == "gold seller 橱窗几个?"
    assert detected == script.TAIWAN


@pytest.mark.parametrize("text", ["", "   ", None, "\u200b\u200b", "\x00\x01"])
def test_empty_and_invisible_text_normalises_to_empty(text):
    assert script.normalize(text) == ("", None)


@pytest.mark.parametrize("text", ["😀👍", "hello", "123", "!!!"])
def test_text_without_chinese_has_no_script(text):
    normalised, detected = script.normalize(text)
    assert detected is None
    assert normalised == text.lower()


def test_emoji_survive_next_to_chinese():
    normalised, detected = script.normalize("金牌櫥窗幾個😀")
    assert normalised == "金牌橱窗几个😀"
    assert detected == script.TAIWAN


def test_zero_width_and_control_characters_are_dropped():
    assert script.normalize("金\u200b牌\u202e橱窗\t几个")[0] == "金牌橱窗 几个"


@pytest.mark.parametrize(
    "target, expected",
    [
        (script.SIMPLIFIED, "金牌店铺每个月可以享受3个橱窗激励,软件里面"),
        (None, "金牌店铺每个月可以享受3个橱窗激励,软件里面"),
        (script.TAIWAN, "金牌店鋪每個月可以享受3個櫥窗激勵,軟體裡面"),
        (script.HONG_KONG, "金牌店鋪每個月可以享受3個櫥窗激勵,軟件裏面"),
    ],
)
def test_replies_follow_the_merchants_script(target, expected):
    assert script.from_simplified("金牌店铺每个月可以享受3个橱窗激励,软件里面", target) == expected


def test_round_trip_keeps_the_detected_script():
    for text in ["金牌店鋪每個月有幾個櫥窗", "我的店鋪裏面有多少櫥窗"]:
        simplified, detected = script.normalize(text)
        assert script.detect_script(script.from_simplified(simplified, detected)) == detected


def test_the_merchants_script_is_the_latest_that_shows_one():
    from core.contract import PARSE_SCRIPT, PARSE_SCRIPT_NEUTRAL

    newest_first = [{PARSE_SCRIPT: script.SIMPLIFIED, PARSE_SCRIPT_NEUTRAL: True},  # "好的"
                    {},                                                          # a button
                    {PARSE_SCRIPT: script.TAIWAN},
                    {PARSE_SCRIPT: script.SIMPLIFIED}]
    assert script.merchant_script(newest_first) == script.TAIWAN
    assert script.merchant_script(newest_first[:2]) == script.SIMPLIFIED  # only a neutral one
    assert script.merchant_script([{}, {PARSE_SCRIPT: "latin"}]) is None


def test_variant_characters_of_money_words_become_the_standard_ones():
    # "到帐" and "帐户" are how many merchants type 到账 and 账户; the documents use the latter.
    assert script.normalize("多久能到帳")[0] == "多久能到账"
    assert script.normalize("帐户被冻结了,对帐单在哪")[0] == "账户被冻结了,对账单在哪"
    assert script.normalize("露营帐篷")[0] == "露营帐篷"


def test_warm_builds_every_conversion_the_module_makes():
    import re
    from pathlib import Path

    from core import script

    source = Path(script.__file__).read_text(encoding="utf-8")
    made = set(re.findall(r'_convert\([^)]*"([a-z0-9]+)"\)', source))
    assert made and made == set(script.CONVERSIONS)
    script._converter.cache_clear()
    script.warm()
    assert script._converter.cache_info().currsize == len(script.CONVERSIONS)
