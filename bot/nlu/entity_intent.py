"""Rasa component: a message that names a specific knowledge entry is a programme question."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
)
from rasa.shared.nlu.training_data.message import Message


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class KnowledgeIntentAdjuster(GraphComponent):
    """Re-labels 'out of scope' as a programme question when an exact knowledge entry is named.

    The classifier only sees words; the entity extractor knows that "续费补贴" is measure 8.
    When the classifier's top guess is out_of_scope but the message names such an entry, the
    guess is swapped with the programme intent (keeping the classifier's confidence), so the
    question is answered instead of declined. Generic names (a tier, an aspect word, a topic)
    do not count: "金牌要交保证金吗" names gold but asks about something we do not know.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Returns the component's default config."""
        return {
            # The intent that answers knowledge questions.
            "intent": "ask_programme",
            # Top guesses that a named entry overrides.
            "overridable_intents": ["out_of_scope"],
            # Entity types that name one exact entry.
            "entry_entities": ["measure", "measure_number", "resource", "version", "feature",
                               "metric", "guarantee"],
            # Entity types that mean the question is about something else (another platform).
            "blocking_entities": ["platform"],
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._intent = config["intent"]
        self._overridable = set(config["overridable_intents"])
        self._entry_entities = set(config["entry_entities"])
        self._blocking = set(config["blocking_entities"])

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> KnowledgeIntentAdjuster:
        """Creates the component."""
        return cls(config)

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        """Lists the languages the component supports."""
        return ["zh"]

    def process(self, messages: List[Message]) -> List[Message]:
        """Swaps an overridable top intent for the programme intent when an entry is named."""
        for message in messages:
            intent = message.get(INTENT) or {}
            if intent.get(INTENT_NAME_KEY) not in self._overridable:
                continue
            kinds = {e.get("entity") for e in message.get(ENTITIES) or []}
            if not kinds & self._entry_entities or kinds & self._blocking:
                continue
            confidence = intent.get(PREDICTED_CONFIDENCE_KEY, 0.0)
            ranking = message.get(INTENT_RANKING_KEY) or []
            others = [r for r in ranking if r.get(INTENT_NAME_KEY) not in (self._intent, intent.get(INTENT_NAME_KEY))]
            ours = next((r for r in ranking if r.get(INTENT_NAME_KEY) == self._intent), None)
            swapped = {INTENT_NAME_KEY: intent.get(INTENT_NAME_KEY),
                       PREDICTED_CONFIDENCE_KEY: ours[PREDICTED_CONFIDENCE_KEY] if ours else 0.0}
            new_intent = {INTENT_NAME_KEY: self._intent, PREDICTED_CONFIDENCE_KEY: confidence}
            message.set(INTENT, new_intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [new_intent, swapped, *others], add_to_output=True)
        return messages
