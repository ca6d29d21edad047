"""Rasa component: a message that names a specific knowledge entry is a programme question."""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    TEXT,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
)
from rasa.shared.nlu.training_data.message import Message

from core import contract


_HAN = re.compile(r"[\u3400-\u9fff]")
# Set on a request to produce something, or to use another product, for the answering action:
# "not ours", whatever the knowledge ranking finds in its words ("帮我翻译:我们支持一件代发").
NOT_OURS = contract.PARSE_NOT_OURS
ASKS = contract.PARSE_ASKS


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class KnowledgeIntentAdjuster(GraphComponent):
    """Re-labels 'out of scope' or a conversational act as a programme question when asked one.

    The classifier only sees words; the entity extractor knows that "续费补贴" is measure 8.
    When the classifier's top guess is out_of_scope but the message names such an entry, the
    guess is swapped with the programme intent (keeping the classifier's confidence), so the
    question is answered instead of declined. Generic names (a tier, an aspect word, a topic)
    do not count: "金牌要交保证金吗" names gold but asks about something we do not know.
    A greeting, thanks, goodbye or yes/no that asks a question with content ("好的,那延期到
    什么时候?") is a programme question too: chit-chat never answers a question.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Returns the component's default config."""
        return {
            # The intent that answers knowledge questions.
            "intent": "ask_programme",
            # Top guesses that a named entry overrides: "not ours", and the fallback classifier's
            # "unsure" (the adjuster runs after it).
            "overridable_intents": ["out_of_scope", "nlu_fallback"],
            # Of those, the guesses that mean "unsure" rather than "not ours": any knowledge
            # name (a tier, a topic) overrides them, not only a specific entry's.
            "unsure_intents": ["nlu_fallback"],
            # Entity types that name one exact entry.
            "entry_entities": ["measure", "measure_number", "resource", "version", "feature",
                               "metric", "guarantee"],
            # Entity types that mean the question is about something else (another platform).
            "blocking_entities": ["platform"],
            # A request to produce something ("帮我写个标题", "帮我翻译") is not a question about
            # the entry its words happen to name ("关键词"): it is "not ours", and the names it
            # contains are dropped so that no action answers from them.
            # ("帮忙做店铺装修的那个服务包" asks about one, "帮我转人工" stays a handoff.)
            "request_intent": "out_of_scope",
            # At the start of the message or of a later clause ("客服催付款的话术 帮我写一个").
            "request_pattern": r"(^|[\s,,。;;!!??])\W*(请|請)?(帮我|幫我|给我|給我|替我|帮忙|幫忙|help me)\s*"
                               r"((写|寫|翻译|翻譯|翻成|翻做|译成|譯成|设计|設計|想个|想個|想几|想幾|諗个|諗個|谂个|谂個|諗幾|谂几|起个|起個|改个|改個|"
                               r"取个|取個|改名|起名|编|編|生成|"
                               r"write|translate)|"
                               # "帮我把这句翻成英文:…", "帮我将标题改写一下"
                               r"(把|将|將)[^,,。;;]{0,20}?(翻成|翻做|翻译|翻譯|译成|譯成|改写|改寫|"
                               r"写成|寫成|润色|潤色))|"
                               # "客服话术怎么回比较好": words to say to buyers, which no document has.
                               r"话术|話術|"
                               # "写个1688的产品详情页文案": an order to write, opening the message.
                               r"^\W*(请|請)?(写|寫|编|編)(个|個|一个|一個|一段|一篇|几个|幾個|几句|幾句|段|篇|份)|"
                               # "gold seller用日文点讲", "这句英文怎么说": a translation.
                               r"(英文|英语|英語|日文|日语|日語|韩文|韩语|韓文|韓語)\s*"
                               r"(点讲|點講|怎么说|怎麼說|咋说|咋說|点写|點寫|怎么写|怎麼寫|怎么讲|怎麼講)",
            "request_exempt_intents": ["request_human"],
            # A sum to work out ("幫我計下借100萬要還幾多利息") is a request too, unless it is
            # the merchant's own standing ("帮我算下我离金牌还差多少": the usage exemptions).
            "calculation_pattern": r"(^|[\s,,。;;!!??])\W*(请|請)?(帮我|幫我|帮忙|幫忙|替我|help me)\s*"
                                   r"(算|計|计|calculate)",
            # How to use a third-party product the documents only mention (钉钉, 支付宝, 网商银行,
            # 千牛): "钉钉怎么建群" is not the tiers' "高频使用钉钉" condition. Treated as a request.
            "usage_pattern": r"(钉钉|釘釘|丁丁|支付宝|支付寶|网商银行|網商銀行|网商|網商|千牛|旺旺|企业微信|企業微信)"
                             r"[^,,。??!!]{0,8}(建群|建个群|建個群|拉群|拉人|拉员工|拉員工|开户|開戶|提现|提現|"
                             r"下载|下載|注册|註冊|登录|登錄|登陆|改密码|改密碼|绑定|綁定|解绑|解綁|转账|轉賬|"
                             r"充值|安装|安裝|加好友|打卡|考勤|审批流|審批流|视频会议|視頻會議|余额|餘額|"
                             r"修改手机|换手机|改名|收款|手续费|设置|設置|自动回复|自動回覆|快捷短语|快捷短語|聊天记录|聊天記錄|"
                             r"导出|導出|备份|備份)",
            # A message that asks for help ("幫我諗個店名") is no yes, no, hello or thanks: a
            # conversational guess on it is "not ours" unless the knowledge ranking finds it.
            "helping_pattern": r"^\W*(请|請)?(帮我|幫我|帮忙|幫忙|麻烦你|麻煩你|唔该帮|唔該幫|help me)",
            # Signing in to see one's own tier ("用钉钉登录后怎么查我的等级") is ours.
            "usage_exempt_intents": ["request_human", "ask_tier_status"],
            # Conversational acts that a message asking something must not be answered with
            # ("谢谢,那银牌呢?", "好的,延期到什么时候?"): they yield to the programme intent.
            "conversational_intents": ["greet", "goodbye", "thank", "affirm", "deny"],
            # A conversational guess on a message that names a merchant id ("查一下R7002") is a
            # status request: yes, no, hello and thanks never carry one.
            "status_entities": ["merchant_id"],
            "status_intent": "ask_tier_status",
            # What makes a message a question: a question mark or a question word.
            "question_pattern": r"[??]|吗|么|呢|什么|啥|咋|多少|几|怎|如何|哪|谁|能不能|可不可以|是不是|还是|還是|"
                                r"会不会|能否|可否|是否|有没有|有冇|係咪|系咪|唔|咩|乜|边|邊|点样|點樣|"
                                r"点解|點解|幾|嗎|麼|甚麼|干嘛|幹嘛|怎么办|怎麼辦|咋办|what|how|when|"
                                # A-not-A: 要不要, 用不用, 行不行, 有没有; or a final 不/没
                                r"([\u4e00-\u9fff])[不没沒冇唔]\1|[不没沒冇]\s*$|"
                                # a clause-final 不 before a space: "算过线不 急"
                                r"[\u4e00-\u9fff][不没沒冇]\s",
            # A question also needs content: a named knowledge entry, or this many Han characters.
            "min_question_chars": 6,
            # Intents that yield only to a question naming something ("银牌有没有专属人工客服?" is
            # about a benefit, "闲鱼怎么卖二手?" about another platform; "有没有人工?" stays).
            "naming_question_intents": ["request_human", "ask_capabilities"],
            # Intents that also yield to any question with content that does not address the
            # assistant itself: "电商三板斧是啥" asks about the documents, "你能做什么" about us.
            "content_question_intents": ["ask_capabilities"],
            "addressing_pattern": r"你|您|机器人|助手|功能|bot|help",
            # What a question to the assistant about itself asks: what it is or what it can do.
            # One that asks neither ("你觉得今年做电商还有戏吗", "美女你多大了") is chit-chat the
            # assistant declines, not a reason to show its menu.
            "capability_pattern": r"谁|边个|邊個|机器人|機器人|机械人|機械人|真人|人工智能|\bai\b|bot|robot|"
                                  r"程序|自动回复|自動回覆|功能|能做|能干|會做|会做|会干|会什么|會什麼|可以做|"
                                  r"可以干|能帮|能幫|可以帮|可以幫|能问|能問|可以问|可以問|问什么|问啥|回答|"
                                  r"答什么|介绍|介紹|help|帮助|幫助|怎么用|用法|识做|識做|做乜|干嘛|干啥|"
                                  r"叫啥|叫什么|叫咩|聊天|用途|作用|服务范围|範圍|范围",
            # A handoff guess on a question with content that asks for no person ("资金周转起来,
            # 极速到账能免费用多久?") is the classifier reading "转" as "转人工": it yields too.
            # In Cantonese 人工 after a count of months is a wage ("賠幾多個月人工").
            "handoff_pattern": r"(?<![月钱錢])人工(?!资|费|成本)|客服|真人|活人|转接|轉接|小二|专员|專員|坐席|找人|有人|人呢|投诉|"
                               r"投訴|电话|電話|agent|human|person",
            # The handoff intent needs some word for a person, the robot or a transfer: a guess of
            # "handoff" on a message with none ("推荐个好用的ERP") is the classifier unsure, and
            # opening a ticket for it would put a request nobody made in the agents' queue.
            "handoff_intents": ["request_human"],
            "handoff_evidence_pattern": r"人工|真人|活人|找人|有人|人呢|人类|人類|转|轉|客服|小二|坐席|专员|專員|"
                                        r"投诉|投訴|电话|電話|机器|機器|机械|機械|agent|human|person|service|"
                                        r"staff|robot|bot",
            # What such a guess becomes: "unsure" (the knowledge names, if any, then decide).
            "unsure_intent": "nlu_fallback",
            # Other acts that need a word of their own, or the guess is the classifier unsure:
            # starting over clears the conversation, so "新的金银牌体系是哪一年开始升级的" must not;
            # a greeting says hello ("金牌晋级是系统自动算 还是有人审的" does not). A message this
            # short ("好的") keeps its guess: it holds too little to be a question.
            "evidence_patterns": {
                "start_over": r"重新|從新|从新|从头|從頭|由头|由頭|重来|重來|重置|清空|清除|忘掉|忘记|忘記|"
                              r"嚟过|嚟過|再来|再來|restart|reset|start\s*over|clear",
                "greet": r"你好|您好|妳好|在吗|在嗎|在么|在麼|在不在|在唔在|哈喽|哈囉|哈啰|嗨|喂|早|午安|晚安|"
                         r"好呀|好啊|有人|打扰|打擾|请教|請教|咨询|諮詢|请问|請問|想问|想問|问下|問下|问点|問點|"
                         r"问个|問個|问题|問題|hello|hi\b|hey|hallo|morning",
            },
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._intent = config["intent"]
        self._overridable = set(config["overridable_intents"])
        self._unsure = set(config["unsure_intents"]) & self._overridable
        self._entry_entities = set(config["entry_entities"])
        self._blocking = set(config["blocking_entities"])
        self._request = re.compile(config["request_pattern"], re.IGNORECASE)
        self._request_intent = config["request_intent"]
        self._request_exempt = set(config["request_exempt_intents"])
        self._usage = re.compile(config["usage_pattern"], re.IGNORECASE)
        self._calculation = re.compile(config["calculation_pattern"], re.IGNORECASE)
        self._usage_exempt = set(config["usage_exempt_intents"])
        self._conversational = set(config["conversational_intents"])
        self._helping = re.compile(config["helping_pattern"], re.IGNORECASE)
        self._status_entities = set(config["status_entities"])
        self._status_intent = config["status_intent"]
        self._question = re.compile(config["question_pattern"], re.IGNORECASE)
        self._min_chars = int(config["min_question_chars"])
        self._naming = set(config["naming_question_intents"])
        self._content = set(config["content_question_intents"])
        self._addressing = re.compile(config["addressing_pattern"], re.IGNORECASE)
        self._handoff = re.compile(config["handoff_pattern"], re.IGNORECASE)
        self._capability = re.compile(config["capability_pattern"], re.IGNORECASE)
        self._handoff_intents = set(config["handoff_intents"])
        self._handoff_evidence = re.compile(config["handoff_evidence_pattern"], re.IGNORECASE)
        self._unsure_intent = config["unsure_intent"]
        self._evidence = {name: re.compile(pattern, re.IGNORECASE)
                          for name, pattern in (config.get("evidence_patterns") or {}).items()}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> KnowledgeIntentAdjuster:
        """Creates the component."""
        return cls(config)

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        """Lists the languages the component supports."""
        return ["zh"]

    def _asks_something(self, message: Message, kinds: set) -> bool:
        text = message.get(TEXT) or ""
        if not self._question.search(text):
            return False
        named = kinds - self._blocking - {"aspect"}
        return bool(named) or len(_HAN.findall(text)) >= self._min_chars

    def _content_question(self, message: Message, intent: Optional[Text]) -> bool:
        """A question with content that is not about the assistant ("白底图有啥用"), or a
        handoff guess on a question with content that asks for no person."""
        text = message.get(TEXT) or ""
        if not self._asks_something(message, set()):
            return False
        if intent in self._content:
            return not self._addressing.search(text)
        return intent in self._naming and not self._handoff.search(text)

    def _chit_chat(self, message: Message) -> bool:
        """A question to the assistant that asks neither what it is nor what it can do."""
        text = message.get(TEXT) or ""
        return (self._asks_something(message, set()) and bool(self._addressing.search(text))
                and not self._capability.search(text))

    def process(self, messages: List[Message]) -> List[Message]:
        """Swaps the top intent for the programme intent when the message asks about an entry."""
        for message in messages:
            intent = message.get(INTENT) or {}
            kinds = {e.get("entity") for e in message.get(ENTITIES) or []}
            name = intent.get(INTENT_NAME_KEY)
            text = message.get(TEXT) or ""
            # Whether it asks something: an unsure guess on a question is not between chit-chat acts.
            message.set(ASKS, self._asks_something(message, kinds), add_to_output=True)
            if (name not in self._request_exempt and self._request.search(text)) or (
                    name not in self._usage_exempt and (self._usage.search(text)
                                                        or self._calculation.search(text))):
                self._as_request(message, intent)
                continue
            if (name in self._handoff_intents and not self._handoff_evidence.search(text)) or (
                    name in self._evidence and not self._evidence[name].search(text)
                    and not kinds & self._status_entities and len(_HAN.findall(text)) >= self._min_chars):
                self._relabel(message, intent, self._unsure_intent)
                intent = message.get(INTENT) or {}
                name = intent.get(INTENT_NAME_KEY)
            if name in self._unsure:
                # The classifier is unsure: any knowledge name the message contains decides
                # ("在哪查我是金排还是银排", "晋级係咪平台自己话事").
                if not kinds - {"aspect"} or kinds & self._blocking:
                    continue
            elif name in self._overridable:
                if not kinds & self._entry_entities or kinds & self._blocking:
                    continue
            elif name in self._content and self._chit_chat(message):
                self._relabel(message, intent, self._request_intent)
                continue
            elif name in self._naming:
                if not (kinds - {"aspect"}) or not self._question.search(message.get(TEXT) or ""):
                    if not self._content_question(message, name):
                        continue
            elif name in self._conversational and kinds & self._status_entities:
                self._relabel(message, intent, self._status_intent)
                continue
            elif name in self._conversational and kinds & self._entry_entities:
                # "1688商+直播的网址发我一下" names an entry: no goodbye, thanks, yes or no.
                self._relabel(message, intent, self._intent)
                continue
            elif name in self._conversational and self._helping.search(text) \
                    and not self._asks_something(message, kinds):
                self._relabel(message, intent, self._request_intent)
                continue
            elif name not in self._conversational or not self._asks_something(message, kinds):
                continue
            self._relabel(message, intent, self._intent)
        return messages

    def _as_request(self, message: Message, intent: Dict[Text, Any]) -> None:
        """A request to produce something: "not ours", without the knowledge names it contains."""
        if intent.get(INTENT_NAME_KEY) != self._request_intent:
            self._relabel(message, intent, self._request_intent)
        kept = [e for e in message.get(ENTITIES) or [] if e.get("entity") in self._blocking]
        message.set(ENTITIES, kept, add_to_output=True)
        message.set(NOT_OURS, True, add_to_output=True)

    @staticmethod
    def _relabel(message: Message, intent: Dict[Text, Any], target: Text) -> None:
        """Swaps the top intent with `target`, keeping the classifier's confidence."""
        confidence = intent.get(PREDICTED_CONFIDENCE_KEY, 0.0)
        ranking = message.get(INTENT_RANKING_KEY) or []
        others = [r for r in ranking if r.get(INTENT_NAME_KEY) not in (target, intent.get(INTENT_NAME_KEY))]
        theirs = next((r for r in ranking if r.get(INTENT_NAME_KEY) == target), None)
        swapped = {INTENT_NAME_KEY: intent.get(INTENT_NAME_KEY),
                   PREDICTED_CONFIDENCE_KEY: theirs[PREDICTED_CONFIDENCE_KEY] if theirs else 0.0}
        new_intent = {INTENT_NAME_KEY: target, PREDICTED_CONFIDENCE_KEY: confidence}
        message.set(INTENT, new_intent, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [new_intent, swapped, *others], add_to_output=True)
