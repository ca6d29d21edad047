"""One decision per question: entities and the retrieval ranking together (actions/choose.py).

Each kind of failure seen with questions written outside the team has a test here, in
wordings of its own: rule questions in the first person, a term both documents use, a
programme asked about as a whole, sellers' own words for a metric, what the documents do
not say.
"""
from __future__ import annotations

import datetime as dt

import pytest
from rasa_sdk.events import SlotSet

from actions.choose import _beyond_window, aspects_in, decide, platforms_hinted, set_aside, without_background
from actions.focus import names_unlisted, undefined_term, unheard_thing, unheard_use
from actions.programme_terms import ActionAnswerProgramme
from actions.questions import Question, parse_question
from core.knowledge.retrieval import HomophoneNames, Retriever, TypoNames, retriever_for
from tests.actions.helpers import entity, run, tracker_for
from tests.conftest import knowledge_store

TODAY = dt.date(2026, 11, 22)


@pytest.fixture
def action():
    return ActionAnswerProgramme(knowledge_store(), today=lambda: TODAY)


async def reply(action, text, *entities):
    messages, _ = await run(action, tracker_for(text, list(entities)))
    return messages[0]


def test_retrieval_finds_entries_no_alias_names(kb):
    retriever = Retriever(kb)
    assert retriever.rank("三天上网率最低要多少")[0].id == "metric_online_72h"
    assert retriever.rank("开店送的装修照片服务包含什么")[0].id == "resource_service_pack"
    assert retriever.rank("有没有帮忙办招聘会的")[0].id == "measure_6"
    assert retriever.rank("") == [] and retriever.rank("??!!") == []


def test_a_name_typed_with_one_character_wrong_still_ranks_its_entry(kb):
    retriever = Retriever(kb)
    assert retriever.typos.corrected("春蕾计划有几大保障") == ["春雷计划"]
    assert retriever.rank("保理容资的利率降了多少")[0].id == retriever.rank("保理融资的利率降了多少")[0].id
    # A first or last character is corrected only at the edge of a run of Han characters.
    assert retriever.typos.corrected("急速到账要收钱吗") == ["极速到账"]
    assert retriever.typos.corrected("跟金银牌有关系吗") == []  # 金银牌 beside 跟
    # Inside a run, a window running past a word is not a typo: "一次考核" in "第一次考核" is not
    # 首次考核, and a last character that differs makes another word ("金牌商品" is not 金牌商家).
    assert retriever.typos.corrected("第一次考核看哪段数据") == []
    assert retriever.typos.corrected("金牌商品能进哪些活动") == []
    # Names spelt right are not corrected; two names one character apart say nothing.
    assert retriever.typos.corrected("春雷计划有几大保障") == []
    assert TypoNames(["交易勋章"]).corrected("交易询章怎么拿") == ["交易勋章"]
    assert TypoNames(["交易勋章", "交易徽章"]).corrected("交易询章怎么拿") == []
    assert TypoNames(["勋章"]).corrected("询章") == []


def test_a_name_typed_with_characters_of_the_same_sound_still_ranks_its_entry(kb):
    # A pinyin keyboard's slip: the right sound, the wrong characters.
    retriever = Retriever(kb)
    assert "备货贷" in retriever.homophones.corrected("湖北商家的倍获贷能批多少")
    assert "诚信通" in retriever.homophones.corrected("我是程信通会员")
    assert retriever.rank("保里融资利率现在多少")[0].id == retriever.rank("保理融资利率现在多少")[0].id
    # Spelt right, nothing to correct; a sound made by a word outside the name is no name
    # ("全部满足" holds 全部, not 不满足); two-character names sound like too many words.
    assert retriever.homophones.corrected("备货贷最高多少") == []
    names = HomophoneNames(["不满足", "权益", "钉钉"])
    assert names.corrected("条件要全部满足吗") == []
    assert names.corrected("要用丁丁吗") == []
    assert names.corrected("金牌的quanyi有哪些") == ["权益"]
    # Traditional spellings of a name are the same name, not a second one sharing its sound.
    assert HomophoneNames(["极速到账", "極速到賬"]).corrected("急速到帐") == ["极速到账"]


def test_the_index_follows_the_loaded_knowledge_base(kb):
    first = retriever_for(kb)
    assert retriever_for(kb) is first
    assert retriever_for(knowledge_store().get()) is not first


def test_platform_hints_come_from_words_and_named_kinds(kb):
    assert platforms_hinted(kb, "速卖通的客服权益", Question()) == ["aliexpress"]
    assert platforms_hinted(kb, "诚信通客服几点下班", Question()) == ["1688"]
    assert platforms_hinted(kb, "客服几点下班", Question()) == []
    assert platforms_hinted(kb, "x", Question(ids={"tier": ["gold"]})) == ["aliexpress"]


def test_aspects_are_read_from_the_text_too(kb):
    assert "cost" in aspects_in(kb, "入驻要交钱吗")
    assert "calculation" in aspects_in(kb, "纠纷率咋算")
    # Which figure a rate is counted from is a calculation too, and no entry gives one.
    assert "calculation" in aspects_in(kb, "上网率是从揽收开始算的吗")
    assert "calculation" in aspects_in(kb, "纠纷率算还是按件数算")
    assert "calculation" not in aspects_in(kb, "这种情况算不算违规")


async def test_an_upgrade_between_versions_is_not_a_way_to_apply(action):
    # The table says how V2 and V3 differ; "系统自动推送" in it is no way of applying.
    message = await reply(action, "询价单订阅2.0怎么升级成3.0,要申请吗", entity("version", "version_v2"),
                          entity("version", "version_v3"), entity("aspect", "apply"))
    assert message["answer"].startswith("原文没有写明") and "10个" in message["answer"]


async def test_one_industrys_own_conditions_are_said_to_be_missing(action):
    message = await reply(action, "我们家具类目的行业条件具体要求是什么", entity("metric", "metric_industry"))
    assert message["answer"].startswith("原文没有写明") and "货源供应能力" in message["answer"]


async def test_a_name_another_programme_also_uses_is_read_within_the_programme_named(action):
    # 商家服务保障 is a 春雷 guarantee and the new-merchant plan's name for its service pack.
    text = "新商家扶持计划里的商家服务保障具体送什么"
    message = await reply(action, text, entity("programme", "new_merchant_1688"),
                          entity("guarantee", "guarantee_service"))
    assert "基础服务包" in message["answer"] and "7天*8小时" not in message["answer"]
    # Without the programme named, the guarantee itself.
    alone = await reply(action, "商家服务保障具体是什么", entity("guarantee", "guarantee_service"))
    assert "7天*8小时" in alone["answer"]


async def test_the_measures_for_one_region_are_listed_for_the_plan(action):
    message = await reply(action, "春雷计划里专门照顾湖北的是哪几条", entity("programme", "chunlei_1688"),
                          entity("aspect", "region"), entity("aspect", "amount"))
    assert all(f in message["answer"] for f in ("极速到账", "备货贷", "单独打标", "10bps"))


def test_papers_to_hand_in_are_an_aspect_and_a_period_is_no_time_asked(kb):
    assert "documents" in aspects_in(kb, "申请保理要交哪些材料")
    assert "time" not in aspects_in(kb, "疫情期间推出的五大保障是哪五个")


async def test_papers_to_hand_in_are_said_to_be_missing(action):
    message = await reply(action, "1688发货超时要提交什么证明材料", entity("measure", "measure_15"),
                          entity("aspect", "documents"))
    assert message["answer"].startswith("原文没有写明") and "综合做出考量" in message["answer"]


async def test_how_a_figure_is_counted_is_said_to_be_missing(action):
    message = await reply(action, "好评率按买家人数算还是按评价数算",
                          entity("metric", "metric_positive_feedback"), entity("aspect", "calculation"))
    assert message["answer"].startswith("原文没有写明") and "92%" in message["answer"]


def test_aspect_words_match_in_either_script(kb):
    # Messages reach the actions in simplified characters; the glossary writes some words in
    # traditional ones ("幾時", "網址"), which must match all the same.
    assert "time" in aspects_in(kb, "这个活动几时开始")
    assert "contact" in aspects_in(kb, "官方网址是哪个")
    assert "what" in aspects_in(kb, "平台为什么要推这个")


async def test_whether_a_store_may_have_a_tier_gets_the_entry_conditions(action):
    message = await reply(action, "我这种新店够资格做银牌吗", entity("tier", "silver"))
    assert "90天" in message["answer"] and "92%" in message["answer"]


async def test_a_tier_question_about_how_often_gets_the_assessment(action):
    # "几次" (an amount) and "几月" (a time) together: the time decides.
    message = await reply(action, "银牌每年评几次,分别在几月", entity("tier", "silver"))
    assert "1月、4月、7月、10月" in message["answer"]


async def test_who_may_have_a_resource_is_answered_from_its_own_facet(action):
    message = await reply(action, "那个基础服务包哪些人能领", entity("resource", "resource_service_pack"))
    assert "新签约" in message["answer"] and "首年" in message["answer"]


async def test_why_a_measure_exists_is_answered_with_the_reason_the_source_gives(action):
    message = await reply(action, "勋章那个临时规则当时为什么要出", entity("measure", "measure_14"))
    assert "复苏" in message["answer"] and "2月11日" in message["answer"]


async def test_gold_compared_with_silver_is_the_comparison_whatever_else_ranks(action):
    # "在哪" also ranks the portal entry ("在哪里查"); the tiers compared are the question.
    message = await reply(action, "金牌同银牌的权益到底差在哪", entity("tier", "gold"),
                          entity("tier", "silver"), entity("aspect", "compare"))
    assert "金牌 3个/月" in message["answer"] and "银牌 2个/月" in message["answer"]


async def test_a_programme_figure_asked_is_the_programme_figure_not_a_measure_one(action):
    # Measure 12's red packets also have a "总价值"; the plan's is asked for.
    message = await reply(action, "春雷那五大保障加起来总价值有多少", entity("programme", "chunlei_1688"),
                          entity("aspect", "amount"))
    assert "2亿" in message["answer"] and "2000万" not in message["answer"]


