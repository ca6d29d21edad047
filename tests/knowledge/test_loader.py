"""Loading, validating and reloading the knowledge base."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from core.knowledge import KnowledgeError, KnowledgeStore, load_knowledge


def test_real_knowledge_base_loads(kb):
    assert kb.programme.valid_from == dt.date(2023, 7, 1)
    assert kb.programme.valid_until == dt.date(2024, 3, 31)
    assert [t.id for t in kb.tiers] == ["gold", "silver"]
    assert {b.id for b in kb.benefits} >= {"showcase", "loan", "search_boost", "marketing",
                                           "badge", "service", "store_tools"}
    # Every benefit is stated for both tiers, with a section to cite.
    for benefit in kb.benefits:
        assert set(benefit.by_tier) == {"gold", "silver"}
        for granted in benefit.by_tier.values():
            assert granted.source.document and granted.source.section


def test_facts_match_the_source_document(kb):
    showcase = kb.benefit("showcase").by_tier
    assert "3个" in showcase["gold"].answer and "2个" in showcase["silver"].answer
    loan = kb.benefit("loan").by_tier
    assert "9折" in loan["gold"].answer and "95折" in loan["silver"].answer


def test_aliases_resolve_to_entries(kb):
    assert kb.resolve("tier", "金牌卖家") == "gold"
    assert kb.resolve("tier", "Gold Seller") == "gold"
    assert kb.resolve("tier", "silver") == "silver"
    assert kb.resolve("benefit", "橱窗") == "showcase"
    assert kb.resolve("benefit", "网商银行") == "loan"
    assert kb.resolve("benefit", "不存在的权益") is None
    assert kb.resolve("tier", None) is None
    assert kb.resolve("tier", 3) is None


def test_programme_validity_window(kb):
    assert kb.programme.is_open_on(dt.date(2023, 12, 1))
    assert not kb.programme.is_open_on(dt.date(2024, 4, 1))
    assert not kb.programme.is_open_on(dt.date(2023, 6, 30))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    "old, new, entry, problem",
    [
        ("valid_until: 2024-03-31", "valid_until: 2024-31-03", "programme", "date"),
        ("valid_until: 2024-03-31", "valid_until: 2022-01-01", "programme", "before"),
        ("      silver:\n        answer: 银牌店铺每个月可以享受2个",
         "      bronze:\n        answer: 银牌店铺每个月可以享受2个",
         "benefit 'showcase'", "unknown tier 'bronze'"),
        ("  - id: loan\n", "  - id: showcase\n", "benefit 'showcase'", "duplicate id"),
        ("        answer: 金牌商家可享受行业客户经理对接服务,以及专属金牌人工服务。", "        answer: ''",
         "benefit 'service' tier 'gold'", "'answer' must be a non-empty text"),
        ("aliases: [店铺工具,", "aliases: [橱窗,", "benefit 'store_tools'",
         "alias '橱窗' is also used by benefit 'showcase'"),
        ("tiers:\n  - id: gold", "tiers:\n  - id: gold\n    oops: [", "line", "invalid YAML"),
        ("  facets:\n    what:", "  facets:\n    colour:", "programme", "unknown facet 'colour'"),
        ("  - about: [badge]", "  - about: [bagde]", "silent_on[", "unknown id 'bagde'"),
        ("    words: [长什么样,", "    words: []\n    unused: [长什么样,", "silent_on[",
         "'about' and 'words' must each name at least one"),
    ],
)
def test_bad_file_is_rejected_with_file_entry_and_problem(knowledge_copy, old, new, entry, problem):
    path = knowledge_copy / "aliexpress_tiers.yml"
    _edit(path, old, new)
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(knowledge_copy)
    message = str(err.value)
    assert str(path) in message
    assert entry in message
    assert problem in message


def test_missing_file_is_named(knowledge_copy):
    (knowledge_copy / "glossary.yml").unlink()
    with pytest.raises(KnowledgeError, match="glossary.yml: .*file not found"):
        load_knowledge(knowledge_copy)


def test_store_reloads_edited_knowledge_without_restart(knowledge_copy):
    store = KnowledgeStore(knowledge_copy)
    assert "3个" in store.get().benefit("showcase").by_tier["gold"].answer
    path = knowledge_copy / "aliexpress_tiers.yml"
    _edit(path, "每个月可以享受3个橱窗激励", "每个月可以享受4个橱窗激励")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    assert "4个" in store.get().benefit("showcase").by_tier["gold"].answer


def test_store_keeps_last_good_base_when_an_edit_is_broken(knowledge_copy):
    store = KnowledgeStore(knowledge_copy)
    good = store.get()
    path = knowledge_copy / "aliexpress_tiers.yml"
    _edit(path, "valid_until: 2024-03-31", "valid_until: someday")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    assert store.get() is good
    assert store.last_error is not None and "valid_until" in str(store.last_error)


def test_store_raises_when_there_is_no_good_base_yet(knowledge_copy):
    _edit(knowledge_copy / "aliexpress_tiers.yml", "valid_until: 2024-03-31", "valid_until: x")
    with pytest.raises(KnowledgeError):
        KnowledgeStore(knowledge_copy).get()


@pytest.mark.parametrize(
    "old, new, problem",
    [
        ("aspect_patterns:\n  apply: [", "aspect_patterns:\n  applying: [", "unknown aspect 'applying'"),
        ("aspect_patterns:\n  apply: [", "aspect_patterns:\n  apply: ['(?:怎么', ",
         "is no regular expression"),
        ("aspect_patterns:\n  apply: [", "aspect_patterns:\n  apply: ['(?:怎么)?', ",
         "matches an empty message"),
    ],
)
def test_a_bad_aspect_pattern_is_rejected_with_its_aspect(knowledge_copy, old, new, problem):
    path = knowledge_copy / "glossary.yml"
    _edit(path, old, new)
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(knowledge_copy)
    assert str(path) in str(err.value) and "aspect_patterns" in str(err.value)
    assert problem in str(err.value)


def test_word_lists_also_match_the_cantonese_for_how_many(kb):
    """A word list's "多少" also matches "几多" ("一共有幾多場" asks what "多少场" does)."""
    from core.knowledge.loader import _both_scripts
    assert _both_scripts(("多少场", "幾多", "网址")) == ("多少场", "幾多", "网址", "几多", "几多场")
    assert any("几多场" in s.words for s in kb.silences)
