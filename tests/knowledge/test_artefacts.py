"""Generation of the jieba dictionary and the entity lookup tables from knowledge/."""
from __future__ import annotations

import jieba
import pytest
import yaml

from bot import artefacts
from core import script

MUST_STAY_WHOLE = ["货不对版", "询价单订阅", "诚信通", "备货贷", "72h上网率", "中国好卖家", "网商银行"]


def test_dictionary_lists_domain_terms_in_simplified(kb):
    words = artefacts.jieba_words(kb)
    for term in MUST_STAY_WHOLE:
        assert term in words
    # Traditional aliases are normalised, never emitted as such.
    assert "貨不對版" not in words and "72小时上网率" in words
    assert all(" " not in w for w in words)
    assert words == sorted(set(words))


def test_dictionary_format_is_word_and_frequency(kb):
    for line in artefacts.jieba_dictionary(kb).splitlines():
        word, freq = line.rsplit(" ", 1)
        assert word and int(freq) == artefacts.JIEBA_FREQUENCY


@pytest.fixture
def tokenizer(tmp_path, kb):
    path = tmp_path / "userdict.txt"
    path.write_text(artefacts.jieba_dictionary(kb), encoding="utf-8")
    tk = jieba.Tokenizer()
    tk.load_userdict(str(path))
    return tk


@pytest.mark.parametrize("term", MUST_STAY_WHOLE)
def test_terms_stay_whole_when_segmented(tokenizer, term):
    sentence = f"请问{term}是什么意思"
    assert term in tokenizer.lcut(sentence)


def test_traditional_question_segments_like_simplified(tokenizer):
    from_traditional = tokenizer.lcut(script.normalize("貨不對版的糾紛率要多少")[0])
    assert from_traditional == tokenizer.lcut("货不对版的纠纷率要多少")
    assert "货不对版" in from_traditional and "纠纷率" in from_traditional


def test_entity_data_is_valid_rasa_nlu_with_a_lookup_per_kind(kb):
    data = yaml.safe_load(artefacts.entity_data(kb))
    lookups = {item["lookup"]: item["examples"] for item in data["nlu"]}
    assert set(lookups) == set(kb.names)
    tier_aliases = [line[2:].strip('"') for line in lookups["tier"].splitlines()]
    # Longest first, so a regex alternation prefers 金牌卖家 over 金牌.
    assert tier_aliases.index("金牌卖家") < tier_aliases.index("金牌")
    assert "gold seller" in tier_aliases


def test_entity_patterns_map_every_alias_to_its_entry(kb):
    import json
    patterns = [json.loads(line) for line in artefacts.entity_patterns(kb).splitlines()]
    by_text = {(p["label"], p["pattern"]): p["id"] for p in patterns}
    assert by_text[("measure", "备货贷")] == "measure_1"
    assert by_text[("tier", "gold seller")] == "gold"
    assert by_text[("metric", "72小时上网率")] == "metric_online_72h"
    # Traditional aliases arrive normalised, the way messages do.
    assert by_text[("metric", "货不对版纠纷率")] == "metric_snad"
    assert ("tier", "gold") not in by_text or by_text[("tier", "gold")] == "gold"
    # Every declared name of every kind is there.
    assert len({(p["label"], p["pattern"]) for p in patterns}) == len(patterns)
    for kind, names in kb.names.items():
        for name in names:
            normalised = script.normalize(name)[0]
            assert (kind, normalised) in by_text, (kind, name)


def test_build_writes_only_when_content_changes(tmp_path, knowledge_copy):
    first = artefacts.build(knowledge_copy, tmp_path / "out")
    assert all(first.values())
    stamps = {p: p.stat().st_mtime_ns for p in first}
    second = artefacts.build(knowledge_copy, tmp_path / "out")
    assert not any(second.values())
    assert {p: p.stat().st_mtime_ns for p in second} == stamps
    glossary = knowledge_copy / "glossary.yml"
    glossary.write_text(glossary.read_text(encoding="utf-8").replace(
        "terms:\n", "terms:\n  - term: 新词测试\n", 1), encoding="utf-8")
    third = artefacts.build(knowledge_copy, tmp_path / "out")
    assert third[tmp_path / "out" / "jieba" / "userdict.txt"] is True
    assert "新词测试 " in (tmp_path / "out" / "jieba" / "userdict.txt").read_text(encoding="utf-8")


def test_command_reports_a_broken_knowledge_base_without_traceback(knowledge_copy, tmp_path, capsys):
    (knowledge_copy / "glossary.yml").write_text("terms: [", encoding="utf-8")
    assert artefacts.main(["--knowledge", str(knowledge_copy), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "glossary.yml" in err and "invalid YAML" in err and "Traceback" not in err


def test_a_traditional_alias_that_reads_as_another_entrys_name_is_rejected(knowledge_copy, tmp_path):
    from core.knowledge import KnowledgeError
    path = knowledge_copy / "aliexpress_tiers.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("aliases: [店铺工具,", "aliases: [櫥窗位置, 橱窗激励方案, 店铺工具,")
                    .replace("aliases: [店铺工具,", "aliases: [店铺工具,"), encoding="utf-8")
    artefacts.build(knowledge_copy, tmp_path / "ok")  # distinct names: fine
    path.write_text(text.replace("aliases: [店铺工具,", "aliases: [櫥窗激勵, 店铺工具,"), encoding="utf-8")
    with pytest.raises(KnowledgeError, match="store_tools.*'櫥窗激勵' reads as '橱窗激励'.*showcase"):
        artefacts.build(knowledge_copy, tmp_path / "bad")
