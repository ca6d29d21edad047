"""Every reply reaches the merchant in the merchant's script, and in that script only.

Domain responses (every variation, its text and its button titles), the phrases of
`knowledge/replies.yml` and the texts of the knowledge base are rendered for simplified,
Taiwan and Hong Kong conversations. A Taiwan or Hong Kong reply must contain no
simplified-only character; a simplified reply no traditional-only character.

The two character classes come from OpenCC's own character tables (the `.ocd2` files shipped
in the opencc package, read with the package's `opencc_dict` tool):

- simplified-only: a key of STCharacters that none of its traditional forms keeps as is, and
  that no table uses as a traditional character (not a traditional form in STCharacters, not a
  key of TSCharacters or TSCharactersExt, not in TWVariants or HKVariants). So 卖 and 线 are
  simplified-only; 台, 才 and 干 (kept in some traditional words), 着 (OpenCC's standard
  traditional form) and 户, 峰, 温 (Hong Kong or Taiwan forms) are not.
- traditional-only: a key of TSCharacters or TSCharactersExt that none of its simplified forms
  keeps as is, and that no table uses as a simplified character (not a key of STCharacters, not
  a simplified form in TSCharacters or TSCharactersExt). So 賣, 線, 裡 and 為 are
  traditional-only; 著, 乾, 於 and 徵 (also written in simplified text) are not.

A few words in OpenCC's phrase tables deliberately keep a simplified-only character in
traditional text (proper names such as 恒生); within those words the character is accepted.
"""
from __future__ import annotations

import asyncio
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, Iterator, List, Optional, Tuple

import opencc
import pytest
import yaml
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.nlg import ScriptAwareNaturalLanguageGenerator
from bot.nlu.normalizer import SCRIPT
from core import script

PROJECT = Path(__file__).resolve().parents[2]
DOMAIN = PROJECT / "domain.yml"
REPLIES = PROJECT / "knowledge" / "replies.yml"

OPENCC_CLIB = Path(opencc.__file__).resolve().parent / "clib"
OPENCC_SHARE = OPENCC_CLIB / "share" / "opencc"
OPENCC_DICT_TOOL = OPENCC_CLIB / "bin" / "opencc_dict"

TRADITIONAL = (script.TAIWAN, script.HONG_KONG)
# The conversions core.script.from_simplified uses for traditional replies.
TRADITIONAL_CONFIGS = ("s2twp.json", "s2hk.json")

# Values for template variables; the actions fill them in simplified Chinese, and the reply
# is converted as a whole, so they must come out in the merchant's script too.
SAMPLE_VALUES = {
    "answer": "金牌店铺每个月可以享受3个橱窗激励(搜索橱窗规则以平台链接为准)。",
    "source": "速卖通《2023年新金银牌规则》 一、金牌商家规则 1、金牌权益 1)流量扶持",
    "status": "有效期为2023年7月1日至2024年3月31日,今天(2026年11月22日)已过期。",
    "text_body": "离金牌还差以下条件:· 好评率:您是95%,要求≥97%,差2个百分点",
    "ticket": "1024",
}
DEFAULT_SAMPLE = "金牌卖家的经营数据"
_PLACEHOLDER = re.compile(r"{(\w+)}")


# ---------------------------------------------------------------------------------------------
# Character classes from OpenCC's tables
# ---------------------------------------------------------------------------------------------

Table = Dict[str, List[str]]


@dataclass(frozen=True)
class ScriptChars:
    """Characters that must not appear in a reply of the other script."""

    simplified_only: FrozenSet[str]
    traditional_only: FrozenSet[str]
    # Words OpenCC's phrase tables write in traditional text with a simplified-only character.
    kept_in_traditional: Tuple[str, ...]

    def offences(self, text: str, target: Optional[str]) -> List[str]:
        """The characters of the text that do not belong in a reply in the target script."""
        if target in TRADITIONAL:
            forbidden = self.simplified_only
            # The words are sorted longest first: a word inside another is masked with it.
            for word in self.kept_in_traditional:
                text = text.replace(word, " " * len(word))
        else:
            forbidden = self.traditional_only
        return sorted({ch for ch in text if ch in forbidden}, key=text.index)


