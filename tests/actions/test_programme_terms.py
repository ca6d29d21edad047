"""The programme-terms action: picks the entry from the entities, answers from knowledge/."""
from __future__ import annotations

import datetime as dt
import os

import pytest
from rasa_sdk.events import SlotSet

from actions.programme_terms import ActionAnswerProgramme
from core.knowledge import KnowledgeStore
from tests.actions.helpers import entity, run, tracker_for
from tests.conftest import knowledge_store

TODAY = dt.date(2026, 11, 22)


@pytest.fixture
def action():
    return ActionAnswerProgramme(knowledge_store(), today=lambda: TODAY)


WITHDRAWN = [SlotSet("pending_offer", None)]


async def ask(action, *entities):
    messages, events = await run(action, tracker_for("…", list(entities)))
    # A tier condition is followed by the offer to check the merchant's own store.
    offers = [m for m in messages if m.get("response") == "utter_offer_check_status"]
    assert len(messages) - len(offers) == 1 and messages[0] not in offers
    assert bool(offers) == (SlotSet("pending_offer", "check_status") in events)
    return messages[0], events


async def test_gold_showcase(action, kb):
    message, events = await ask(action, entity("tier", "gold"), entity("benefit", "showcase"))
    assert message["response"] == "utter_answer"
    assert message["answer"] == kb.benefit("showcase").by_tier["gold"].answer
    assert message["source"].startswith(kb.programme.document)
    assert "一、金牌商家规则 1、金牌权益 1)流量扶持" in message["source"]
    assert "2024年3月31日" in message["status"] and "已不在有效期内" in message["status"]
    assert events == [SlotSet("topic", "showcase"),
                      SlotSet("programme_context", {"ids": {"tier": ["gold"], "benefit": ["showcase"]},
                                                    "measure_numbers": []}),
                      SlotSet("pending_offer", None)]


async def test_silver_loan(action):
    message, _ = await ask(action, entity("tier", "silver"), entity("benefit", "loan"),
                           entity("benefit", "loan"))
    assert "95折" in message["answer"] and "金牌" not in message["answer"]


async def test_no_tier_means_both_tiers(action):
    message, _ = await ask(action, entity("benefit", "showcase"))
    assert "3个" in message["answer"] and "2个" in message["answer"]


async def test_tier_alone_lists_its_benefits(action, kb):
    message, _ = await ask(action, entity("tier", "gold"))
    for benefit in kb.benefits:
        assert benefit.by_tier["gold"].answer in message["answer"]


async def test_gold_vs_silver_is_a_compact_comparison(action, kb):
    message, _ = await ask(action, entity("tier", "all"), entity("aspect", "compare"))
    header, *lines = message["answer"].splitlines()
    # Same entry conditions, different benefits: the header says so and counts the categories.
    assert header.startswith("金牌和银牌的准入条件相同") and "共6类" in header
    assert len(lines) == len(kb.benefits)
    assert "· 橱窗激励:金牌 3个/月;银牌 2个/月" in lines
    assert any("金牌 贷款利率9折;银牌 贷款利率95折" in line for line in lines)


async def test_measure_by_number_and_by_name(action, kb):
    by_number, events = await ask(action, {"entity": "measure_number", "value": "15"})
    assert by_number["answer"] == kb.entries["measure_15"].answer
    assert "规则调整保障 第15条" in by_number["source"]
    assert "2020年1月19日至2020年2月16日" in by_number["status"] and "已过期" in by_number["status"]
    assert events == [SlotSet("topic", "measure_15"),
                      SlotSet("programme_context", {"ids": {}, "measure_numbers": [15]}),
                      *WITHDRAWN]
    by_name, _ = await ask(action, entity("measure", "measure_1"), entity("aspect", "amount"))
    assert (by_name["answer"].split("\n")[0]
            == "第1条 湖北商家极速到账与备货贷:" + kb.entries["measure_1"].facets["amount"])


async def test_measure_that_does_not_exist(action):
    message, events = await ask(action, {"entity": "measure_number", "value": "20"})
    assert message["response"] == "utter_plain"
    assert "第1条到第17条" in message["text_body"] and "第20条" in message["text_body"]
    assert events == WITHDRAWN


async def test_deadline_question_says_closed_relative_to_today(action):
    message, _ = await ask(action, entity("measure", "measure_2"), entity("aspect", "deadline"))
    assert "2020年3月31日24点" in message["answer"]
    assert message["status"] == "申请已于2020年3月31日截止,今天(2026年11月22日)已不能再申请。"


async def test_deadline_still_open_before_it_passes(kb):
    action = ActionAnswerProgramme(knowledge_store(), today=lambda: dt.date(2020, 3, 1))
    message, _ = await ask(action, entity("measure", "measure_2"), entity("aspect", "deadline"))
    assert "仍可申请" in message["status"]


