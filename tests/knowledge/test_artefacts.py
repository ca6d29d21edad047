"""Generation of the jieba dictionary and the entity lookup tables from knowledge/."""
from __future__ import annotations

import jieba
import pytest
import yaml

from bot import artefacts
from bot.nlu import script

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


def test_entity_data_is_valid_rasa_nlu_with_lookups_and_synonyms(kb):
    data = yaml.safe_load(artefacts.entity_data(kb))
    lookups = {item["lookup"]: item["examples"] for item in data["nlu"] if "lookup" in item}
    synonyms = {item["synonym"]: item["examples"] for item in data["nlu"] if "synonym" in item}
    assert set(lookups) == {"tier", "benefit"}
    tier_aliases = [line[2:] for line in lookups["tier"].splitlines()]
    # Longest first, so the regex alternation prefers 金牌卖家 over 金牌.
    assert tier_aliases.index("金牌卖家") < tier_aliases.index("金牌")
    assert "gold seller" in tier_aliases
    assert set(synonyms) >= {"gold", "silver", "showcase", "loan"}
    assert "- 橱窗" in synonyms["showcase"]


def test_build_writes_only_when_content_changes(tmp_path, knowledge_copy):
    first = artefacts.build(knowledge_copy, tmp_path / "out")
    assert all(first.values())
    stamps = {p: p.stat().st_mtime_ns for p in first}
    second = artefacts.build(knowledge_copy, tmp_path / "out")
    assert not any(second.values())
    assert {p: p.stat().st_mtime_ns for p in second} == stamps
    glossary = knowledge_copy / "glossary.yml"
    glossary.write_text(glossary.read_text(encoding="utf-8") + "  - term: 新词测试\n", encoding="utf-8")
    third = artefacts.build(knowledge_copy, tmp_path / "out")
    assert third[tmp_path / "out" / "jieba" / "userdict.txt"] is True
    assert "新词测试 " in (tmp_path / "out" / "jieba" / "userdict.txt").read_text(encoding="utf-8")


def test_command_reports_a_broken_knowledge_base_without_traceback(knowledge_copy, tmp_path, capsys):
    (knowledge_copy / "glossary.yml").write_text("terms: [", encoding="utf-8")
    assert artefacts.main(["--knowledge", str(knowledge_copy), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "glossary.yml" in err and "invalid YAML" in err and "Traceback" not in err
