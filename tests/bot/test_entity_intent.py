"""The intent adjuster: named entries rescue 'out of scope', questions are never chit-chat."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.entity_intent import KnowledgeIntentAdjuster

CONFIG = Path(__file__).resolve().parents[2] / "config.yml"


def parsed(text, intent, *kinds):
    message = Message(data={"text": text})
    message.set("intent", {"name": intent, "confidence": 0.8})
    message.set("intent_ranking", [{"name": intent, "confidence": 0.8},
                                   {"name": "ask_programme", "confidence": 0.1}])
    message.set("entities", [{"entity": k, "value": "x"} for k in kinds])
    return message


@pytest.fixture
def adjuster():
    return KnowledgeIntentAdjuster(KnowledgeIntentAdjuster.get_default_config())


@pytest.mark.parametrize("text, intent, kinds", [
    ("谢谢,那银牌的呢?", "thank", ("tier",)),
    ("好的,那个延期到底到什么时候结束", "affirm", ()),
    ("再见之前问下,询价单1.0是不是只有邮件", "goodbye", ("version",)),
    ("唔係,我想問1688客服係咪全日都有人", "deny", ()),
    ("好的,那备货贷我还要不要自己跑银行办手续", "affirm", ()),
    ("行,电商三板斧具体是指啥", "affirm", ()),
    ("好,那我那边被罚过的店会影响这家评银牌不", "affirm", ("tier",)),
])
def test_a_message_that_asks_something_is_a_programme_question(adjuster, text, intent, kinds):
    [message] = adjuster.process([parsed(text, intent, *kinds)])
    assert message.get("intent")["name"] == "ask_programme"
    assert message.get("intent_ranking")[1]["name"] == intent


@pytest.mark.parametrize("text, intent", [
    ("好的谢谢", "thank"), ("再见", "goodbye"), ("可以吗?", "affirm"), ("你好", "greet"),
])
def test_chit_chat_that_asks_nothing_stays_chit_chat(adjuster, text, intent):
    [message] = adjuster.process([parsed(text, intent)])
    assert message.get("intent")["name"] == intent


def test_out_of_scope_yields_only_to_a_named_entry_of_ours(adjuster):
    [named] = adjuster.process([parsed("续费补贴是啥", "out_of_scope", "measure")])
    assert named.get("intent")["name"] == "ask_programme"
    [other] = adjuster.process([parsed("淘宝的续费补贴", "out_of_scope", "measure", "platform")])
    assert other.get("intent")["name"] == "out_of_scope"
    [plain] = adjuster.process([parsed("今天天气怎么样?", "out_of_scope")])
    assert plain.get("intent")["name"] == "out_of_scope"
    # A request to produce something is not a question about the entry it names.
    for text in ("帮我写几个女装的关键词", "help me translate 询价单 into English"):
        [request] = adjuster.process([parsed(text, "out_of_scope", "feature")])
        assert request.get("intent")["name"] == "out_of_scope"
        [guess] = adjuster.process([parsed(text, "ask_programme", "feature")])
        assert guess.get("intent")["name"] == "out_of_scope"
        assert guess.get("intent_ranking")[1]["name"] == "ask_programme"
        # The names it contains are incidental: no action answers from them.
        assert request.get("entities") == [] and guess.get("entities") == []
    [name] = adjuster.process([parsed("帮我想个卖女装的店铺名字", "ask_tier_status")])
    assert name.get("intent")["name"] == "out_of_scope"
    [question] = adjuster.process([parsed("帮我查下关键词订阅几个", "ask_programme", "feature")])
    assert question.get("intent")["name"] == "ask_programme"
    [service] = adjuster.process([parsed("帮忙做旺铺装修的那个服务包怎么领", "ask_programme", "resource")])
    assert service.get("intent")["name"] == "ask_programme"
    [human] = adjuster.process([parsed("帮我想想办法吧,转人工", "request_human")])
    assert human.get("intent")["name"] == "request_human"


def test_an_unsure_guess_yields_to_a_named_entry_of_ours(adjuster):
    # The fallback classifier runs first; a message naming an entry is answered, not clarified.
    [named] = adjuster.process([parsed("复工没方向 那个护航行动都干些啥", "nlu_fallback", "measure")])
    assert named.get("intent")["name"] == "ask_programme"
    [plain] = adjuster.process([parsed("那个东西怎么弄", "nlu_fallback", "aspect")])
    assert plain.get("intent")["name"] == "nlu_fallback"


def test_the_adjuster_runs_after_the_fallback_classifier():
    names = [c["name"] for c in yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["pipeline"]]
    assert names.index("bot.nlu.entity_intent.KnowledgeIntentAdjuster") > names.index("FallbackClassifier")


def test_a_handoff_or_menu_guess_yields_only_to_a_question_naming_something(adjuster):
    [benefit] = adjuster.process([parsed("银牌店有冇专属人工服务?", "request_human", "tier", "benefit")])
    assert benefit.get("intent")["name"] == "ask_programme"
    [platform] = adjuster.process([parsed("虾皮点样开店?", "ask_capabilities", "platform")])
    assert platform.get("intent")["name"] == "ask_programme"
    [plain] = adjuster.process([parsed("你们有没有人工?", "request_human")])
    assert plain.get("intent")["name"] == "request_human"
    [menu] = adjuster.process([parsed("你能做什么?", "ask_capabilities")])
    assert menu.get("intent")["name"] == "ask_capabilities"


def test_a_menu_guess_yields_to_a_question_with_content_not_about_the_assistant(adjuster):
    [content] = adjuster.process([parsed("白底图片到底有啥用处?", "ask_capabilities")])
    assert content.get("intent")["name"] == "ask_programme"
    [about_us] = adjuster.process([parsed("你到底能帮我做些什么事情?", "ask_capabilities")])
    assert about_us.get("intent")["name"] == "ask_capabilities"
    [short] = adjuster.process([parsed("能干嘛?", "ask_capabilities")])
    assert short.get("intent")["name"] == "ask_capabilities"
    # A handoff guess keeps needing a named entry: asking for a person is not a content question.
    [handoff] = adjuster.process([parsed("我想问下现在有没有人工客服可以聊", "request_human")])
    assert handoff.get("intent")["name"] == "request_human"


@pytest.mark.parametrize("text", [
    "现在想把资金周转起来,那个免费到账的服务能用多久?",
    "我们转型做跨境了,平台给新商家的扶持还有哪些?",
])
def test_a_handoff_guess_yields_to_a_question_that_asks_for_no_person(adjuster, text):
    [message] = adjuster.process([parsed(text, "request_human")])
    assert message.get("intent")["name"] == "ask_programme"


@pytest.mark.parametrize("text", [
    "这个问题你答不了吧,能不能帮我转接一下?",
    "说了半天没用,有没有真人可以聊?",
    "我要投诉,你们怎么处理的?",
])
def test_a_question_asking_for_a_person_stays_a_handoff(adjuster, text):
    [message] = adjuster.process([parsed(text, "request_human")])
    assert message.get("intent")["name"] == "request_human"


@pytest.mark.parametrize("text, intent, kinds", [
    ("钉钉怎么建企业群 拉员工进来", "ask_programme", ("metric",)),
    ("網商銀行點樣開戶?", "out_of_scope", ("measure",)),
    ("支付宝提现要手续费吗", "ask_programme", ()),
])
def test_how_to_use_a_product_the_documents_only_mention_is_not_ours(adjuster, text, intent, kinds):
    [message] = adjuster.process([parsed(text, intent, *kinds)])
    assert message.get("intent")["name"] == "out_of_scope"
    assert message.get("entities") == []
    assert message.get("not_ours") is True  # the answering action declines it outright


@pytest.mark.parametrize("text, kinds", [
    ("评金牌一定要高频使用钉钉吗", ("tier", "metric")),
    ("网商银行的备货贷最高能贷多少", ("measure",)),
])
def test_a_question_about_the_documents_naming_a_product_stays_ours(adjuster, text, kinds):
    [message] = adjuster.process([parsed(text, "ask_programme", *kinds)])
    assert message.get("intent")["name"] == "ask_programme"
    assert len(message.get("entities")) == len(kinds)


@pytest.mark.parametrize("text", ["你觉得现在做外贸还有没有前途啊", "靓仔你今年几岁了,结婚没",
                                  "你平时喜欢吃什么菜?"])
def test_chit_chat_to_the_assistant_is_declined_not_answered_with_the_menu(adjuster, text):
    [message] = adjuster.process([parsed(text, "ask_capabilities")])
    assert message.get("intent")["name"] == "out_of_scope"


@pytest.mark.parametrize("text", ["你到底能帮我做些什么事情?", "你是不是机器人啊?",
                                  "我可以问你哪些方面的问题?", "你係邊個嚟㗎?"])
def test_a_question_about_what_the_assistant_is_or_does_gets_the_menu(adjuster, text):
    [message] = adjuster.process([parsed(text, "ask_capabilities")])
    assert message.get("intent")["name"] == "ask_capabilities"


def test_a_word_that_only_contains_the_handoff_word_is_not_a_handoff(adjuster):
    # "工人工资" holds 人工 but asks for no person.
    [message] = adjuster.process([parsed("停工期间工人工资怎么发才合规?", "request_human")])
    assert message.get("intent")["name"] == "ask_programme"


def test_an_unsure_guess_yields_to_any_knowledge_name(adjuster):
    [tiers] = adjuster.process([parsed("在哪能查到我店现在是金牌还是银牌", "nlu_fallback", "tier", "tier")])
    assert tiers.get("intent")["name"] == "ask_programme"
    [aspect] = adjuster.process([parsed("这个到底还有没有效", "nlu_fallback", "aspect")])
    assert aspect.get("intent")["name"] == "nlu_fallback"
    # A confident "not ours" still needs a specific entry: "金牌要交保证金吗" names only a tier.
    [generic] = adjuster.process([parsed("金牌要交保证金吗", "out_of_scope", "tier")])
    assert generic.get("intent")["name"] == "out_of_scope"


def test_signing_in_through_a_product_to_see_ones_tier_stays_a_status_question(adjuster):
    [status] = adjuster.process([parsed("用钉钉登录以后怎么查我的等级", "ask_tier_status")])
    assert status.get("intent")["name"] == "ask_tier_status"
    assert status.get("not_ours") is None


def test_a_wage_in_cantonese_is_not_a_handoff(adjuster):
    # 人工 after a count of months is a wage; "转人工" and "人工客服" still ask for a person.
    [wage] = adjuster.process([parsed("辭退員工要補償幾多個月人工先合法?", "request_human")])
    assert wage.get("intent")["name"] == "ask_programme"
    [person] = adjuster.process([parsed("你哋有冇人工客服可以傾下?", "request_human")])
    assert person.get("intent")["name"] == "request_human"


def test_a_request_to_work_something_out_is_not_ours(adjuster):
    [sum_] = adjuster.process([parsed("帮我算一下贷50万利率5%每月还多少", "ask_programme", "aspect")])
    assert sum_.get("intent")["name"] == "out_of_scope" and sum_.get("not_ours") is True
    # Working out the merchant's own standing is a status question.
    [own] = adjuster.process([parsed("帮我算下我离金牌还差几个条件", "ask_tier_status", "tier")])
    assert own.get("intent")["name"] == "ask_tier_status"


def test_what_to_do_next_is_a_question_not_a_goodbye(adjuster):
    [message] = adjuster.process([parsed("考核数据窗口已经过了 那我接下来应该干嘛", "goodbye")])
    assert message.get("intent")["name"] == "ask_programme"


@pytest.mark.parametrize("intent", ["affirm", "deny", "greet", "thank"])
def test_a_conversational_guess_naming_a_merchant_id_is_a_status_request(adjuster, intent):
    [message] = adjuster.process([parsed("帮看下AB12", intent, "merchant_id")])
    assert message.get("intent")["name"] == "ask_tier_status"
    [plain] = adjuster.process([parsed("好的", intent)])
    assert plain.get("intent")["name"] == intent


@pytest.mark.parametrize("text", ["推荐个好用的erp", "有没有好用的打单软件推荐"])
def test_a_handoff_guess_on_a_message_asking_for_nobody_is_unsure_not_a_ticket(adjuster, text):
    [message] = adjuster.process([parsed(text, "request_human")])
    assert message.get("intent")["name"] == "nlu_fallback"
    assert message.get("intent_ranking")[1]["name"] == "request_human"


@pytest.mark.parametrize("text", ["转人工", "我不想跟机器人聊", "transfer me to customer service",
                                  "找你们小二", "我要投诉"])
def test_a_handoff_with_a_word_for_a_person_or_the_robot_stays_a_handoff(adjuster, text):
    [message] = adjuster.process([parsed(text, "request_human")])
    assert message.get("intent")["name"] == "request_human"


def test_who_asks_something_so_a_named_entry_outweighs_the_menu(adjuster):
    [message] = adjuster.process([parsed("线上直播授课是谁来讲", "ask_capabilities", "measure")])
    assert message.get("intent")["name"] == "ask_programme"
    [message] = adjuster.process([parsed("你是谁", "ask_capabilities")])
    assert message.get("intent")["name"] == "ask_capabilities"


@pytest.mark.parametrize("text", ["帮我把这句翻成英文:我们支持一件代发", "帮我将这段话改写一下 金牌橱窗"])
def test_a_request_to_translate_or_rewrite_a_sentence_is_not_ours(adjuster, text):
    [message] = adjuster.process([parsed(text, "ask_programme", "section")])
    assert message.get("intent")["name"] == "out_of_scope"
    assert message.get("not_ours") and not message.get("entities")


def test_a_clause_final_no_before_a_space_asks_something(adjuster):
    [message] = adjuster.process([parsed("我们上网率卡在85.0%整 算过线不 急", "affirm")])
    assert message.get("intent")["name"] == "ask_programme"


def test_a_count_of_people_is_no_word_for_a_person(adjuster):
    [message] = adjuster.process([parsed("推荐个好用的电商erp 我们就五六个人", "request_human")])
    assert message.get("intent")["name"] == "nlu_fallback"


@pytest.mark.parametrize("text, intent", [
    ("做直播的话术 帮我写一段", "ask_programme"),
    ("金牌卖家这个词,用韩文怎么说?", "ask_programme"),
    ("进价20块 卖8刀 帮我算下利润", "goodbye"),
    ("写段金牌店铺的开业公告", "ask_programme"),
    ("买家嫌贵的时候 客服话术有没有模板", "ask_programme"),
])
def test_a_request_after_a_first_clause_is_not_ours(adjuster, text, intent):
    [message] = adjuster.process([parsed(text, intent, "tier")])
    assert message.get("intent")["name"] == "out_of_scope"
    assert message.get("not_ours") and not message.get("entities")


@pytest.mark.parametrize("text", ["帮我看下我离金牌还差几个条件", "我的店,帮我查下好评率够不够",
                                  "橱窗的英文是不是showcase", "写好的offer怎么发布"])
def test_asking_for_help_with_ones_own_question_is_no_request(adjuster, text):
    [message] = adjuster.process([parsed(text, "ask_programme", "tier")])
    assert message.get("intent")["name"] == "ask_programme" and not message.get("not_ours")


@pytest.mark.parametrize("text, intent", [
    ("幫我諗個賣童裝嘅店名", "affirm"), ("帮我改个好听点的店铺名字", "thank"),
    ("麻烦你帮手改下文案", "affirm"),
])
def test_a_request_for_help_is_never_yes_no_or_thanks(adjuster, text, intent):
    [message] = adjuster.process([parsed(text, intent)])
    assert message.get("intent")["name"] == "out_of_scope"


def test_whether_a_message_asks_something_is_marked():
    [question] = KnowledgeIntentAdjuster(KnowledgeIntentAdjuster.get_default_config()).process(
        [parsed("国际快递寄去德国哪家最便宜", "nlu_fallback")])
    assert question.get("asks") is True
    [chat] = KnowledgeIntentAdjuster(KnowledgeIntentAdjuster.get_default_config()).process(
        [parsed("嗯嗯那行", "nlu_fallback")])
    assert chat.get("asks") is False


@pytest.mark.parametrize("text", ["帮我翻成日文:欢迎批发", "千牛的快捷短语怎么设置", "旺旺聊天记录能导出吗"])
def test_a_translation_or_another_products_settings_are_not_ours(adjuster, text):
    [message] = adjuster.process([parsed(text, "ask_programme", "feature")])
    assert message.get("intent")["name"] == "out_of_scope" and message.get("not_ours")


def test_a_conversational_guess_on_a_message_naming_an_entry_is_a_programme_question(adjuster):
    [message] = adjuster.process([parsed("询价单订阅的入口发我下", "goodbye", "feature", "aspect")])
    assert message.get("intent")["name"] == "ask_programme"
    [thanks] = adjuster.process([parsed("好的谢谢", "thank", "aspect")])
    assert thanks.get("intent")["name"] == "thank"


@pytest.mark.parametrize("text, intent", [
    ("新的金銀牌體系是哪一年開始升級的?", "start_over"),
    ("平台建議而家開始做咩準備", "start_over"),
    ("金牌晋级是系统自动算 还是有人审的", "greet"),
])
def test_starting_over_or_a_greeting_needs_a_word_of_its_own(adjuster, text, intent):
    """Starting over clears the conversation: a question the classifier reads as one is not."""
    [message] = adjuster.process([parsed(text, intent)])
    assert message.get("intent")["name"] != intent


@pytest.mark.parametrize("text, intent", [
    ("重新开始", "start_over"), ("由头嚟过", "start_over"), ("restart", "start_over"),
    ("你好", "greet"), ("早晨", "greet"), ("您好", "greet"), ("hi", "greet"),
])
def test_starting_over_and_greetings_in_their_own_words_stay(adjuster, text, intent):
    [message] = adjuster.process([parsed(text, intent)])
    assert message.get("intent")["name"] == intent
