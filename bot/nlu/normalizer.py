"""Rasa NLU component that makes simplified and traditional Chinese look the same downstream."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from core import contract
from core import script

# Keys added to each parsed message (and so to the tracker's parse data).
TEXT_ORIGINAL = contract.PARSE_TEXT_ORIGINAL
SCRIPT = contract.PARSE_SCRIPT
INTENT_PREFIX = "/"
# The full-width solidus: reads the same, but is not Rasa's intent prefix.
TEXT_SLASH = "\uff0f"
# Set when the message reads the same in both scripts ("好的"): replies keep the script of
# the merchant's earlier messages.
SCRIPT_NEUTRAL = contract.PARSE_SCRIPT_NEUTRAL
# Set when the NLU read only part of a long message (the config's max_chars).
TRUNCATED = contract.PARSE_TRUNCATED


# Registered as a tokenizer-type step (without subclassing Tokenizer) so that the
# recipe runs it over the training data too, not only at prediction time.
@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False
)
class OpenCCNormalizer(GraphComponent):
    """Converts message text to simplified Chinese and records the script it was written in."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Returns the component's default config."""
        return {
            # Lower-case Latin letters, so "Gold Seller" and "gold seller" are one token.
            "lowercase": True,
            # What the NLU reads of a long message: this many characters, a third from its
            # beginning and the rest from its end (where a rambling message puts its question).
            # Every later step's cost grows with the text (a 4,000-character paste cost the
            # server's event loop over a second); a question fits in far less. The channels
            # keep the whole message in the conversation.
            "max_chars": 200,
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        """Creates the component."""
        self._lowercase = bool(config.get("lowercase", True))
        self._max_chars = int(config.get("max_chars", 200))

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> OpenCCNormalizer:
        """Creates a new component."""
        return cls(config)

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> OpenCCNormalizer:
        """Loads the component (it has no trained state) with every script converter built."""
        script.warm()
        return cls(config)

    @staticmethod
    def required_packages() -> List[Text]:
        """Lists the packages the component needs."""
        return ["opencc"]

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        """Lists the languages the component supports."""
        return ["zh"]

    def _finish(self, text: Text) -> Text:
        return text.lower() if self._lowercase else text

    def _normalise_message(self, message: Message, add_to_output: bool) -> None:
        original = message.get(TEXT)
        if original is None:
            return
        if add_to_output and len(original) > self._max_chars:
            head = self._max_chars // 3
            original = original[:head] + "\n" + original[-(self._max_chars - head - 1):]
            message.set(TRUNCATED, True, add_to_output=True)
        entities = message.get(ENTITIES)
        if entities:
            detected = script.detect_script(original)
            normalised = self._normalise_annotated(message, original, detected, entities)
        else:
            normalised, detected = script.normalize(original, self._lowercase)
        if (normalised.lstrip().startswith(INTENT_PREFIX)
                and not original.lstrip().startswith(INTENT_PREFIX)):
            # A "/" that folding produced (the channels turn "/" that is not an offered
            # button's payload into "／") must stay text: the RegexMessageHandler at the end
            # of the pipeline reads a leading "/" as an intent with entities. Payloads that
            # arrive with a real "/" were let through by the channel and are unpacked there.
            normalised = normalised.replace(INTENT_PREFIX, TEXT_SLASH, 1)
        message.set(TEXT, normalised)
        message.set(TEXT_ORIGINAL, original, add_to_output=add_to_output)
        message.set(SCRIPT, detected, add_to_output=add_to_output)
        if add_to_output and script.is_neutral(original):
            message.set(SCRIPT_NEUTRAL, True, add_to_output=True)

    def _normalise_annotated(
        self,
        message: Message,
        original: Text,
        detected: Optional[Text],
        entities: List[Dict[Text, Any]],
    ) -> Text:
        """Normalises text piece by piece so that entity offsets still point at the values."""
        pieces: List[Text] = []
        cursor = 0
        new_entities = []
        for entity in sorted(entities, key=lambda e: e["start"]):
            start, end = entity["start"], entity["end"]
            pieces.append(self._piece(original[cursor:start], detected))
            new_start = sum(len(p) for p in pieces)
            value_text = self._piece(original[start:end], detected)
            pieces.append(value_text)
            new_entity = dict(entity, start=new_start, end=new_start + len(value_text))
            new_entities.append(new_entity)
            cursor = end
        pieces.append(self._piece(original[cursor:], detected))
        message.set(ENTITIES, new_entities)
        return "".join(pieces)

    def _piece(self, text: Text, detected: Optional[Text]) -> Text:
        # No clean() here: it trims and collapses spaces, which would shift entity offsets.
        return self._finish(script.to_simplified(script.fold(text), detected))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Normalises every training example."""
        for example in training_data.training_examples:
            self._normalise_message(example, add_to_output=False)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Normalises incoming messages, keeping the original text and the detected script."""
        for message in messages:
            self._normalise_message(message, add_to_output=True)
        return messages