async def test_an_address_the_document_gives_is_answered(action):
    message = await reply(action, "直播绿通在哪个网站", entity("resource", "resource_live"),
                          entity("aspect", "contact"))
    assert "live.1688.com" in message["answer"] and "没有写明" not in message["answer"]


async def test_a_term_of_both_documents_without_a_platform_gets_both(action):
    message = await reply(action, "客服几点有人", entity("measure", "measure_17"))
    assert "【1688】" in message["answer"] and "【速卖通金银牌】" in message["answer"]
    assert "7天*8小时" in message["answer"] and "专属金牌人工服务" in message["answer"]


async def test_both_platforms_asked_at_once_get_both(action, kb):
    named = await reply(action, "1688跟速卖通的人工客服各自是怎样的", entity("measure", "measure_17"))
    assert named["answer"].startswith(kb.replies["both_asked"])
    assert "7天*8小时" in named["answer"] and "专属金牌人工服务" in named["answer"]
    unnamed = await reply(action, "两份文件里网商银行的优惠分别是什么")
    assert "【1688】" in unnamed["answer"] and "【速卖通金银牌】" in unnamed["answer"]


async def test_a_platform_word_keeps_the_answer_to_that_platform(action):
    ali = await reply(action, "速卖通那边有没有专属客服", entity("measure", "measure_17"))
    assert "专属金牌人工服务" in ali["answer"] and "7天*8小时" not in ali["answer"]
    b2b = await reply(action, "1688客服电话几点有人接", entity("measure", "measure_17"))
    assert "7天*8小时" in b2b["answer"] and "【" not in b2b["answer"]


async def test_traffic_support_without_a_platform_is_answered_for_both(action):
    message = await reply(action, "有冇流量扶持", entity("benefit", "search_boost"))
    assert "【1688】" in message["answer"] and "【速卖通金银牌】" in message["answer"]


async def test_a_tier_question_about_the_assessment_gets_the_assessment(action):
    message = await reply(action, "金银牌多久评一次,几月份出结果", entity("tier", "all"))
    assert "1月、4月、7月、10月" in message["answer"]
    window = await reply(action, "评级是拿哪段时间的经营数据算的")
    assert "90天" in window["answer"]


async def test_the_plan_as_a_whole(action):
    value = await reply(action, "春雷扶持一共值多少钱", entity("programme", "chunlei_1688"))
    assert "2亿" in value["answer"]
    exit_ = await reply(action, "季度考核没过会怎么处理", entity("topic", "topic_assessment"))
    assert "准出" in exit_["answer"] or "1月" in exit_["answer"]


async def test_sellers_words_without_any_entity(action):
    message = await reply(action, "三天上网率最低要多少")
    assert "85%" in message["answer"]


async def test_what_the_document_does_not_give_is_said_before_the_nearest_facts(action):
    fee = await reply(action, "厂货通入驻要交钱吗", entity("section", "home_changhuotong"))
    assert fee["answer"].startswith("原文没有写明厂货通的费用")
    assert "规模以上企业" in fee["answer"]
    loan = await reply(action, "金牌在网商银行最多贷多少", entity("tier", "gold"), entity("benefit", "loan"),
                       entity("aspect", "amount"))
    assert loan["answer"].startswith("原文没有写明金融扶持的具体数额")
    assert "9折" in loan["answer"]
    # A figure the entry does give is not called missing.
    showcase = await reply(action, "金牌橱窗几个", entity("tier", "gold"), entity("benefit", "showcase"),
                           entity("aspect", "amount"))
    assert "原文没有" not in showcase["answer"] and "3个" in showcase["answer"]


async def test_nothing_found_is_declined_not_guessed(action):
    messages, _ = await run(action, tracker_for("顺丰到台北运费几钱", []))
    assert [m["response"] for m in messages] == ["utter_out_of_scope"]
    # Only an aspect word named, in a longer message nothing matches: declined too.
    text = "八达通最多可以充几多钱"
    start = text.index("几多钱")
    messages, _ = await run(action, tracker_for(text, [{"entity": "aspect", "value": "amount",
                                                        "start": start, "end": start + 3}]))
    assert [m["response"] for m in messages] == ["utter_out_of_scope"]


async def test_a_named_whole_tier_list_counts_its_categories(action):
    message = await reply(action, "金牌到底有几样好处", entity("tier", "gold"))
    assert message["answer"].startswith("金牌的权益共6类:流量扶持")


async def test_two_facets_asked_are_both_answered(action):
    message = await reply(action, "湖北电票贴现现在还能减多少", entity("measure", "measure_3"),
                          entity("aspect", "deadline"), entity("aspect", "rate"))
    assert "3月31日" in message["answer"] and "10bps" in message["answer"]


def test_decide_names_how_it_chose(kb):
    retriever = Retriever(kb)
    composer = ActionAnswerProgramme(knowledge_store(), today=lambda: TODAY)
    compose = lambda q: composer.answer(kb, q, TODAY)  # noqa: E731
    named = decide(kb, retriever, parse_question(kb, [entity("measure", "measure_8")]), "续费补贴", compose)
    assert named.how == "entities" and named.topic == "measure_8"
    ranked = decide(kb, retriever, Question(), "三天上网率最低要多少", compose)
    assert ranked.how == "retrieval" and ranked.topic == "metric_online_72h"
    assert decide(kb, retriever, Question(), "今天天气怎么样", compose).how == "none"


async def test_out_of_scope_is_answered_only_when_the_ranking_is_sure(action):
    sure = tracker_for("春节期间加了48小时发货的订单没按时发出去会怎样", [], intent="out_of_scope")
    messages, _ = await run(action, sure)
    assert messages[0]["response"] == "utter_answer" and "2月16日" in messages[0]["answer"]
    unsure = tracker_for("微信商城小程序怎么搭建", [], intent="out_of_scope")
    messages, events = await run(action, unsure)
    assert [m["response"] for m in messages] == ["utter_out_of_scope"]
    assert events == [SlotSet("pending_offer", None)]


async def test_out_of_scope_is_not_overruled_by_a_platform_name_alone(action):
    # "速卖通" matches the tiers programme's overview; that is no sign the question is ours.
    choice = tracker_for("速卖通的全托管模式怎么加入", [], intent="out_of_scope")
    messages, _ = await run(action, choice)
    assert [m["response"] for m in messages] == ["utter_out_of_scope"]
    # Named, the programme is the question: "新金银牌是哪年出的".
    named = tracker_for("速卖通新金银牌是哪一年出的", [entity("programme", "aliexpress_tiers_2023")],
                        intent="out_of_scope")
    messages, _ = await run(action, named)
    assert messages[0]["response"] == "utter_answer" and "2023年" in messages[0]["answer"]


def _spans(text, *named):
    """Entities with their offsets in `text`: (kind, value, the words they cover)."""
    return [{"entity": kind, "value": value, "start": text.index(words),
             "end": text.index(words) + len(words)} for kind, value, words in named]


def test_another_platform_in_what_a_long_message_tells_is_background():
    told = ("我们厂在佛山做家具十几年了,客服都是自己做,以前一直在京东上卖,去年开始转做批发,"
            "想问问1688的询价单订阅3.0能订几个类目")
    entities = _spans(told, ("platform", "other", "京东"), ("measure", "measure_17", "客服"),
                      ("version", "version_v3", "询价单订阅3.0"), ("aspect", "amount", "几个"))
    assert [e["value"] for e in without_background(entities, told)] == ["version_v3", "amount"]
    # The platform in the clause that asks, or a short message: the platform is the subject.
    asked = ("我们厂在佛山做家具十几年了,去年开始转做批发,团队也换了一批人,"
             "想问问京东的询价单订阅3.0能订几个类目")
    named = _spans(asked, ("platform", "other", "京东"), ("version", "version_v3", "询价单订阅3.0"))
    assert without_background(named, asked) == named
    short = "京东卖家,询价单订阅3.0能订几个类目"
    named = _spans(short, ("platform", "other", "京东"), ("version", "version_v3", "询价单订阅3.0"))
    assert without_background(named, short) == named


async def test_a_long_message_with_another_platform_in_its_background_is_answered(action):
    text = ("我哋公司喺东莞做五金,之前主要喺亚马逊卖货,今年先开始做速卖通,团队得五个人,"
            "想问下评到金牌之后每个月有几多个橱窗")
    entities = _spans(text, ("platform", "other", "亚马逊"), ("tier", "gold", "金牌"),
                      ("benefit", "showcase", "橱窗"))
    messages, _ = await run(action, tracker_for(text, entities))
    assert messages[0]["response"] == "utter_answer" and "3个" in messages[0]["answer"]


def test_what_a_besides_clause_names_is_set_aside_when_something_else_is_asked():
    text = "风控那几条我知道,除了知识产权的,交易方面的违规扣多少分会被准出"
    entities = _spans(text, ("violation", "violation_ip_severe", "知识产权"),
                      ("violation", "violation_trade_points", "交易方面的违规"))
    assert [e["value"] for e in set_aside(entities, text)] == ["violation_trade_points"]
    # Nothing else named: the one name is the subject after all.
    alone = "除了保理以外呢"
    only = _spans(alone, ("measure", "measure_2", "保理"))
    assert set_aside(only, alone) == only


async def test_besides_one_measure_of_a_guarantee_the_guarantee_answers(action):
    text = "金融服务保障这块,除了保理融资之外还有什么"
    entities = _spans(text, ("guarantee", "guarantee_finance", "金融服务保障"),
                      ("measure", "measure_2", "保理融资"))
    messages, _ = await run(action, tracker_for(text, entities))
    assert messages[0]["response"] == "utter_answer"
    assert "电票贴现" in messages[0]["answer"] and "备货贷" in messages[0]["answer"]