def _dump(name: str, directory: Path) -> Table:
    """Read one of OpenCC's .ocd2 dictionaries: key -> candidates, first one preferred."""
    target = directory / f"{name}.txt"
    subprocess.run(
        [str(OPENCC_DICT_TOOL), "-i", str(OPENCC_SHARE / f"{name}.ocd2"), "-o", str(target),
         "-f", "ocd2", "-t", "text"],
        check=True, capture_output=True,
    )
    table: Table = {}
    for line in target.read_text(encoding="utf-8").splitlines():
        if line:
            key, _, values = line.partition("\t")
            table[key] = values.split(" ")
    return table


def _dictionaries(node: object) -> Iterator[str]:
    """The names of the .ocd2 dictionaries an OpenCC configuration refers to."""
    if isinstance(node, dict):
        if node.get("type") == "ocd2" and isinstance(node.get("file"), str):
            yield node["file"][: -len(".ocd2")]
        for value in node.values():
            yield from _dictionaries(value)
    elif isinstance(node, list):
        for value in node:
            yield from _dictionaries(value)


def _chars(texts: Iterable[str]) -> set:
    return {ch for text in texts for ch in text}


def build_script_chars(directory: Path) -> ScriptChars:
    """Derive the two character classes from OpenCC's character and variant tables."""
    st = _dump("STCharacters", directory)
    ts_tables = [_dump("TSCharacters", directory), _dump("TSCharactersExt", directory)]
    variants = [_dump("TWVariants", directory), _dump("HKVariants", directory)]

    def keys(tables: List[Table]) -> set:
        return _chars(key for table in tables for key in table)

    def values(tables: List[Table]) -> set:
        return _chars(v for table in tables for vs in table.values() for v in vs)

    traditional_forms = values([st]) | keys(ts_tables) | keys(variants) | values(variants)
    simplified_forms = keys([st]) | values(ts_tables)

    simplified_only = {k for k, vs in st.items() if k not in vs} - traditional_forms
    traditional_only = {k for table in ts_tables for k, vs in table.items()
                        if k not in vs} - simplified_forms

    phrase_tables = set()
    for config in TRADITIONAL_CONFIGS:
        chain = json.loads((OPENCC_SHARE / config).read_text(encoding="utf-8"))
        phrase_tables |= {n for n in _dictionaries(chain["conversion_chain"]) if "Phrases" in n}
    kept = {vs[0] for name in sorted(phrase_tables)
            for vs in _dump(name, directory).values() if set(vs[0]) & simplified_only}
    return ScriptChars(frozenset(simplified_only), frozenset(traditional_only),
                       tuple(sorted(kept, key=lambda w: (-len(w), w))))


@pytest.fixture(scope="module")
def chars(tmp_path_factory) -> ScriptChars:
    if not OPENCC_DICT_TOOL.exists():
        pytest.fail(f"OpenCC's dictionary tool is missing: {OPENCC_DICT_TOOL}")
    return build_script_chars(tmp_path_factory.mktemp("opencc"))


# ---------------------------------------------------------------------------------------------
# The replies, rendered for each script
# ---------------------------------------------------------------------------------------------

Rendered = List[Tuple[str, Optional[str]]]  # (what and where, rendered text or None)


def tracker_for(target: str, domain: Domain, slots: Dict[str, object]) -> DialogueStateTracker:
    """A conversation whose latest message was written in the target script."""
    events = [UserUttered("…", {"name": "ask_programme", "confidence": 1.0}, [],
                          parse_data={SCRIPT: target})]
    events += [SlotSet(name, value) for name, value in slots.items()]
    return DialogueStateTracker.from_events("merchant", events, slots=domain.slots)


def _samples(variation: dict) -> Dict[str, str]:
    names = set(_PLACEHOLDER.findall(json.dumps(variation, ensure_ascii=False)))
    return {name: SAMPLE_VALUES.get(name, DEFAULT_SAMPLE) for name in names}