async def test_version_comparison_table(action, kb):
    message, events = await ask(action, entity("resource", "resource_inquiry"),
                                entity("version", "version_v2"), entity("version", "version_v3"),
                                entity("aspect", "compare"))
    lines = message["answer"].splitlines()
    assert lines[1] == "功能 | 询价单订阅V2.0 | 询价单订阅V3.0"
    assert "类目订阅 | 5个 | 10个" in lines
    assert "消息通道 | 邮件、旺旺、千牛 | 商机库、千牛PC端、千牛无线端、旺旺、1688APP(部分)" in lines
    assert all("V1.0" not in line for line in lines[1:])
    assert events[0] == SlotSet("topic", "inquiry_versions") and events[-1:] == WITHDRAWN


async def test_single_cell(action):
    message, _ = await ask(action, entity("version", "version_v3"), entity("feature", "feature_keyword"))
    assert message["answer"].startswith("询价单订阅V3.0的关键词订阅:10个。")


async def test_feature_across_versions(action):
    message, _ = await ask(action, entity("feature", "feature_category"))
    assert message["answer"].startswith(
        "类目订阅:询价单订阅V1.0 不支持;询价单订阅V2.0 5个;询价单订阅V3.0 10个。")


async def test_metric_threshold(action):
    message, events = await ask(action, entity("tier", "gold"), entity("metric", "metric_online_72h"))
    assert events[-1] == SlotSet("pending_offer", "check_status")
    assert "≥85%" in message["answer"]
    assert "金牌与银牌基础准入条件 2.2 2)" in message["source"]


async def test_open_threshold_is_said_to_be_the_platforms_setting(action):
    message, _ = await ask(action, entity("metric", "metric_payment_rank"))
    assert "排名靠前" in message["answer"] and "平台设定" in message["answer"]


async def test_assessment_names_the_next_assessment_month(action):
    message, _ = await ask(action, entity("topic", "topic_assessment"))
    assert "1月、4月、7月、10月" in message["answer"]
    assert "下一次考核在2027年1月" in message["answer"]


async def test_apply_for_gold_explains_no_application_needed(action):
    message, _ = await ask(action, entity("tier", "gold"), entity("aspect", "apply"))
    assert "无需自主申请" in message["answer"]


async def test_resource_facet_and_undated_programme(action, kb):
    message, _ = await ask(action, entity("resource", "resource_live"), entity("aspect", "apply"))
    assert (message["answer"].split("\n")[0]
            == "商+直播(商家直播绿通):" + kb.entries["resource_live"].facets["apply"])
    assert "10000家" in message["answer"]
    assert "2020年4月15日" in message["status"] and "已过期" in message["status"]
    pack, _ = await ask(action, entity("resource", "resource_service_pack"))
    assert "7星" in pack["answer"] and "5星" in pack["answer"]
    assert pack["status"] == kb.programmes["new_merchant_1688"].validity_note + "。"


async def test_new_merchant_plan_admits_the_missing_fifth_resource(action):
    message, _ = await ask(action, entity("programme", "new_merchant_1688"))
    assert "5大资源" in message["answer"] and "4项" in message["answer"]


async def test_undated_measure_says_the_plan_has_no_overall_window(action, kb):
    message, _ = await ask(action, entity("measure", "measure_1"))
    assert message["status"] == kb.programmes["chunlei_1688"].validity_note + "。"


async def test_homepage_section(action):
    message, _ = await ask(action, entity("section", "home_huopin"))
    assert "聚划算" in message["answer"] and "1688首页平台的版块" in message["source"]


async def test_nothing_recognised_asks_which_programme(action):
    messages, events = await run(action, tracker_for("怎么申请?", [{"entity": "aspect", "value": "apply",
                                                                "start": 0, "end": 4}]))
    assert [m["response"] for m in messages] == ["utter_ask_which_programme"]
    assert events == WITHDRAWN


async def test_unknown_entity_values_are_ignored(action):
    messages, _ = await run(action, tracker_for("x", [entity("measure", "measure_99"),
                                                      entity("tier", "bronze"),
                                                      {"entity": "measure_number", "value": "x"}]))
    assert [m["response"] for m in messages] == ["utter_ask_which_programme"]