async def test_out_of_scope_asking_about_both_of_ours_needs_only_a_match(action):
    both = tracker_for("你们那俩计划哪个还能用", [], intent="out_of_scope")
    messages, _ = await run(action, both)
    assert messages[0]["response"] == "utter_answer"
    assert "【速卖通金银牌】" in messages[0]["answer"] and "【1688】" in messages[0]["answer"]


async def test_a_detail_the_documents_leave_open_is_said_to_be_missing(action):
    # knowledge/*.yml `silent_on`: the answer says the detail is not given, then the facts.
    carried = await reply(action, "每个月的橱窗要是没用完,能挪到下个月用吗", entity("benefit", "showcase"))
    assert carried["answer"].startswith("原文没有写明橱窗的使用规则") and "3个" in carried["answer"]
    plain = await reply(action, "金牌每个月几个橱窗", entity("benefit", "showcase"), entity("tier", "gold"))
    assert "没有写明" not in plain["answer"] and "3个" in plain["answer"]
    appeal = await reply(action, "被准出了想申诉找谁", entity("topic", "violation_overview"))
    assert appeal["answer"].startswith("原文没有写明对违规处理、准出或考核结果申诉的途径")


async def test_a_group_named_beside_one_of_its_measures_gets_the_measure(action):
    # "临时规则" names the group 规则调整保障; "勋章" says which of its measures is meant.
    message = await reply(action, "勋章的临时规则从哪天到哪天", entity("guarantee", "guarantee_rules"))
    assert "2月11日" in message["answer"] and "3月1日" in message["answer"]
    group = await reply(action, "临时规则一共有哪几条", entity("guarantee", "guarantee_rules"))
    assert "共3条措施" in group["answer"]


async def test_every_programme_answers_when_both_are_asked_and_no_entry_fits(action):
    message = await reply(action, "你们说的哪个计划现在还能用")
    assert "【速卖通金银牌】" in message["answer"] and "【1688】" in message["answer"]
    assert "2024年3月31日" in message["answer"] and "2020年" in message["answer"]


async def test_when_the_tier_programme_is_given_is_its_assessment(action):
    message = await reply(action, "新金银牌这季没评上,下回啥时候再评",
                          entity("programme", "aliexpress_tiers_2023"), entity("aspect", "time"))
    assert "1月、4月、7月、10月" in message["answer"]


async def test_the_reasons_and_discretion_the_source_states_are_in_the_answer(action):
    why = await reply(action, "速卖通干嘛又要改金银牌", entity("programme", "aliexpress_tiers_2023"),
                      entity("aspect", "what"))
    assert "高质量成长" in why["answer"]
    suspected = await reply(action, "光是怀疑我违规就能拿掉我的牌吗", entity("topic", "violation_overview"))
    assert "合理怀疑" in suspected["answer"] and "酌情" in suspected["answer"]


async def test_a_programme_as_a_whole_is_answered_per_aspect(action):
    who = await reply(action, "春雷计划面向哪类企业", entity("programme", "chunlei_1688"),
                      entity("aspect", "eligibility"))
    assert "诚信通商家" in who["answer"]
    when = await reply(action, "春雷那个计划是哪年的事", entity("programme", "chunlei_1688"),
                       entity("aspect", "time"))
    assert "2020年" in when["answer"]


async def test_a_benefit_category_named_gets_every_benefit_in_it(action):
    message = await reply(action, "速卖通流量扶持包括哪些", entity("benefit", "search_boost"))
    assert "橱窗激励" in message["answer"] or "3个橱窗" in message["answer"]
    assert "搜推加权" in message["answer"] or "品牌专区" in message["answer"]


async def test_an_amount_of_money_needs_a_sum_of_money(action):
    price = await reply(action, "询价单订阅要花多少钱", entity("resource", "resource_inquiry"),
                        entity("aspect", "amount"))
    assert price["answer"].startswith("原文没有写明询价单订阅")
    count = await reply(action, "询价单订阅能订多少个关键词", entity("resource", "resource_inquiry"),
                        entity("aspect", "amount"))
    assert "原文没有" not in count["answer"]
    # "免费培训" says something is free, not what the service pack is worth.
    worth = await reply(action, "送的那个服务包大概值多少钱", entity("resource", "resource_service_pack"),
                        entity("aspect", "amount"))
    assert worth["answer"].startswith("原文没有写明1688基础服务包的")


async def test_how_many_measures_a_guarantee_has_is_counted(action):
    message = await reply(action, "金融服务保障一共几条", entity("guarantee", "guarantee_finance"),
                          entity("aspect", "amount"))
    assert "金融服务保障共4条措施(第1-4条)" in message["answer"]


async def test_two_entries_ranked_almost_alike_are_both_answered(action):
    message = await reply(action, "扣分了会怎么样")
    assert message["answer"].startswith("您问的可能是下面两项之一")
    assert "扣24分" in message["answer"] and "知识产权严重侵权2次及以上" in message["answer"]