async def _render_domain(domain: Domain, target: str) -> Rendered:
    rendered: Rendered = []
    for name, variations in domain.responses.items():
        for i, variation in enumerate(variations):
            where = f"domain.yml {name} variation {i + 1}"
            conditions = {c["name"]: c["value"] for c in variation.get("condition") or []
                          if c.get("type") == "slot"}
            nlg = ScriptAwareNaturalLanguageGenerator(domain=domain)
            nlg.responses = {name: [variation]}
            response = await nlg.generate(name, tracker_for(target, domain, conditions),
                                          variation.get("channel") or "rest",
                                          **_samples(variation))
            if response is None:
                rendered.append((where, None))
                continue
            if isinstance(response.get("text"), str):
                rendered.append((f"{where} text", response["text"]))
            for key in ("buttons", "quick_replies"):
                for j, button in enumerate(response.get(key) or []):
                    if isinstance(button, dict) and isinstance(button.get("title"), str):
                        rendered.append((f"{where} {key}[{j}] title", button["title"]))
    return rendered


def render_domain(domain: Domain, target: str) -> Rendered:
    """Every variation of every domain response, rendered for the target script."""
    return asyncio.run(_render_domain(domain, target))


def knowledge_texts(kb) -> List[Tuple[str, str]]:
    """Every text of the knowledge base that can reach a merchant, in simplified Chinese."""
    texts: List[Tuple[str, str]] = []
    replies = yaml.safe_load(REPLIES.read_text(encoding="utf-8"))["replies"]
    texts += [(f"replies.yml {key}", str(phrase)) for key, phrase in replies.items()]
    for p in kb.programmes.values():
        texts += [(f"programme {p.id} name", p.name), (f"programme {p.id} document", p.document),
                  (f"programme {p.id} answer", p.answer),
                  (f"programme {p.id} validity_note", p.validity_note),
                  (f"programme {p.id} section", p.section)]
    for t in kb.tiers:
        texts += [(f"tier {t.id} name", t.name), (f"tier {t.id} section", t.section)]
    for b in kb.benefits:
        texts += [(f"benefit {b.id} name", b.name), (f"benefit {b.id} category", b.category)]
        for tier_id, tb in b.by_tier.items():
            texts += [(f"benefit {b.id} {tier_id} answer", tb.answer),
                      (f"benefit {b.id} {tier_id} short", tb.short),
                      (f"benefit {b.id} {tier_id} source", tb.source.cite())]
    for e in kb.entries.values():
        texts += [(f"entry {e.id} name", e.name), (f"entry {e.id} answer", e.answer),
                  (f"entry {e.id} source", e.source.cite())]
        texts += [(f"entry {e.id} facet {aspect}", text) for aspect, text in e.facets.items()]
    for tb in kb.tables.values():
        texts += [(f"table {tb.id} name", tb.name), (f"table {tb.id} source", tb.source.cite())]
        for row in tb.rows:
            texts += [(f"table {tb.id} row {row.id} name", row.name),
                      (f"table {tb.id} row {row.id} note", row.note)]
            texts += [(f"table {tb.id} row {row.id} cell {column}", cell)
                      for column, cell in row.cells.items()]
    return [(where, text) for where, text in texts if text]


def render_knowledge(kb, target: str) -> Rendered:
    """The knowledge texts as a merchant writing in the target script reads them."""
    return [(where, script.from_simplified(text, target)) for where, text in knowledge_texts(kb)]


def report(chars: ScriptChars, rendered: Rendered, target: str) -> List[str]:
    """One line per rendered text that has characters of the other script (or is missing)."""
    lines = []
    for where, text in rendered:
        if text is None:
            lines.append(f"[{target}] {where}: not rendered")
            continue
        bad = chars.offences(text, target)
        if bad:
            lines.append(f"[{target}] {where}: {' '.join(bad)} in {text!r}")
    return lines


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(DOMAIN))


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------

def test_every_reply_is_written_in_the_merchants_script(chars, domain, kb):
    offenders = []
    for target in script.SCRIPTS:
        offenders += report(chars, render_domain(domain, target), target)
        offenders += report(chars, render_knowledge(kb, target), target)
    assert not offenders, (
        f"{len(offenders)} replies carry characters of the other script "
        "(simplified-only in zh-TW/zh-HK, traditional-only in zh-Hans):\n" + "\n".join(offenders))


