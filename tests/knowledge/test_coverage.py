"""Coverage: every numbered item and table cell of the source documents is in the knowledge base.

The test reads the OCR'd sources in knowledge/sources/, extracts each item's figures (amounts,
rates, counts, dates) and checks them against the knowledge entry that answers for that item.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List

import pytest

from core import script
from core.knowledge.model import Entry

SOURCES = Path(__file__).resolve().parents[2] / "knowledge" / "sources"
CHUNLEI = SOURCES / "000_07b1e86e5c4536d7.txt"
TIERS = SOURCES / "003_f7eead21f4ccc48c.txt"

# A figure: digits (with . / * between them) and the unit that gives them meaning.
FIGURE = re.compile(r"\d+(?:[./*]\d+)*(?:\s*(?:%|万|亿|元|bps|家|个|天|小时|月|日|号|点|分|次|折|星))?")
# OCR reads "本年" for the plan's year; the knowledge base writes dates absolutely.
OCR_FIXES = {"本年": "2020年", "干牛": "千牛", "  ": " "}


def _clean(text: str) -> str:
    for wrong, right in OCR_FIXES.items():
        text = text.replace(wrong, right)
    return re.sub(r"\s+", "", text)


def figures(text: str) -> List[str]:
    """The figures of a source item, whitespace removed."""
    found = [re.sub(r"\s+", "", f) for f in FIGURE.findall(_clean(text))]
    return [f for f in found if f != "1688"]  # the platform's name, not a figure


def entry_text(entry: Entry) -> str:
    return _clean(" ".join([entry.answer, *entry.facets.values(), *entry.values]))


def chunlei_measures() -> Dict[int, str]:
    """Measure number -> its text, from the 春雷 plan."""
    text = CHUNLEI.read_text(encoding="utf-8")
    body = text[text.index("金融服务保障\n"):text.index("2 1688.com")]
    items = re.split(r"\n(?:- )?(\d{1,2})、", "\n" + body)
    return {int(items[i]): items[i + 1] for i in range(1, len(items) - 1, 2)}


def test_all_17_measures_are_found_in_the_source():
    assert sorted(chunlei_measures()) == list(range(1, 18))


@pytest.mark.parametrize("number", range(1, 18))
def test_measure_figures_are_in_the_knowledge_base(kb, number):
    source = chunlei_measures()[number]
    entry = kb.measure(number)
    assert entry is not None, f"measure {number} missing"
    held = entry_text(entry)
    missing = [f for f in figures(source) if f not in held]
    assert not missing, f"measure {number}: {missing} not in {held}"


def test_overall_figures(kb):
    programme = kb.programmes["chunlei_1688"]
    assert programme.facts["measure_count"] == 17 == len(kb.entries_of("measure"))
    assert programme.facts["guarantee_count"] == 5 == len(kb.entries_of("guarantee"))
    assert "约2亿" in programme.answer and "17条" in programme.answer
    source = CHUNLEI.read_text(encoding="utf-8")
    names = re.findall(r"\"(\w+保障)\"", source[source.index("紧急出台了"):source.index("共17条")])
    assert len(names) == 5
    assert set(names) == {e.name for e in kb.entries_of("guarantee")}


# ---- the 询价单订阅 table ----
OCR_CELLS = {"8": "不支持", "②": "支持", "©": "支持"}


def source_table() -> Dict[str, List[str]]:
    """Row name -> [V1, V2, V3] cells, OCR artefacts corrected."""
    rows = {}
    for line in CHUNLEI.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[0] in ("功能与特权解析",) or set(cells[0]) <= {"-"}:
            continue
        values = [OCR_CELLS.get(c, _clean(c)) for c in cells[1:4]]
        rows[cells[0]] = values
    return rows


def test_table_has_six_rows_in_the_source():
    assert len(source_table()) == 6


@pytest.mark.parametrize("row_name", list(source_table()))
def test_every_table_cell_matches_the_source(kb, row_name):
    table = kb.tables["inquiry_versions"]
    row = next(r for r in table.rows if r.name == row_name)
    held = [_clean(row.cells[c]) for c in table.columns]
    assert held == source_table()[row_name]


def test_table_columns_are_the_three_versions(kb):
    table = kb.tables["inquiry_versions"]
    assert [kb.entries[c].name for c in table.columns] == [
        "询价单订阅V1.0", "询价单订阅V2.0", "询价单订阅V3.0"]


# ---- the rest of the new-merchant plan and the home page ----
def test_new_merchant_resources_and_the_missing_fifth(kb):
    programme = kb.programmes["new_merchant_1688"]
    for name in ("询价单订阅3.0", "基础服务包", "网销宝红包", "商家直播绿通"):
        assert name in programme.answer
    assert "5大资源" in programme.answer and "4项" in programme.answer


def test_service_pack_items_and_the_star_inconsistency(kb):
    held = entry_text(kb.entries["resource_service_pack"])
    for item in ("美化照片", "7星offer", "旺铺装修", "85分", "一整年免费培训", "上门服务", "5星offer"):
        assert item in held, item


def test_live_gift_package(kb):
    entry = kb.entries["resource_live"]
    held = entry_text(entry)
    source = CHUNLEI.read_text(encoding="utf-8")
    block = source[source.index("扶持名额"):source.index("核心利益点:\n\n- 1、流量")]
    for figure in figures(block):
        assert figure.replace("号", "日") in held.replace("号", "日"), figure
    assert "首次签约诚信通" in held
    assert str(entry.window.valid_from) == "2020-04-01" and str(entry.window.valid_until) == "2020-04-15"


def test_every_homepage_section(kb):
    source = CHUNLEI.read_text(encoding="utf-8")
    names = re.findall(r"^- (\w+)[:;:]", source[source.index("1688首页平台的版块"):], re.M)
    assert len(names) == 11
    held = {e.name.split("(")[0] for e in kb.entries_of("section")}
    assert set(names) == held


# ---- AliExpress gold/silver tiers (the source is in traditional script) ----
def tiers_source() -> str:
    return script.to_simplified(TIERS.read_text(encoding="utf-8"), script.TAIWAN)


def _section(text: str, start: str, end: str) -> Dict[int, str]:
    body = text[text.index(start):text.index(end, text.index(start))]
    items = re.split(r"\n(\d)\)", "\n" + body)
    return {int(items[i]): items[i + 1] for i in range(1, len(items) - 1, 2)}


BENEFIT_ITEMS = {1: ["showcase", "search_boost"], 2: ["marketing"], 3: ["badge"], 4: ["loan"],
                 5: ["service"], 6: ["store_tools"]}


@pytest.mark.parametrize("tier, start, end", [("gold", "1、金牌权益", "2、金牌基础准入条件"),
                                              ("silver", "1、银牌权益", "2、银牌基础准入条件")])
def test_tier_benefit_items(kb, tier, start, end):
    items = _section(tiers_source(), start, end)
    assert sorted(items) == list(range(1, 7))
    for number, text in items.items():
        held = _clean(" ".join(kb.benefit(b).by_tier[tier].answer for b in BENEFIT_ITEMS[number]))
        missing = [f for f in figures(text) if f not in held]
        assert not missing, f"{tier} benefit {number}: {missing}"
        # The benefit's heading word (流量扶持, 营销权益, ...) names the knowledge entry's category.
        heading = text.split(":")[0].strip()
        assert any(kb.benefit(b).category == heading for b in BENEFIT_ITEMS[number]), heading


VIOLATIONS = {1: "violation_ip_severe", 2: "violation_ip_prohibited", 3: "violation_trade_points",
              4: "violation_banned", 5: "violation_overview"}
METRICS = {1: "metric_payment_rank", 2: "metric_online_72h", 3: "metric_snad",
           4: "metric_positive_feedback", 5: "metric_dingtalk", 6: "metric_industry"}


def test_violation_thresholds(kb):
    text = tiers_source()
    for occurrence in (1, 2):  # the gold section and the silver section state the same list
        begin = [m.start() for m in re.finditer(re.escape("2.1 卖家应遵守"), text)][occurrence - 1]
        items = _section(text[begin:], "2.1", "2.2")
        assert sorted(items) == list(range(1, 6))
        for number, item in items.items():
            held = entry_text(kb.entries[VIOLATIONS[number]])
            missing = [f for f in figures(item) if f not in held]
            assert not missing, f"violation {number}: {missing}"


def test_condition_thresholds(kb):
    text = tiers_source()
    for begin in [m.start() for m in re.finditer(re.escape("2.2 卖家在速卖通平台"), text)]:
        items = _section(text[begin:], "2.2", "二、" if begin < text.index("二、银牌") else "三、")
        assert sorted(items) == list(range(1, 7))
        for number, item in items.items():
            held = entry_text(kb.entries[METRICS[number]])
            missing = [f for f in figures(item) if f not in held]
            assert not missing, f"condition {number}: {missing}"
    assert "近90天内有交易记录" in kb.entries["metric_trade_90d"].answer


def test_assessment_protection_portal_and_dates(kb):
    text = tiers_source()
    assessment = text[text.index("1、金银牌考核方式"):text.index("2、金银牌身份门户")]
    held = entry_text(kb.entries["topic_assessment"]) + entry_text(kb.entries["topic_protection"])
    missing = [f for f in figures(assessment) if f not in held]
    assert not missing, missing
    effective = text[text.index("1、规则生效时间"):text.index("2、其它常见问题")]
    held = entry_text(kb.entries["topic_effective"])
    missing = [f for f in figures(effective) if f not in held]
    assert not missing, missing
    assert kb.programme.valid_until.isoformat() == "2024-03-31"
    assert "卖家官网" in kb.entries["topic_portal"].answer