async def test_answers_follow_an_edited_knowledge_base(knowledge_copy):
    path = knowledge_copy / "chunlei_1688.yml"
    action = ActionAnswerProgramme(KnowledgeStore(knowledge_copy), today=lambda: TODAY)
    tracker = tracker_for("备货贷最高多少", [entity("measure", "measure_1"), entity("aspect", "amount")])
    assert "100万" in (await run(action, tracker))[0][0]["answer"]
    path.write_text(path.read_text(encoding="utf-8").replace("备货贷最高额度100万(元)",
                                                             "备货贷最高额度200万(元)"),
                    encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert "200万" in (await run(action, tracker))[0][0]["answer"]


def test_action_server_modules_do_not_import_rasa():
    import subprocess
    import sys
    code = ("import sys, actions.programme_terms, core.knowledge; "
            "bad = [m for m in sys.modules if m == 'rasa' or m.startswith('rasa.')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_question_about_another_platform_is_declined(action):
    messages, events = await run(action, tracker_for("天猫的扣分规则", [
        entity("platform", "other"), entity("violation", "violation_trade_points")]))
    assert [m["response"] for m in messages] == ["utter_other_platform"] and events == WITHDRAWN


async def test_our_own_entry_is_answered_even_if_another_platform_is_named(action):
    # 淘货源 is itself about 淘宝 and 天猫 shop owners.
    messages, _ = await run(action, tracker_for("淘宝店主怎么成为淘货源的分销商", [
        entity("platform", "other"), entity("section", "home_taohuoyuan")]))
    assert messages[0]["response"] == "utter_answer" and "一件代发" in messages[0]["answer"]


async def test_an_entry_that_only_shares_a_word_with_another_platform_question_is_declined(action):
    messages, _ = await run(action, tracker_for("义乌购上怎么找靠谱的档口", [
        entity("platform", "other"), entity("section", "home_dangkou")]))
    assert [m["response"] for m in messages] == ["utter_other_platform"]


async def test_one_version_compared_is_compared_with_the_others(action, kb):
    # "询价单订阅3.0同2.0有咩分别": the product's name carries 3.0, only 2.0 is a version entity.
    message, _ = await ask(action, entity("resource", "resource_inquiry"), entity("version", "version_v2"),
                           entity("aspect", "compare"))
    answer = message["answer"]
    for version in ("version_v1", "version_v2", "version_v3"):
        assert kb.entries[version].name in answer
    assert "门户订阅" in answer and "自定义" in answer


async def test_both_tiers_and_the_programme_named_get_the_programme(action, kb):
    # "速卖通升级金银牌,说的优质商家是啥样的": the programme as a whole, not the tiers' table.
    message, _ = await ask(action, entity("tier", "all"), entity("programme", kb.tier_programme))
    assert message["answer"] == kb.programmes[kb.tier_programme].answer
    compared, _ = await ask(action, entity("tier", "all"), entity("programme", kb.tier_programme),
                            entity("aspect", "compare"))
    assert "3个/月" in compared["answer"] and "2个/月" in compared["answer"]


@pytest.mark.parametrize("text, expected", [
    # The 淘工厂 section's own figure about 淘宝/天猫 merchants.
    ("淘宝和天猫上一共有多少商家,其中贸易商大概占几成", "70%"),
])
async def test_the_documents_own_words_about_another_platform_are_answered(action, text, expected):
    messages, _ = await run(action, tracker_for(text, [entity("platform", "other")]))
    assert messages[0]["response"] == "utter_answer" and expected in messages[0]["answer"]


@pytest.mark.parametrize("text", ["淘宝开店保证金要交多少", "天猫入驻需要什么资质", "拼多多的商家有多少"])
async def test_another_platform_matched_by_nothing_in_particular_is_declined(action, text):
    messages, _ = await run(action, tracker_for(text, [entity("platform", "other")]))
    assert [m["response"] for m in messages] == ["utter_other_platform"]


async def test_a_message_the_nlu_marked_not_ours_is_declined_whatever_it_matches(action):
    # "帮我翻译:我们支持一件代发" names 淘货源's words; the NLU marked it a request.
    tracker = tracker_for("帮我翻译成英文:我们支持一件代发", [], intent="out_of_scope")
    tracker.latest_message["not_ours"] = True
    messages, _ = await run(action, tracker)
    assert [m["response"] for m in messages] == ["utter_out_of_scope"]
    tracker.latest_message["not_ours"] = False
    messages, _ = await run(action, tracker)
    assert messages[0]["response"] == "utter_answer"  # without the mark, the ranking is sure


async def test_a_tier_named_with_its_benefit_is_ours_even_when_the_classifier_says_not(action):
    messages, _ = await run(action, tracker_for("银牌喺买家嗰边睇唔睇到有标识㗎?", [
        entity("tier", "silver"), entity("benefit", "badge")], intent="out_of_scope"))
    assert messages[0]["response"] == "utter_answer" and "消费者" in messages[0]["answer"]


async def test_a_time_asked_of_an_entry_with_only_a_deadline_gets_the_deadline(action):
    # "保理融资几时到期": measure 2 gives when its application closes, not a time of its own.
    message, _ = await ask(action, entity("measure", "measure_2"), entity("aspect", "time"))
    assert "3月31日" in message["answer"]
    assert not message["answer"].startswith("原文没有")


async def test_two_knowledge_names_make_a_not_ours_guess_ours(action):
    messages, _ = await run(action, tracker_for("被准出了是不是就没有橱窗了", [
        entity("topic", "topic_exit"), entity("benefit", "showcase")], intent="out_of_scope"))
    assert messages[0]["response"] == "utter_answer"
    messages, _ = await run(action, tracker_for("金牌要交保证金吗", [entity("tier", "gold")],
                                                intent="out_of_scope"))
    assert [m["response"] for m in messages] == ["utter_out_of_scope"]
