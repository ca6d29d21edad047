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


_HAN = re.compile(r"[\u3400-\u9fff]")


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
            "request_pattern": r"^\W*(请|請)?(帮我|幫我|给我|給我|替我|帮忙|幫忙|help me)\s*"
                               r"(写|寫|翻译|翻譯|设计|設計|想个|想個|想几|想幾|起个|起個|编|編|生成|"
                               r"write|translate)",
            "request_exempt_intents": ["request_human"],
            # Conversational acts that a message asking something must not be answered with
            # ("谢谢,那银牌呢?", "好的,延期到什么时候?"): they yield to the programme intent.
            "conversational_intents": ["greet", "goodbye", "thank", "affirm", "deny"],
            # What makes a message a question: a question mark or a question word.
            "question_pattern": r"[??]|吗|么|呢|什么|啥|咋|多少|几|怎|如何|哪|能不能|可不可以|是不是|"
                                r"会不会|能否|可否|是否|有没有|有冇|係咪|系咪|唔|咩|乜|边|邊|点样|點樣|"
                                r"点解|點解|幾|嗎|麼|甚麼|what|how|when|"
                                # A-not-A: 要不要, 用不用, 行不行, 有没有; or a final 不/没
                                r"([\u4e00-\u9fff])[不没沒冇唔]\1|[不没沒冇]\s*$",
            # A question also needs content: a named knowledge entry, or this many Han characters.
            "min_question_chars": 6,
            # Intents that yield only to a question naming something ("银牌有没有专属人工客服?" is
            # about a benefit, "闲鱼怎么卖二手?" about another platform; "有没有人工?" stays).
            "naming_question_intents": ["request_human", "ask_capabilities"],
            # Intents that also yield to any question with content that does not address the
            # assistant itself: "电商三板斧是啥" asks about the documents, "你能做什么" about us.
            "content_question_intents": ["ask_capabilities"],
            "addressing_pattern": r"你|您|机器人|助手|功能|bot|help",
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._intent = config["intent"]
        self._overridable = set(config["overridable_intents"])
        self._entry_entities = set(config["entry_entities"])
        self._blocking = set(config["blocking_entities"])
        self._request = re.compile(config["request_pattern"], re.IGNORECASE)
        self._request_intent = config["request_intent"]
        self._request_exempt = set(config["request_exempt_intents"])
        self._conversational = set(config["conversational_intents"])
        self._question = re.compile(config["question_pattern"], re.IGNORECASE)
        self._min_chars = int(config["min_question_chars"])
        self._naming = set(config["naming_question_intents"])
        self._content = set(config["content_question_intents"])
        self._addressing = re.compile(config["addressing_pattern"], re.IGNORECASE)

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
        """A question with content that is not about the assistant ("白底图有啥用")."""
        return (intent in self._content and self._asks_something(message, set())
                and not self._addressing.search(message.get(TEXT) or ""))

    def process(self, messages: List[Message]) -> List[Message]:
        """Swaps the top intent for the programme intent when the message asks about an entry."""
        for message in messages:
            intent = message.get(INTENT) or {}
            kinds = {e.get("entity") for e in message.get(ENTITIES) or []}
            name = intent.get(INTENT_NAME_KEY)
            if name not in self._request_exempt and self._request.search(message.get(TEXT) or ""):
                self._as_request(message, intent)
                continue
            if name in self._overridable:
                if not kinds & self._entry_entities or kinds & self._blocking:
                    continue
            elif name in self._naming:
                if not (kinds - {"aspect"}) or not self._question.search(message.get(TEXT) or ""):
                    if not self._content_question(message, name):
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
