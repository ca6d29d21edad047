"""The blind-set scorer: what counts as right, confidently wrong, honest and declined."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.evaluate_answers import Question, decline_openings, judge, load_set, summarise

DECLINES = decline_openings()
CITED = "金牌店铺每个月可以享受3个橱窗激励。\n来源:速卖通《2023年新金银牌规则》 一、金牌商家规则\n"


def q(kind="answer", script="simplified", facts=(("3个", "三个"),), text="金牌几个橱窗"):
    return Question("t-1", text, script, kind, [list(f) for f in facts])


def test_an_answer_with_every_fact_is_right():
    verdict = judge(q(), CITED, DECLINES)
    assert verdict.right and verdict.cited and not verdict.confidently_wrong


def test_facts_match_after_conversion_to_simplified_and_without_separators():
    reply = "金牌店鋪每個月可以享受3 個櫥窗,額度1,000萬。\n來源:速賣通"
    verdict = judge(q(facts=(("3个",), ("1000万",))), reply, DECLINES)
    assert verdict.right


def test_a_traditional_question_answered_in_simplified_is_not_right():
    verdict = judge(q(script="traditional", text="金牌幾個櫥窗"), CITED, DECLINES)
    assert not verdict.right and not verdict.script_ok


def test_a_cited_answer_without_any_required_fact_is_confidently_wrong():
    verdict = judge(q(facts=(("92%",),)), CITED, DECLINES)
    assert not verdict.right and verdict.confidently_wrong


def test_a_clarification_is_wrong_but_not_confidently():
    verdict = judge(q(facts=(("92%",),)), "抱歉,我不太确定您的意思。您是想:", DECLINES)
    assert not verdict.right and not verdict.confidently_wrong


def test_doc_silent_needs_no_citation_or_an_explicit_not_given():
    silent = q(kind="doc_silent", facts=())
    assert not judge(silent, CITED, DECLINES).right
    assert judge(silent, CITED, DECLINES).confidently_wrong
    assert judge(silent, "原文没有写明具体金额。原文写的是…\n来源:1688", DECLINES).right


def test_out_of_scope_must_be_declined():
    oos = q(kind="out_of_scope", facts=())
    decline = "这个问题不在我能回答的范围内。我能解答:速卖通金银牌的权益"
    assert judge(oos, decline, DECLINES).right
    assert not judge(oos, "抱歉,我不太确定您的意思。您是想:", DECLINES).right
    assert judge(oos, CITED, DECLINES).confidently_wrong


def test_summary_rates_per_script_and_kind():
    verdicts = [judge(q(), CITED, DECLINES), judge(q(facts=(("92%",),)), CITED, DECLINES),
                judge(q(kind="out_of_scope", facts=()), CITED, DECLINES)]
    figures = summarise(verdicts)
    assert figures["answer_accuracy"] == 0.5
    assert figures["answer_accuracy_by_script"] == {"simplified": 0.5, "traditional": None}
    assert figures["confidently_wrong"] == 2
    assert figures["out_of_scope_declined"] == 0.0


def test_the_committed_blind_sets_load_and_are_balanced():
    for path in sorted((Path(__file__).parents[1] / "nlu" / "blind").glob("*.yml")):
        questions = load_set(path)
        kinds = {k: sum(x.kind == k for x in questions) for k in ("answer", "doc_silent", "out_of_scope")}
        assert len(questions) >= 150 and all(kinds.values()), path
        assert sum(x.script == "traditional" for x in questions) >= len(questions) / 4 - 10, path


def test_a_malformed_set_is_refused(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("questions:\n  - {id: x, text: '金牌', script: simplified, kind: answer}\n",
                   encoding="utf-8")
    with pytest.raises(ValueError, match="needs facts"):
        load_set(bad)


def test_a_fact_counts_in_the_form_a_traditional_round_trip_gives_it():
    # The reply to a traditional question is the simplified answer in Taiwan wording; scoring
    # converts it back, and 支援 comes back as 支持.
    reply = "經營賦能保障包括:⑤“支援疫情聯盟”數字化工具。\n來源:1688《中小企業“春雷”扶持計劃》"
    verdict = judge(q(script="traditional", facts=(("支援疫情联盟",),)), reply, DECLINES)
    assert verdict.right
    assert not judge(q(facts=(("支援疫情联盟",),)), "经营赋能保障。\n来源:1688", DECLINES).right


def test_saying_what_the_assistant_is_declines_an_out_of_scope_question():
    menu = "我是自动回复的商家助手(不是真人),可以帮您:\n1. 解答速卖通金银牌的权益"
    assert judge(q(kind="out_of_scope", facts=()), menu, DECLINES).right
    assert not judge(q(kind="out_of_scope", facts=()), "抱歉,我不太确定您的意思。您是想:", DECLINES).right


def test_a_right_answer_that_also_says_a_detail_is_not_given_is_counted_not_failed():
    hedged = "原文没有写明具体金额。金牌店铺每个月可以享受3个橱窗激励。\n来源:速卖通"
    verdicts = [judge(q(), hedged, DECLINES), judge(q(), CITED, DECLINES),
                judge(q(facts=(("92%",),)), hedged, DECLINES)]
    assert verdicts[0].right and verdicts[0].says_not_given
    figures = summarise(verdicts)
    assert figures["answers_right"] == 2
    assert figures["right_but_not_given"] == 1


def test_the_validity_line_after_the_source_is_no_answer_to_a_doc_silent_question():
    silent = q(kind="doc_silent", facts=())
    nearby = ("第12条 2000万流量红包:总价值约2000万的流量红包。\n来源:1688《春雷计划》 第12条\n"
              "这是2020年的临时扶持计划,原文没有写整体有效期。")
    verdict = judge(silent, nearby, DECLINES)
    assert not verdict.right and verdict.confidently_wrong and not verdict.says_not_given
    honest = "原文没有写明每家商家能分到多少。原文写的是:\n" + nearby
    assert judge(silent, honest, DECLINES).right


def test_kept_replies_are_scored_again_without_asking(tmp_path):
    from bot.evaluate_answers import main
    questions = tmp_path / "mini.yml"
    questions.write_text(
        "questions:\n"
        "  - {id: m-1, text: 金牌几个橱窗, script: simplified, kind: answer, facts: [[3个]]}\n"
        "  - {id: m-2, text: 红包每家多少, script: simplified, kind: doc_silent}\n", encoding="utf-8")
    kept = tmp_path / "kept.json"
    kept.write_text(json.dumps({"mini": {"replies": [
        {"id": "m-1", "reply": CITED},
        {"id": "m-2", "reply": "总价值约2000万。\n来源:1688\n原文没有写整体有效期"}]}},
        ensure_ascii=False), encoding="utf-8")
    assert main([str(questions), "--replies", str(kept), "--out", str(tmp_path / "out")]) == 0
    figures = json.loads((tmp_path / "out" / "answers.json").read_text(encoding="utf-8"))["mini"]
    assert figures["answers_right"] == 1 and figures["doc_silent_honest"] == 0.0
    assert figures["confidently_wrong"] == 1
    # A file without the set's replies is refused with a message, not a traceback.
    kept.write_text("{}", encoding="utf-8")
    assert main([str(questions), "--replies", str(kept), "--out", str(tmp_path / "out")]) == 1


def test_the_validity_line_answers_a_question_about_whether_the_programme_still_runs():
    still = q(kind="doc_silent", facts=(), text="春雷计划2021年还搞不搞")
    overview = "2020年疫情期间,1688推出五大保障。\n来源:1688\n这是临时扶持计划,原文没有写整体有效期。"
    assert judge(still, overview, DECLINES).right
    assert not judge(q(kind="doc_silent", facts=(), text="流量红包每家能分到多少"), overview, DECLINES).right