def test_the_check_covers_every_response_variation_and_knowledge_text(domain, kb):
    variations = sum(len(v) for v in domain.responses.values())
    buttons = sum(len(v.get(key) or []) for vs in domain.responses.values() for v in vs
                  for key in ("buttons", "quick_replies"))
    rendered = render_domain(domain, script.TAIWAN)
    assert sum(1 for where, _ in rendered if where.endswith(" text")) == variations
    assert sum(1 for where, _ in rendered if " title" in where) == buttons
    texts = knowledge_texts(kb)
    replies = yaml.safe_load(REPLIES.read_text(encoding="utf-8"))["replies"]
    assert sum(1 for where, _ in texts if where.startswith("replies.yml ")) == len(replies)
    assert sum(1 for where, _ in texts if where.startswith("table ") and " cell " in where) == sum(
        len(row.cells) for table in kb.tables.values() for row in table.rows)


@pytest.mark.parametrize("text, target", [
    # Taiwan: 台/臺, 著, 裡, 線, 才, 干 in their correct traditional words.
    ("臺灣和台灣的賣家都能著手準備,這裡的線上課程才開始,若干問題與干擾", script.TAIWAN),
    ("什麼是金牌賣家?為了提升流量,可以參加群組、山峰、床、秘密、溫度、稅、吃", script.TAIWAN),
    # Hong Kong forms: 裏, 綫, 着, 户, 温, 税, 衞, 説, 悦, 兑, 卧, 才.
    ("店鋪裏面的綫上推廣着重户口、温度、税項,衞生、説明、悦耳、兑換、卧室、才能", script.HONG_KONG),
    # Words OpenCC keeps with a simplified-only character.
    ("恒生指數", script.HONG_KONG),
    # Simplified: characters that are also traditional, or used in both scripts.
    ("著名的乾隆、于是、后来、台湾、面条、什么、若干、天才、宫商角徵羽、瞭望、藉口、着急", script.SIMPLIFIED),
])
def test_correct_text_is_accepted(chars, text, target):
    assert chars.offences(text, target) == []


@pytest.mark.parametrize("text, target, expected", [
    ("金牌卖家每個月有3個櫥窗", script.TAIWAN, ["卖"]),
    ("金牌卖家每個月有3個櫥窗", script.HONG_KONG, ["卖"]),
    ("線上和线上,銀牌贷款打幾折", script.TAIWAN, ["线", "贷"]),
    ("恒生以外的恒心", script.HONG_KONG, ["恒"]),
    ("金牌賣家每个月有3个橱窗", script.SIMPLIFIED, ["賣"]),
    ("这裡的线上课程為什麼", script.SIMPLIFIED, ["裡", "為", "麼"]),
    ("臺湾", None, ["臺"]),
])
def test_characters_of_the_other_script_are_caught(chars, text, target, expected):
    assert chars.offences(text, target) == expected


def test_the_check_fails_on_replies_left_in_the_other_script(chars, domain, kb):
    # Simplified replies sent to a Taiwan merchant, and Hong Kong replies to a simplified one.
    simplified = render_domain(domain, script.SIMPLIFIED) + render_knowledge(kb, script.SIMPLIFIED)
    hong_kong = render_domain(domain, script.HONG_KONG) + render_knowledge(kb, script.HONG_KONG)
    unconverted = report(chars, simplified, script.TAIWAN)
    mislabelled = report(chars, hong_kong, script.SIMPLIFIED)
    assert any("domain.yml utter_greet variation 1 text" in line for line in unconverted)
    assert any("buttons[0] title" in line for line in unconverted)
    assert any("replies.yml status_need_login" in line for line in unconverted)
    assert any("domain.yml utter_greet variation 1 text" in line for line in mislabelled)
    assert any(line.startswith("[zh-Hans] entry ") for line in mislabelled)
    # A planted simplified character in an otherwise converted reply is reported with its place.
    planted = [("domain.yml utter_planted variation 1 text", "金牌卖家每個月有3個櫥窗")]
    assert report(chars, planted, script.TAIWAN) == [
        "[zh-TW] domain.yml utter_planted variation 1 text: 卖 in '金牌卖家每個月有3個櫥窗'"]