def test_the_ranking_loads_without_jax():
    # bm25s imports JAX, when installed, for a selection the ranking never uses; hiding it saves
    # the action server about 130 MB. Fails when bm25s stops checking for JAX this way.
    import subprocess
    import sys
    code = ("import sys, core.knowledge.retrieval as r; "
            "print('jax' in sys.modules, r.bm25s.selection.JAX_IS_AVAILABLE)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


async def test_a_facet_that_only_points_elsewhere_does_not_answer_how(action):
    # Measure 2's way to apply is "详见产品页面": said not to be given, then what it says.
    steps = await reply(action, "保理融资的优惠具体怎么一步步申请", entity("measure", "measure_2"),
                        entity("aspect", "apply"))
    assert steps["answer"].startswith("原文没有写明保理融资利率优惠的申请方式")
    assert "产品页面" in steps["answer"]


async def test_whether_two_offers_combine_is_never_given(action):
    both = await reply(action, "金牌的9折贷款和网商贷降息能叠加吗", entity("tier", "gold"),
                       entity("benefit", "loan"), entity("aspect", "stacking"))
    assert both["answer"].startswith("原文没有写明") and "叠加规则" in both["answer"]
    assert "9折" in both["answer"]


def test_what_a_question_counts_or_lists_is_found():
    from actions.focus import DAY, asked_thing, named_in, unnamed_thing
    assert asked_thing("开播那天平台给几多曝光量") == "曝光量"
    assert asked_thing("报名可以提交几款样品") == "样品"
    assert asked_thing("入驻当天会送几样资源") == "资源"  # 样: a measure word, not the thing
    assert asked_thing("考核看哪几个维度？") == "维度"
    assert asked_thing("成绩哪天出来") == DAY
    # Nothing counted: a clause that goes on ("多少分会被准出" counts points), no noun ("先得"),
    # a demonstrative ("那几个"), a time or a sum (the aspects' to check), a phone's number.
    assert asked_thing("转化率是按哪些数据算的") is None
    assert asked_thing("扣多少分会被准出") is None
    assert asked_thing("好评率要几多先得") is None
    assert asked_thing("除了这几个硬指标 还有别的吗") is None
    assert asked_thing("几月份考核") is None and asked_thing("送多少钱补贴") is None
    assert asked_thing("客服电话几号") is None
    assert asked_thing("怎么申请") is None and asked_thing("几个") is None
    # The answer names the thing, its stem ("粉丝数" → 粉丝) or a synonym of it.
    assert named_in("粉丝数", "开通后粉丝超过1万")
    assert named_in("网点", "支持线下门店", [("门店", "网点")])
    assert not named_in("网点", "支持线上开店", [("门店", "网点")])
    # Spread over a longer word, or spelt with a synonym inside a longer one.
    assert named_in("软件商", "二十余家软件开发商")
    assert not named_in("数码化工具", "二十余款提效工具", [("数字化", "数码化")])
    assert named_in("数码化工具", "二十余款数字化工具", [("数字化", "数码化")])
    # A day of a month is given; today's date, which date answers mention, is not.
    assert named_in(DAY, "每年3月15号公布")
    assert not named_in(DAY, "下次在2027年1月(今天是2026年11月22日)")
    assert unnamed_thing("可以提交几款样品", "每家限报3个", skip=["样品"]) is None
    assert unnamed_thing("可以提交几款样品", "每家限报3个") == "样品"


async def test_a_count_the_answer_never_names_is_said_to_be_missing(action):
    # The live-stream pack gives quotas and dates; an exposure figure is nowhere in it.
    views = await reply(action, "万店直播那天会给我们带来多少曝光量", entity("resource", "resource_live"))
    assert views["answer"].startswith("原文没有写明您问的曝光量") and "10000" in views["answer"]
    # The assessment months are given, the day of the result is not.
    day = await reply(action, "季度考核成绩哪天出", entity("topic", "topic_assessment"))
    assert day["answer"].startswith("原文没有写明您问的具体日期") and "1月" in day["answer"]
    # A word that names the entry answered is what the answer is about: no such line.
    rules = await reply(action, "银牌考核哪些指标", entity("tier", "silver"),
                        entity("topic", "condition_overview"))
    assert not rules["answer"].startswith("原文没有写明") and "92%" in rules["answer"]
    # A count the answer gives is not missing.
    quota = await reply(action, "直播大礼包一共几多名额", entity("resource", "resource_live"))
    assert not quota["answer"].startswith("原文没有写明") and "10000" in quota["answer"]


async def test_sellers_words_for_a_fee_or_a_contact_are_aspects_the_documents_leave_open(action):
    fee = await reply(action, "直播绿通开通了要另外收钱吗", entity("resource", "resource_live"))
    assert fee["answer"].startswith("原文没有写明") and "费用" in fee["answer"].split("。")[0]
    reach = await reply(action, "银牌的客户经理怎么联络", entity("tier", "silver"))
    assert reach["answer"].startswith("原文没有写明") and "联系方式" in reach["answer"].split("。")[0]


async def test_a_figure_asked_beside_an_answered_aspect_is_still_said_to_be_missing(action):
    # The period of measure 15 is given; the points it costs are not ("第15条" counts nothing).
    points = await reply(action, "春节那段时间发货晚了会扣几分", entity("measure", "measure_15"))
    assert points["answer"].startswith("原文没有写明发货管理临时规则的具体数额")
    assert "1月19日" in points["answer"]
    # A deadline asked with the word 申请: the deadline is given, the facet that points to the
    # product page does not make the answer "not given".
    due = await reply(action, "电票贴现优惠申请截止到什么时候", entity("measure", "measure_3"))
    assert not due["answer"].startswith("原文没有写明") and "3月31日" in due["answer"]
    # How to apply, asked alone, is still said to be only on the product page.
    how = await reply(action, "电票贴现优惠具体怎么申请", entity("measure", "measure_3"))
    assert how["answer"].startswith("原文没有写明电票贴现优惠的申请方式")


async def test_out_of_scope_yields_to_a_programme_named_by_its_own_name(action):
    slogan = tracker_for("1688那句口号 让天下什么来着", [entity("programme", "chunlei_1688")],
                         intent="out_of_scope")
    messages, _ = await run(action, slogan)
    assert messages[0]["response"] == "utter_answer"
    assert "让天下没有难做的生意" in messages[0]["answer"]


async def test_details_the_documents_leave_out_are_said_to_be_missing(action):
    definition = await reply(action, "72h上网率怎么定义 揽收算不算", entity("metric", "metric_online_72h"))
    assert definition["answer"].startswith("原文没有写明72h上网率的定义")
    assert "85%" in definition["answer"]
    tools = await reply(action, "高阶场景营销工具具体是哪些", entity("benefit", "store_tools"))
    assert tools["answer"].startswith("原文没有写明“更高阶的场景营销店铺工具”具体是哪些工具")
    commission = await reply(action, "淘工厂抽佣多少", entity("section", "home_taogongchang"))
    assert commission["answer"].startswith("原文没有写明版块的佣金")


async def test_which_conditions_or_which_company_the_documents_do_not_name(action):
    loan = await reply(action, "9折贷款说符合条件的商家 具体是啥条件", entity("benefit", "loan"))
    assert loan["answer"].startswith("原文没有写明享受优惠利率贷款的“符合条件”具体指什么条件")
    factoring = await reply(action, "商业保理是哪家公司给做的", entity("measure", "measure_2"))
    assert factoring["answer"].startswith("原文没有写明商业保理由哪家机构提供")
    assert "6%" in factoring["answer"]


async def test_how_a_showcase_is_given_or_a_delivery_service_joined_is_not_in_the_documents(action):
    showcase = await reply(action, "金牌每个月3个橱窗是自动发放还是要领", entity("tier", "gold"),
                           entity("benefit", "showcase"))
    assert showcase["answer"].startswith("原文没有写明橱窗激励是自动发放还是需要商家领取或申请")
    assert "3个" in showcase["answer"]
    join = await reply(action, "24/48/72小时发货服务怎么加入", entity("measure", "measure_15"))
    assert join["answer"].startswith("原文没有写明如何加入24/48/72小时发货服务")


async def test_a_group_and_its_own_measure_ranked_alike_are_one_answer(action):
    # The service guarantee is measure 17 and nothing else: "two possible entries" would say
    # the same thing twice.
    message = await reply(action, "遇到紧急情况平台怎么处理")
    assert message["answer"].count("7天*8小时") == 1
    assert not message["answer"].startswith("您问的可能是")


async def test_a_tier_named_beside_its_platform_answers_what_the_rest_asks(action):
    # Beside the tier, the rest of the message describes a violation (a frozen store), which
    # ranks clearly first and answers.
    message = await reply(action, "我速卖通的店被冻结过 还能当银牌吗", entity("tier", "silver"))
    assert "冻结" in message["answer"] and "准出" in message["answer"]


async def test_how_a_tier_is_decided_is_the_assessment(action):
    message = await reply(action, "银牌有公式算吗 还是人工定", entity("tier", "silver"),
                          entity("aspect", "calculation"))
    assert "酌情决定" in message["answer"]
    assert message["answer"].startswith("原文没有写明")


async def test_a_sum_of_money_asked_is_not_answered_by_a_rate(action):
    # The factoring measure gives rates (9% → 6%), never how much may be borrowed.
    message = await reply(action, "保理融资一次能借到多少钱", entity("measure", "measure_2"))
    assert "原文没有写明保理融资" in message["answer"]
    assert "6%" in message["answer"]
    # A facet that counts (brands, categories) is no sum of money either; one with a sum is.
    message = await reply(action, "聚联盟的货一吨卖多少钱", entity("measure", "measure_13"))
    assert message["answer"].startswith("原文没有写明") and "600家" in message["answer"]
    message = await reply(action, "续费补贴多少钱", entity("measure", "measure_8"))
    assert not message["answer"].startswith("原文没有写明") and "100元" in message["answer"]
    # A threshold asked as an amount is answered by its percentage.
    message = await reply(action, "好评率最低多少", entity("metric", "metric_positive_feedback"))
    assert not message["answer"].startswith("原文没有写明") and "92%" in message["answer"]


@pytest.mark.parametrize("text, term", [
    ("你们说的那个代运营商到底是谁", "代运营商"),
    ("商机库係咩嚟㗎", "商机库"),
    ("白名单打标具体是什么意思", "白名单打标"),
    # The entry's own name, general words and a comparison are not terms to explain.
    ("网销宝是什么", None),
    ("金牌和银牌的区别是啥", None),
    ("这个是什么意思", None),
    ("两份文件里网商银行的优惠分别是什么", None),
])
def test_a_term_asked_to_be_explained(text, term):
    assert undefined_term(text, "网销宝:开户后即可投放。商机库、千牛PC端。", ["网销宝"]) == term


def test_a_term_the_answer_defines_is_explained():
    assert undefined_term("商机库是什么", "商机库:买家询价单汇总的页面。", []) is None


async def test_a_term_the_answer_only_mentions_is_said_to_be_unexplained(action):
    message = await reply(action, "达人主播资格里面提到的渠道商是谁")
    assert message["answer"].startswith("原文没有说明渠道商具体是什么")
    assert "由渠道商提供新签约商家的ID" in message["answer"]


@pytest.mark.parametrize("text, answered", [
    # One of our platforms named and one of its entries clearly ahead: answered.
    ("1688那边办不办线上招聘会", True),
    ("1688会不会给商家推疫情相关的商机资讯", True),
    # The same entry asked about on the other platform, or with no entry clearly ahead.
    ("速卖通有没有线上招聘会", False),
    ("速卖通联盟营销的佣金比例怎么设置", False),
])
async def test_our_platform_named_outweighs_the_classifiers_not_ours(action, text, answered):
    messages, _ = await run(action, tracker_for(text, [], intent="out_of_scope"))
    assert (messages[0]["response"] == "utter_answer") is answered
    if answered:
        assert "第6条" in messages[0]["answer"]


@pytest.mark.parametrize("text, tier", [
    ("我一个月卖10万刀 能上银牌不", "silver"),
    ("新开的店 有机会升金牌吗", "gold"),
])
async def test_a_tier_the_store_may_become_gets_the_entry_conditions(action, text, tier):
    message = await reply(action, text, entity("tier", tier))
    assert "准入条件" in message["answer"] and "好评率≥92%" in message["answer"]


async def test_what_a_tier_brings_is_still_its_benefits(action):
    for text in ("当上银牌能享受啥", "从银牌升到金牌能多些什么"):
        message = await reply(action, text, entity("tier", "silver"))
        assert "橱窗" in message["answer"] and "好评率≥92%" not in message["answer"]


def test_one_everyday_word_in_common_is_a_weak_match(kb):
    retriever = Retriever(kb)
    # "工厂" alone links a fire inspection to the 淘工厂 section.
    [hit] = retriever.rank("工厂消防检查要准备啥材料", limit=1)
    assert hit.id == "home_taogongchang" and retriever.weak(hit)
    # A name of the knowledge base, or more than one word in common, is a subject.
    [named] = retriever.rank("橱窗几个", limit=1)
    assert named.id == "showcase" and not retriever.weak(named)
    [more] = retriever.rank("遇到紧急情况平台怎么处理", limit=1)
    assert more.id == "guarantee_service" and not retriever.weak(more)


async def test_a_weak_match_alone_is_not_an_answer(action):
    messages, _ = await run(action, tracker_for("公司账上钱不够发工资 去哪借比较快", []))
    assert messages[0]["response"] == "utter_out_of_scope"


async def test_another_platforms_question_the_document_only_touches_is_declined(action):
    # The 伙拼 section compares itself with 聚划算 but gives no fee of either.
    fee = await reply(action, "天猫聚划算一场要交多少钱", entity("platform", "other"))
    assert fee["response"] == "utter_other_platform"
    # The 淘工厂 section does give the figures asked about 淘宝 and 天猫.
    figures = await reply(action, "淘宝天猫上商家有多少,贸易商比例多少", entity("platform", "other"))
    assert figures["response"] == "utter_answer" and "70%" in figures["answer"]


async def test_a_tiers_chances_are_its_entry_conditions(action):
    message = await reply(action, "被关过店的 银牌还有机会吗", entity("tier", "silver"))
    assert "准入条件" in message["answer"] and "冻结" in message["answer"]


@pytest.mark.parametrize("text, entities, said", [
    ("商品品质按什么标准", [entity("metric", "metric_industry")],
     "原文没有写明行业其他条件的计算方法或认定标准"),
    ("续费补贴跟网销宝红包可以同时拿吗", [entity("measure", "measure_8")],
     "原文没有写明诚信通自助续费补贴的叠加规则"),
    # A detail the knowledge file lists as left open says so in its own words.
    ("保护期内能享受银牌权益吗", [entity("topic", "topic_protection")],
     "原文没有写明中国好卖家保护期内能否享受金牌或银牌的权益"),
])
async def test_a_criterion_or_a_combination_the_document_never_states_is_said_missing(
        action, text, entities, said):
    message = await reply(action, text, *entities)
    assert message["answer"].startswith(said)


def test_a_proportion_asked_is_no_thing_counted():
    from actions.focus import asked_thing
    # "几成" asks a proportion (tenths), which a percentage answers.
    assert asked_thing("入面几成系贸易商") is None
    assert asked_thing("给多少曝光量") == "曝光量"


def test_a_name_that_is_a_way_of_asking_has_no_typos(kb):
    # One character off, a phrasing is another question: "几时交" is not "几时评".
    assert TypoNames(["什么时候考核"]).corrected("什么时候交表") == []
    assert TypoNames(["怎么收到"]).corrected("运费怎么收的") == []
    assert Retriever(kb).typos.corrected("营业执照什么时候换") == []
    # A name proper still has its typos corrected.
    assert TypoNames(["交易勋章"]).corrected("交易询章掉了吗") == ["交易勋章"]


def test_every_thing_counted_is_checked_and_effects_are_things():
    from actions.focus import asked_things, named_in, unnamed_thing
    assert asked_things("有几个主播 给多少曝光") == ["主播", "曝光"]
    # Named with its words apart, or with a general word beside it, it is named.
    assert named_in("贷款优惠", "专属优惠利率9折贷款")
    assert named_in("名额限制", "扶持名额10000家")
    # Every thing asked is checked, not only the first.
    assert unnamed_thing("有几个主播 给多少曝光", "30天达人主播资格") == "曝光"
    assert unnamed_thing("银牌橱窗能多带几多曝光", "银牌店铺每个月可以享受2个橱窗激励") == "曝光"
    # Whether a thing exists is not checked: "有冇专人跟进" is answered by 客户经理 in other words.
    assert asked_things("金牌有冇专人跟进") == []


async def test_metrics_met_and_whether_that_is_enough_is_the_conditions_as_a_whole(action):
    for text in ("纠纷率好评率都ok了 为啥还是没银牌", "上网率跟好评率是都得过线 还是过一个就行 金牌",
                 "我好评率93% 上网率90% 够银牌了吧",
                 "我们店近90天好评率93%、72小时上网率88%,这样够格评银牌吗"):
        metrics = [entity("metric", "metric_positive_feedback"), entity("metric", "metric_online_72h")]
        message = await reply(action, text, entity("tier", "silver"), *metrics)
        assert "钉钉" in message["answer"] and "全部条件" in message["answer"]
    # One threshold asked alone stays that threshold.
    one = await reply(action, "金牌好评率要多少", entity("tier", "gold"),
                      entity("metric", "metric_positive_feedback"), entity("aspect", "amount"))
    assert "92%" in one["answer"] and "钉钉" not in one["answer"]


async def test_what_a_tier_looks_at_is_its_conditions(action):
    message = await reply(action, "银牌除开销售额还考啥", entity("tier", "silver"))
    assert "准入条件" in message["answer"] and "橱窗" not in message["answer"]


async def test_an_entry_named_by_a_name_of_its_own_gets_no_other_platform_beside_it(action):
    message = await reply(action, "保理利率有优惠 那要审核啥", entity("measure", "measure_2"),
                          entity("topic", "topic_assessment"))
    assert "两份资料" not in message["answer"] and "速卖通" not in message["answer"]


@pytest.mark.parametrize("text, entities, said", [
    # A price to buy it: "免费" said of a part of it is no price.
    ("基础服务包要是单独买得花多少钱",
     [entity("resource", "resource_service_pack"), entity("aspect", "amount")], "原文没有写明"),
    # A place in a ranking: no entry gives one.
    ("橱窗激励的商品在搜索里排第几", [entity("tier", "gold"), entity("benefit", "showcase"),
                               entity("aspect", "position")], "原文没有写明"),
])
async def test_a_price_or_a_place_the_document_never_gives_is_said_missing(
        action, text, entities, said):
    message = await reply(action, text, *entities)
    assert message["answer"].startswith(said)


def test_how_serious_counts_as_severe_is_asked_how_it_is_judged(kb):
    assert "calculation" in aspects_in(kb, "侵权要到什么程度才算严重")
    assert "position" in aspects_in(kb, "优品专区里能排第几名")
    assert "documents" in aspects_in(kb, "怎么证明我们是民生行业")


async def test_a_question_the_classifier_calls_not_ours_and_the_entry_does_not_answer_is_declined(action):
    # 跨境 reaches the 跨境专供 section, which gives no shipping time.
    named = [entity("section", "home_cross_border"), entity("aspect", "time")]
    messages, _ = await run(action, tracker_for("跨境包裹寄到英国一般几天", named, intent="out_of_scope"))
    assert messages[0]["response"] == "utter_out_of_scope"
    # Naming our platform keeps it ours: the section's own words answer.
    named = [entity("section", "home_cross_border")]
    messages, _ = await run(action, tracker_for("1688的跨境专供是干嘛的", named, intent="out_of_scope"))
    assert messages[0]["response"] == "utter_answer"
    # A ranking sure of its entry without any name is trusted, a figure left out or not.
    asked = [entity("aspect", "amount")]
    tracker = tracker_for("数字化提效工具有几款 补贴多少钱", asked, intent="out_of_scope")
    messages, _ = await run(action, tracker)
    assert messages[0]["response"] == "utter_answer" and "第5条" in messages[0]["answer"]


def test_an_entry_named_in_pinyin_is_named(kb):
    from actions.choose import names_its_entry
    retriever = Retriever(kb)
    hits = retriever.rank("jiaoyixunzhang 还算数吗")
    assert hits[0].id == "measure_14" and names_its_entry(kb, hits)
    assert not names_its_entry(kb, retriever.rank("疫情期间生意不好"))


async def test_what_the_merchant_says_they_are_is_not_what_they_ask(action):
    text = "我们是开通了自助续费的老会员 可以领基础服务包吗"
    told = [{"entity": "measure", "value": "measure_8", "start": 7, "end": 11},
            {"entity": "resource", "value": "resource_service_pack", "start": 22, "end": 27}]
    assert without_background(told, text) == told[1:]
    message = await reply(action, text, *told, entity("aspect", "eligibility"))
    assert "新签约" in message["answer"] and "100元" not in message["answer"]
    # Asked about alone, what they are stays the question.
    alone = [{"entity": "measure", "value": "measure_8", "start": 7, "end": 11}]
    assert without_background(alone, "我们是开通了自助续费的老会员 补贴到账了吗") == alone


async def test_a_misspelt_name_outweighs_a_general_word_but_not_an_entry_named_outright(action):
    # 厂货同 is 厂货通 typed by sound; 条件 alone names the tiers' conditions.
    message = await reply(action, "厂货同 入驻要什么条件", entity("topic", "condition_overview"))
    assert message["answer"].startswith("厂货通")
    # "上个季度" is one character from "每个季度" (the assessment); 好评率 is named outright.
    named = await reply(action, "上个季度好评率只有90% 下季度金牌会掉吗", entity("tier", "gold"),
                        entity("metric", "metric_positive_feedback"))
    assert "92%" in named["answer"]


async def test_a_tier_lost_is_its_entry_conditions(action):
    message = await reply(action, "银牌身份会不会因为犯了事就没了", entity("tier", "silver"))
    assert "准入条件" in message["answer"] and "严重违规" in message["answer"]


def test_a_sellers_word_for_marking_reaches_its_measure(kb):
    assert Retriever(kb).rank("湖北的货会单独做标记吗")[0].id == "measure_11"


async def test_a_tier_the_store_may_become_is_ours_whatever_the_classifier_says(action):
    messages, _ = await run(action, tracker_for("我店三个月零成交 还能评上银牌吗",
                                                [entity("tier", "silver"), entity("aspect", "eligibility")],
                                                intent="out_of_scope"))
    assert messages[0]["response"] == "utter_answer" and "交易记录" in messages[0]["answer"]


def test_a_word_only_one_platforms_entries_use_settles_the_platform(kb):
    from actions.choose import _only_on, _words_elsewhere
    ours, theirs = _words_elsewhere(kb, "1688"), _words_elsewhere(kb, "aliexpress")
    assert _only_on(kb, "保理", ours) and not _only_on(kb, "保理", theirs)
    # 72小时 is in both documents; 橱窗 only in the tiers' benefits, which are no entries.
    assert not _only_on(kb, "72小时", theirs) and not _only_on(kb, "72小时", ours)
    assert not _only_on(kb, "橱窗", ours) and _only_on(kb, "橱窗", theirs)


def test_a_match_on_ways_of_asking_alone_is_weak(kb):
    retriever = Retriever(kb)
    [hit] = retriever.rank("报税表怎么填 税号去哪查", limit=1)
    assert hit.id == "topic_portal" and retriever.weak(hit)
    [named] = retriever.rank("金银牌门户去哪查", limit=1)
    assert named.id == "topic_portal" and not retriever.weak(named)


async def test_two_entries_close_on_what_is_asked_beside_a_programme_name_both_answer(action):
    # The data window and the assessment both fit; the programme's overview fits neither.
    message = await reply(action, "金银牌考核看的是近30天还是90天的数据",
                          entity("programme", "aliexpress_tiers_2023"))
    assert "90天" in message["answer"] and "升级金银牌体系" not in message["answer"]
    # One entry clearly ahead stays alone.
    alone = await reply(action, "速卖通金银牌的橱窗激励有几个", entity("programme", "aliexpress_tiers_2023"))
    assert "橱窗" in alone["answer"] and "可能是下面" not in alone["answer"]


@pytest.mark.parametrize("text", ["我想買樓,而家房貸利率大概幾多?", "网商银行的余利宝理财收益现在多少",
                                  "无纺布现在多少钱一吨", "跨境电商卖到欧盟要注册VAT吗"])
async def test_money_tax_and_market_prices_beyond_the_documents_are_another_products(kb, action, text):
    from core import script
    simplified = script.normalize(text)[0].lower()
    named = [alias for alias in kb.names["platform"] if alias in simplified]
    assert named, text
    message = await reply(action, text, entity("platform", kb.names["platform"][named[0]]))
    assert message.get("response") == "utter_other_platform", message


async def test_a_share_of_a_total_is_not_given(action):
    share = await reply(action, "2000万流量红包 每家能分到多少", entity("measure", "measure_12"),
                        entity("aspect", "amount"))
    assert share["answer"].startswith("原文没有写明每家") and "2000万" in share["answer"]
    # A cap per merchant is a share ("备货贷最高额度100万").
    cap = await reply(action, "备货贷每家最多能贷多少", entity("measure", "measure_1"),
                      entity("aspect", "amount"))
    assert "100万" in cap["answer"] and not cap["answer"].startswith("原文没有")
    # The total asked is given.
    total = await reply(action, "流量红包一共多少钱", entity("measure", "measure_12"),
                        entity("aspect", "amount"))
    assert not total["answer"].startswith("原文没有")


async def test_names_of_what_an_answer_only_counts_are_not_given(action):
    names = await reply(action, "那10家工业品牌服务商是哪几家", entity("measure", "measure_9"))
    assert names["answer"].startswith("原文没有写明具体名单") and "10家" in names["answer"]
    listed = await reply(action, "基础服务包包括哪些服务", entity("resource", "resource_service_pack"))
    assert not listed["answer"].startswith("原文没有")


async def test_a_region_in_the_entrys_own_name_is_not_what_is_asked(action):
    when = await reply(action, "湖北打标活动啥时候开始", entity("measure", "measure_11"),
                       entity("aspect", "region"), entity("aspect", "time"))
    assert when["answer"].startswith("原文没有写明") and "疫情结束后" in when["answer"]
    # Another aspect in a name is asked all the same: 客服电话 is a name of measure 17.
    phone = await reply(action, "1688客服电话多少", entity("measure", "measure_17"),
                        entity("aspect", "amount"))
    assert phone["answer"].startswith("原文没有写明")


async def test_a_fee_beyond_what_is_free_is_not_given(action):
    fee = await reply(action, "极速到账平时收费多少", entity("measure", "measure_1"),
                      entity("aspect", "cost"))
    assert fee["answer"].startswith("原文没有写明") and "两个月" in fee["answer"]


async def test_a_loan_named_by_its_own_name_gets_no_other_platform_beside_it(action):
    message = await reply(action, "备货贷利息几多", entity("measure", "measure_1"),
                          entity("aspect", "amount"))
    assert "两份资料" not in message["answer"] and "网商银行" not in message["answer"]
    assert message["answer"].startswith("原文没有写明")


async def test_a_thing_no_document_mentions_asked_whether_it_exists_is_said_to_be_missing(action):
    """"考完有冇证书", "会唔会有罚则": the nearest entry's facts come after a plain "原文没有提到"."""
    cases = [("能力认证考完有冇证书?", entity("measure", "measure_6"), "证书", "能力认证"),
             ("直播绿通报咗名最后冇开播,会唔会有罚则?", entity("resource", "resource_live"), "罚则", "绿通")]
    for text, named, thing, fact in cases:
        message = await reply(action, text, named)
        first, rest = message["answer"].split("\n", 1)
        assert first.startswith(f"原文没有提到{thing}"), message["answer"]
        assert fact in rest
    # Something the answer names in other words, or a relation, is no missing thing.
    for text, named in (("金牌有冇专人服务", entity("tier", "gold")),
                        ("评金牌跟用钉钉有关系吗", entity("tier", "gold"))):
        message = await reply(action, text, named)
        assert "原文没有提到" not in message["answer"], message["answer"]


def test_an_unheard_thing_is_a_noun_the_knowledge_base_never_uses(kb):
    from actions.focus import unheard_thing
    vocabulary = kb.vocabulary
    assert "备货贷" in vocabulary and "钉钉" in vocabulary and "证书" not in vocabulary
    assert unheard_thing("评上金牌会不会有证书", "", vocabulary) == "证书"
    assert unheard_thing("评上金牌后会不会寄证书或者奖牌过来", "", vocabulary) == "证书"
    assert unheard_thing("名额如果爆咗,仲有冇得候补?", "", vocabulary) == "候补"  # 有冇得: a chance
    # Known to the knowledge base, named by the answer, or a verb: not an unheard thing.
    assert unheard_thing("有没有备货贷", "", vocabulary) is None
    assert unheard_thing("有多少家软件商", "二十余家软件服务商", vocabulary) is None
    assert unheard_thing("1688有冇帮手招聘", "", vocabulary) is None
    # What there is, asked openly, and what a merchant says they have, are no such question.
    assert unheard_thing("金牌店铺工具有啥特权", "", vocabulary) is None
    assert unheard_thing("我们也有企业买家下单,保理利率能降吗", "", vocabulary) is None
    assert unheard_thing("直播课有回放吗", "", vocabulary) is None  # a verb: 回放 is done, not had
    # The same knowledge base object is read once; a reloaded one is read again.
    assert kb.vocabulary is vocabulary


async def test_how_long_a_loan_runs_or_how_it_is_paid_back_is_said_to_be_missing(action):
    for text in ("备货贷可以借几耐?可唔可以分期?", "备货贷借的钱能拿来付房租吗"):
        message = await reply(action, text, entity("measure", "measure_1"),
                              entity("aspect", "repayment"))
        expected = "原文没有写明湖北商家极速到账与备货贷的借款期限"
        assert message["answer"].startswith(expected), message["answer"]
        assert "100万" in message["answer"]


async def test_a_region_outside_hubei_is_not_told_it_is_excluded(action):
    """The documents open 备货贷 and the 网商贷 discount to Hubei; they do not say others may not."""
    for measure in ("measure_1", "measure_4"):
        message = await reply(action, "我在广东 能不能用", entity("measure", measure),
                              entity("aspect", "region"))
        assert message["answer"].startswith("原文没有写明湖北以外的商家能否使用"), message["answer"]
        assert "仅限" not in message["answer"]
        # A merchant in Hubei is told what applies, without a caveat about everyone else.
        message = await reply(action, "我在湖北 能不能用", entity("measure", measure),
                              entity("aspect", "region"))
        assert "湖北" in message["answer"] and "原文没有写明" not in message["answer"], message["answer"]


async def test_how_much_may_be_borrowed_is_no_rate_cut(action):
    """"网商贷最高能贷多少": the 10% cut of the interest is no sum that may be borrowed."""
    for text in ("湖北网商贷最高能贷多少", "湖北网商贷最高可以借几多"):
        message = await reply(action, text, entity("measure", "measure_4"),
                              entity("aspect", "amount"), entity("aspect", "region"))
        assert message["answer"].startswith("原文没有写明网商贷利息下调的具体数额"), message["answer"]
    # The rate asked: the cut is given, the rate itself only on the loan's page.
    message = await reply(action, "网商贷利息降多少 年化多少", entity("measure", "measure_4"),
                          entity("aspect", "rate"), entity("aspect", "amount"))
    assert message["answer"].startswith("原文没有写明网商贷利息下调的具体利率或费率"), message["answer"]
    assert "10%" in message["answer"]


def test_names_asked_of_what_is_only_counted():
    assert names_unlisted("那10家工业品牌服务商 能不能告诉我名字", "1688组织10家经过认证的工业品牌专业服务商")
    assert not names_unlisted("那10家服务商有什么用", "1688组织10家经过认证的工业品牌专业服务商")


def test_the_figure_an_amount_asks_for():
    from actions.choose import _amount_kind
    assert _amount_kind("金牌考核的数据周期是多少天") == "duration"
    from actions.choose import _FIGURES
    assert _FIGURES["duration"].search("准入条件按近90天的经营数据考核")
    assert not _FIGURES["duration"].search("适用于2020年1月19日至2月9日期间的订单")
    assert _amount_kind("网商贷最高能贷多少") == "money"
    assert _amount_kind("聚联盟有多少个品牌") == "amount"


def test_what_makes_a_thing_worth_having_is_no_term_to_define():
    body = "询价单订阅3.0:核心利益点:①买家求购信息时效性;②10个关键词订阅"
    assert undefined_term("询价单订阅3.0 最大的卖点是什么", body, ["询价单订阅3.0"]) is None



async def test_a_benefit_the_tiers_list_does_not_have_is_said_to_be_missing(action):
    """The tiers' benefits are a closed list: a benefit asked about that it does not name is
    said to be missing before the list; one it names, in its words or a synonym, is not."""
    for text, thing in (("金牌有没有专属物流优惠", "专属物流优惠"),
                        ("金牌能不能享受无忧物流运费折扣", "无忧物流运费折扣")):
        message = await reply(action, text, entity("tier", "gold"))
        first, rest = message["answer"].split("\n", 1)
        assert first.startswith(f"原文没有提到{thing}"), message["answer"]
        assert "3个橱窗" in rest
    for text in ("金牌有冇專人跟進?", "金牌有没有贷款优惠", "金牌能不能享受橱窗激励"):
        message = await reply(action, text, entity("tier", "gold"))
        assert "原文没有提到" not in message["answer"], message["answer"]


async def test_where_something_takes_place_is_not_given(action):
    """No document gives a city or a venue: "在哪办", "哪个城市" are said to be missing."""
    for text, named in (("产地直播在哪办", entity("resource", "resource_live")),
                        ("团队上门服务是哪个城市都能来吗", entity("resource", "resource_service_pack"))):
        message = await reply(action, text, named, entity("aspect", "place"))
        assert message["answer"].startswith("原文没有写明"), message["answer"]
        assert "举办地点" in message["answer"].split("\n", 1)[0]


def test_a_match_on_what_is_asked_alone_is_weak(kb):
    """申请, 多少钱: words that say what is asked are in every entry that says how to apply or
    what it costs; sharing them alone says nothing about what the message is about."""
    retriever = Retriever(kb)
    top = retriever.rank("我们想申请英国政府的出口补助,点申请")[0]
    assert retriever.weak(top), top
    # A word naming a subject beside them still counts.
    top = retriever.rank("电票贴现怎么申请")[0]
    assert top.id == "measure_3" and not retriever.weak(top)


async def test_an_application_elsewhere_is_not_answered_from_our_ways_to_apply(action):
    messages, _ = await run(action, tracker_for("我们想申请英国政府的出口补助,点申请",
                                                [entity("aspect", "apply")]))
    assert messages[0]["response"] in ("utter_out_of_scope", "utter_ask_which_programme"), messages[0]


async def test_a_programme_referred_to_without_its_name_is_answered_for_each(action):
    """"这个计划" in a message that names nothing: any of our programmes may be meant, so the
    aspect asked is answered for each, under its platform's label."""
    message = await reply(action, "这个计划是给什么企业的", entity("aspect", "eligibility"))
    answer = message["answer"]
    assert answer.startswith("两份资料分别是这样写的")
    assert "【1688】" in answer and "【速卖通金银牌】" in answer
    assert "中小企业" in answer and "成交服务标杆" in answer


async def test_what_else_a_tier_takes_beside_the_figures_given_is_every_condition(action):
    message = await reply(action, "我店好评率95% 上网率90%,还需要满足哪些才能评金牌",
                          entity("metric", "metric_positive_feedback"),
                          entity("metric", "metric_online_72h"), entity("tier", "gold"))
    assert all(f in message["answer"] for f in ("排名靠前", "钉钉", "其他条件")), message["answer"]


async def test_benefits_gained_from_one_tier_to_the_other_are_the_comparison(action):
    message = await reply(action, "目前银牌,下季度想升金牌,权益会多出来什么",
                          entity("tier", "silver"), entity("tier", "gold"))
    assert "区别在权益" in message["answer"] and "3个/月" in message["answer"], message["answer"]
    # When they take effect, not which they are, is another question.
    when = await reply(action, "银牌升到金牌以后,权益是马上生效吗", entity("tier", "silver"),
                       entity("tier", "gold"))
    assert "逐步生效" in when["answer"] and "区别在权益" not in when["answer"], when["answer"]


async def test_what_one_merchant_gets_of_a_total_is_said_to_be_missing(action):
    message = await reply(action, "那个近亿元的工具补贴,我们能分到多少", entity("measure", "measure_5"),
                          entity("aspect", "amount"))
    assert message["answer"].startswith("原文没有写明每家商家能分到多少"), message["answer"]


async def test_several_entries_asked_for_at_once_are_listed_by_the_programme(action):
    """"湖北商家有哪些…" with no programme named: several 春雷 measures answer it, and the
    plan's region facet lists them all; a region word the facet does not speak of ("全国")
    is not answered from it."""
    message = await reply(action, "专门给湖北商家的扶持都有哪些", entity("aspect", "region"))
    assert all(f in message["answer"] for f in ("极速到账", "备货贷", "10bps", "单独打标")), message["answer"]
    other = await reply(action, "有哪些优惠是全国商家都能拿的", entity("aspect", "region"),
                        entity("aspect", "eligibility"))
    assert not other["answer"].startswith("专门针对湖北地区商家的措施"), other["answer"]


async def test_programme_facts_from_the_documents_openings(action):
    """Why the tiers exist (出海, the document's first line) and where the service pack sits in
    each 1688 document."""
    why = await reply(action, "速卖通推金银牌的目的是什么", entity("tier", "all"), entity("aspect", "what"))
    assert "出海" in why["answer"], why["answer"]
    pack = await reply(action, "基础服务包是什么", entity("resource", "resource_service_pack"))
    assert "商家服务保障" in pack["answer"] and "经营赋能保障" in pack["answer"]


def test_ways_of_asking_no_word_list_holds_are_aspects(kb):
    assert "apply" in aspects_in(kb, "这个主播资格怎么样才能开通")
    assert "apply" in aspects_in(kb, "需要我们自己去报名吗")
    assert "eligibility" in aspects_in(kb, "这些优惠是给哪类企业准备的")
    assert "eligibility" in aspects_in(kb, "外地的卖家也能有吗")
    assert "time" in aspects_in(kb, "免费期从哪天起算")
    assert "time" in aspects_in(kb, "扣了分是马上降级吗")
    assert "what" in aspects_in(kb, "装修服务有咩作用")
    assert not {"apply", "eligibility", "time"} & set(aspects_in(kb, "哪种方式到账最快"))


async def test_a_day_asked_is_not_answered_by_a_length_of_time(action):
    message = await reply(action, "湖北的免费极速到账从哪天起算", entity("measure", "measure_1"))
    assert message["answer"].startswith("原文没有写明") and "两个月" in message["answer"]


async def test_a_day_outside_an_entrys_period_is_said_to_be_left_open(action):
    badge = entity("measure", "measure_14")
    outside = await reply(action, "交易勋章临时规则 3月5号那天还按高的等级显示吗", badge)
    assert outside["answer"].startswith("原文没有写明2020年3月5日的情况") and "2月11日" in outside["answer"]
    inside = await reply(action, "交易勋章临时规则 2月20号那天按哪个等级显示", badge)
    assert not inside["answer"].startswith("原文没有写明")


async def test_what_follows_an_entrys_period_is_said_to_be_left_open_unless_given(action):
    after = await reply(action, "交易勋章临时规则过了之后还会这样显示吗", entity("measure", "measure_14"))
    assert after["answer"].startswith("原文没有写明这一条在2020年3月1日结束以后怎样")
    # The live-streaming pack says what follows its 30 days (到期按平台标准考核).
    given = await reply(action, "30天达人主播资格到期以后呢", entity("resource", "resource_live"))
    assert not given["answer"].startswith("原文没有写明") and "到期按1688平台标准考核" in given["answer"]


def test_what_decides_a_figure_is_a_calculation(kb):
    assert "calculation" in aspects_in(kb, "最低几个点是按什么标准定的")
    assert "calculation" not in aspects_in(kb, "定了吗")


async def test_the_value_of_a_reference_a_cut_is_given_against_is_said_to_be_missing(action):
    message = await reply(action, "电票贴现的网商银行基准定价本身是多少", entity("measure", "measure_3"))
    assert message["answer"].startswith("原文没有写明您问的网商银行基准定价本身的数值")
    assert "20bps" in message["answer"]
    # The cut itself asked: answered as it is.
    cut = await reply(action, "电票贴现优惠多少个点", entity("measure", "measure_3"))
    assert not cut["answer"].startswith("原文没有写明") and "20bps" in cut["answer"]


async def test_a_second_row_of_a_table_asked_by_the_word_that_sets_it_apart(action):
    # 类目订阅 is named only by 类目, beside 关键词订阅 named in full.
    message = await reply(action, "询价单订阅3.0关键词订阅和类目各能订多少", entity("version", "version_v3"),
                          entity("feature", "feature_keyword"), entity("aspect", "amount"))
    assert "关键词订阅" in message["answer"] and "类目订阅" in message["answer"]
    alone = await reply(action, "询价单订阅3.0关键词订阅能订多少", entity("version", "version_v3"),
                        entity("feature", "feature_keyword"), entity("aspect", "amount"))
    assert "类目订阅" not in alone["answer"]


def test_a_thing_asked_whether_it_exists_may_be_a_distinguishing_word(kb):
    assert unheard_thing("直播名额满了有没有候补", "扶持名额10000家", kb.vocabulary) == "候补"


def test_places_papers_and_how_a_figure_is_counted_asked_in_other_words_are_aspects(kb):
    assert "place" in aspects_in(kb, "直播基地都在哪些城市")
    assert "documents" in aspects_in(kb, "要准备什么证件")
    assert "calculation" in aspects_in(kb, "两个店是分开算还是合起来算")
    assert "calculation" in aspects_in(kb, "是按自然月算还是按30天算")
    assert not {"place", "documents", "calculation"} & set(aspects_in(kb, "这个资格怎么拿"))


def test_names_asked_by_their_number_are_names(kb):
    assert names_unlisted("那几家服务商具体是哪5家", "1688组织10家经过认证的服务商")


async def test_both_tiers_and_something_no_comparison_answers_get_the_entry_the_message_ranks(action):
    message = await reply(action, "金银牌最终是谁来决定的", entity("tier", "all"))
    assert "酌情" in message["answer"] and "橱窗激励" not in message["answer"]
    compared = await reply(action, "金银牌有啥不同", entity("tier", "all"), entity("aspect", "compare"))
    assert "橱窗激励" in compared["answer"]


async def test_most_of_a_stores_figures_and_whether_it_becomes_a_tier_get_the_whole_conditions(action):
    metrics = [entity("metric", m) for m in ("metric_positive_feedback", "metric_online_72h",
                                              "metric_snad")]
    message = await reply(action, "好评率96 上网率88 纠纷率也不高 我评得上银牌吗", entity("tier", "silver"),
                          *metrics)
    assert "排名靠前" in message["answer"] and "有交易记录" in message["answer"]
    one = await reply(action, "好评率96 评得上银牌吗", entity("tier", "silver"), metrics[0])
    assert "92%" in one["answer"]


async def test_a_price_asked_of_what_only_a_subsidy_is_given_for_is_said_to_be_missing(action):
    message = await reply(action, "诚信通的年费现在是多少", entity("measure", "measure_8"))
    assert message["answer"].startswith("原文没有写明价格本身") and "100元" in message["answer"]
    subsidy = await reply(action, "自助续费补贴送多少钱", entity("measure", "measure_8"))
    assert not subsidy["answer"].startswith("原文没有写明") and "100元" in subsidy["answer"]


async def test_a_count_asked_by_a_measure_word_no_figure_uses_is_said_to_be_missing(action):
    pack = entity("resource", "resource_service_pack")
    message = await reply(action, "服务包帮忙装修旺铺 一共装几套", pack)
    assert message["answer"].startswith("原文没有写明具体数量(多少套)")


def test_a_use_no_document_speaks_of_is_unheard(kb):
    assert unheard_use("这个补贴可以转让吗", "赠送100元续费补贴", kb.vocabulary) == "转让"
    assert unheard_use("湖北商家能参加吗", "面向湖北地区商家", kb.vocabulary) is None


async def test_a_tiers_benefits_asked_beside_the_stores_own_figures_are_the_benefits(action):
    message = await reply(action, "我店好评率做到97%了 升银牌能多啥福利", entity("tier", "silver"))
    assert "橱窗" in message["answer"]


async def test_the_words_of_one_facet_of_the_entry_named_get_that_facet(action):
    message = await reply(action, "服务包说的电商三板斧具体指啥", entity("resource", "resource_service_pack"))
    assert "流量、转化、网规" in message["answer"]


@pytest.mark.parametrize("text", [
    "极速到账有什么省钱的办法", "好评率还有什么地方要注意", "资料提交后什么时候审核完",
    "两个店铺分别报名还是一起报名",
    "金牌会给哪些权益", "平台给哪些流量支持", "给谁打电话咨询", "什么样的人工客服",
    "一般店铺有几个橱窗", "看好评率还是等级", "立即下单还是加购物车", "分开发货还是一起发货",
    "按什么定价比较好", "文件打不开是什么原因", "什么文件格式可以上传", "哪个地方扣分了",
    "在哪个页面搞", "有什么用户数据", "如何领先同行", "怎么参加了还没流量",
])
def test_ordinary_questions_match_no_aspect_pattern(kb, text):
    assert not [a for a, patterns in kb.aspect_patterns.items() if any(p.search(text) for p in patterns)]


async def test_days_inside_a_period_and_differences_asked_are_not_said_to_be_missing(action):
    # The first day of the period, a cut asked, a length of time asked.
    first = await reply(action, "发货管理临时规则 1月19号以后的订单超时会怎样",
                        entity("measure", "measure_15"))
    assert not first["answer"].startswith("原文没有写明")
    cut = await reply(action, "电票贴现比基准定价低多少", entity("measure", "measure_3"))
    assert not cut["answer"].startswith("原文没有写明") and "20bps" in cut["answer"]
    length = await reply(action, "工业品牌服务商的免费服务有几天", entity("measure", "measure_9"))
    assert not length["answer"].startswith("原文没有写明") and "30天" in length["answer"]


def test_a_day_of_a_period_across_a_new_year_is_inside_it(kb):
    entry = next(e for e in kb.entries.values()
                 if e.window.valid_from and e.window.valid_until
                 and e.window.valid_from.year != e.window.valid_until.year)
    assert _beyond_window(kb, entry, "1月15号还有效吗", entry.answer) is None


def test_the_rankings_jieba_adds_its_words_over_the_shared_dictionary_cutting_as_a_copy_would(kb):
    import jieba

    from core.knowledge.retrieval import _all_names, _base_dictionary, _private_jieba
    base, total = _base_dictionary()
    size = len(base)
    own = _private_jieba()
    copied = jieba.Tokenizer()
    copied.FREQ, copied.total, copied.initialized = dict(base), total, True
    names = [n.strip().lower() for n in _all_names(kb) if len(n.strip()) > 1 and not n.isascii()]
    for name in names:
        own.add_word(name, freq=50000)
        copied.add_word(name, freq=50000)
    assert own.total == copied.total
    texts = ["疫情期间1688出的五大保障具体是哪五个", "金牌卖家的好评率要多少", "备货贷审批要几天",
             "急速到帐是什么", "询价单订阅V2和V3有什么区别", *names[:200]]
    for text in texts:
        assert own.lcut(text) == copied.lcut(text), text
    assert len(base) == size and all(name not in base or base[name] != 50000 for name in names[:50]), \
        "the shared dictionary is left as it was"
    assert len(dict(own.FREQ)) < len(names) * 12, "this instance holds only its own words"


def test_the_action_server_keeps_one_copy_of_jiebas_dictionary():
    """actions/server.py shares the ranking's copy of jieba's default dictionary with jieba's
    own instance, and keys jieba's parts of speech by the same word objects: the same words,
    parts of speech and counts, one copy less (each run in a process of its own: the sharing is
    for the whole process)."""
    import json
    import subprocess
    import sys
    code = """
import hashlib, json, sys, jieba, jieba.posseg as pseg
from actions.server import return_freed_memory
from core.knowledge import shared_store
from core.knowledge.retrieval import retriever_for, share_default_dictionary, share_parts_of_speech
shared = share_default_dictionary() if sys.argv[1] == "share" else False
retriever_for(shared_store().get())
compact = share_parts_of_speech() if shared else False
return_freed_memory()
table = pseg.dt.word_tag_tab
tags = hashlib.sha256("\\n".join(sorted(f"{w} {t}" for w, t in table.items())).encode()).hexdigest()
texts = ["疫情期间1688出的五大保障具体是哪五个", "金牌卖家的好评率要多少", "备货贷审批要几天",
         "候补商家怎么办"]
refused = False
if shared:
    try:
        jieba.add_word("新词语")
    except TypeError:
        refused = True
rss = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) // 1024
print(json.dumps({"shared": shared, "refused": refused, "rss": rss, "compact": compact,
                  "tags": tags, "size": len(table), "tag_objects": len({id(t) for t in table.values()}),
                  "cut": [jieba.lcut(t) for t in texts],
                  "pos": [[tuple(p) for p in pseg.cut(t)] for t in texts],
                  "freq": [jieba.get_FREQ(w, 0) for w in ("公司", "补贴", "重灾区", "没有的词")]}))
"""
    runs = {}
    for mode in ("share", "own"):
        out = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, check=True)
        runs[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    shared, own = runs["share"], runs["own"]
    assert shared["shared"] and shared["refused"] and not own["shared"]
    assert shared["compact"] and not own["compact"]
    for key in ("cut", "pos", "freq", "tags", "size"):
        assert shared[key] == own[key], key
    assert shared["size"] > 300_000 and shared["tag_objects"] < 100 < own["tag_objects"]
    assert shared["rss"] < own["rss"] - 80, (shared["rss"], own["rss"])


def test_a_names_sound_is_each_characters_reading_without_pypinyins_phrases():
    """The ranking imports pypinyin without its phrase dictionary (about 50 MB) and leaves the
    environment as it was; every character's sound is the one pypinyin gives with its phrases."""
    import json
    import subprocess
    import sys
    chars = "[chr(c) for c in range(0x3400, 0xa000)] + ['〇', '𠀀']"
    ours = f"""
import json, os, sys
from core.knowledge import retrieval
print(json.dumps({{"phrases": "pypinyin.phrases_dict" in sys.modules,
                  "environment": "PYPINYIN_NO_PHRASES" in os.environ,
                  "sounds": [retrieval._sound(c) for c in {chars}]}}))
"""
    pypinyins = f"""
import json, sys
from pypinyin import lazy_pinyin
print(json.dumps({{"phrases": "pypinyin.phrases_dict" in sys.modules,
                  "sounds": [lazy_pinyin(c)[0] for c in {chars}]}}))
"""
    runs = [json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                      check=True).stdout.strip().splitlines()[-1])
            for code in (ours, pypinyins)]
    assert not runs[0]["phrases"] and not runs[0]["environment"] and runs[1]["phrases"]
    assert len(runs[0]["sounds"]) > 27_000
    assert runs[0]["sounds"] == runs[1]["sounds"]


def test_what_is_derived_from_the_knowledge_base_is_what_reading_it_whole_gives(kb):
    """Each entry's names and the other platforms' words are made once per loaded knowledge
    base, and are what reading every name and entry on each question gave."""
    from actions.choose import _gather_words_elsewhere, _names_of, _words_elsewhere
    from core.knowledge.loader import load_knowledge

    ids = {i for aliases in kb.names.values() for i in aliases.values()}
    assert ids
    for topic in ids:
        own = (kb.name_of(topic) or "").lower()
        assert _names_of(kb, topic) == [own] + [alias for aliases in kb.names.values()
                                                for alias, i in aliases.items() if i == topic]
    assert _names_of(kb, None) == [] and _names_of(kb, "no_such_entry") == [""]
    for platform in kb.platforms:
        words = _words_elsewhere(kb, platform.id)
        assert words == _gather_words_elsewhere(kb, platform.id) and words
        assert _words_elsewhere(kb, platform.id) is words, "made once"
    reloaded = load_knowledge(knowledge_store()._directory)
    assert "_derived" not in reloaded.__dict__, "a knowledge base loaded anew derives anew"


def test_ranking_reads_the_scores_as_every_passage_read_them(kb):
    """Only the passages that scored are read: the same hits, scores and order as reading
    every passage's score."""
    from core.knowledge.retrieval import _KIND_WEIGHT

    retriever = Retriever(kb)
    texts = ["三天上网率最低要多少", "金牌每个月有几个橱窗", "保理融资要怎么申请", "银牌贷款打几折",
             "第15条是什么", "万店直播给多少曝光量", "随便问问"]
    for text in texts:
        ids = retriever._index.get_tokens_ids(retriever._expand(text, retriever._own(text)))
        if not ids:
            continue
        scores = retriever._index.get_scores(ids)
        best: dict = {}
        for i, (passage, score) in enumerate(zip(retriever.passages, scores, strict=True)):
            score = float(score) * _KIND_WEIGHT.get(passage.kind, 1.0)
            key = (passage.kind, passage.id)
            if score > 0 and (key not in best or score > best[key][0]):
                best[key] = (score, i)
        expected = [(retriever.passages[i].id, score) for score, i in
                    sorted(best.values(), key=lambda found: -found[0])[:5]]
        assert [(h.id, h.score) for h in retriever.rank(text)] == expected, text
