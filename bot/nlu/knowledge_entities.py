"""Rasa entity extractor resolving names in a question to exact knowledge-base entries.

A `spacy.blank("zh")` pipeline with the jieba segmenter and an EntityRuler whose phrase
patterns are generated from the aliases in `knowledge/` (`python -m bot.artefacts`). Each
match becomes an entity whose type is the entry's kind (measure, tier, benefit, metric, ...)
and whose value is the entry's id, so actions never have to guess from free text.
"""
from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

PATTERNS_FILE = "patterns.jsonl"
DICTIONARY_FILE = "userdict.txt"
MEASURE_NUMBER = "measure_number"
MERCHANT_ID = "merchant_id"
# Merchant ids as the platform writes them (M1001, ab12345); text is lower-cased by then.
_MERCHANT_ID = re.compile(r"(?<![a-z0-9_])([a-z]{1,3}[0-9]{3,12})(?![a-z0-9_])")

_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
           "八": 8, "九": 9}
_NUMERALS = "零一二两三四五六七八九十"
_NUMBER = rf"([0-9]+|[{_NUMERALS}]+)"
# A Chinese numeral that begins a word rather than numbers a measure: 措施一共 (in all), 一些,
# 一样, 一年, 十分, 三个月; 同 ("and" in Cantonese) only before another measure: 措施一同措施二.
_NOT_A_NUMBER = rf"(?![共些下样般直定起致切旦年次律并概者个分{_NUMERALS}]|同(?!措施|[0-9{_NUMERALS}]))"
# "第15条", "第十五项", "措施15", "measure 15", "15号措施"
_MEASURE_PATTERNS = [
    re.compile(rf"第\s*{_NUMBER}\s*[条项点个]"),
    re.compile(rf"(?:措施|measure|item)\s*([0-9]+|[{_NUMERALS}]+{_NOT_A_NUMBER})"),
    re.compile(rf"{_NUMBER}\s*号措施"),
]


def chinese_number(text: str) -> Optional[int]:
    """Parse 15, 十五, 二十, 一 as an integer (None when not a number)."""
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _DIGITS and ch != "十" for ch in text):
        return None
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_DIGITS.get(tens, 1) if tens else 1) * 10 + (_DIGITS.get(ones, 0) if ones else 0)
    value = 0
    for ch in text:
        value = value * 10 + _DIGITS[ch]
    return value


def measure_numbers(text: str) -> List[Dict[str, Any]]:
    """Entities for measure numbers written as 第N条 and similar."""
    found: List[Dict[str, Any]] = []
    for pattern in _MEASURE_PATTERNS:
        for match in pattern.finditer(text):
            number = chinese_number(match.group(1))
            if number is not None and not any(e["start"] == match.start() for e in found):
                found.append({"entity": MEASURE_NUMBER, "value": str(number),
                              "start": match.start(), "end": match.end(), "confidence": 1.0})
    return found


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True
)
class KnowledgeEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Tags knowledge-base entries in messages with a spaCy EntityRuler over jieba tokens."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Returns the component's default config."""
        return {
            # Directory with the generated patterns.jsonl (one spaCy pattern per line).
            "patterns_path": None,
            # Directory with the generated jieba user dictionary (same as JiebaTokenizer's).
            "dictionary_path": None,
        }

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage,
                 resource: Resource, source_dir: Optional[Path] = None) -> None:
        """Creates the component; builds the spaCy pipeline when patterns are available."""
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._nlp = None
        if source_dir is not None:
            self._nlp = self._build(source_dir)

    @staticmethod
    def _build(directory: Path):
        import jieba
        import spacy

        dictionary = directory / DICTIONARY_FILE
        if dictionary.exists():
            jieba.load_userdict(str(dictionary))
        nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
        ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
        with (directory / PATTERNS_FILE).open(encoding="utf-8") as f:
            patterns = [json.loads(line) for line in f if line.strip()]
        ruler.add_patterns(patterns)
        logger.info("Knowledge entity patterns loaded: %d", len(patterns))
        return nlp

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> KnowledgeEntityExtractor:
        """Creates a new, untrained component."""
        return cls(config, model_storage, resource)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> KnowledgeEntityExtractor:
        """Loads the patterns and dictionary saved in the model."""
        try:
            with model_storage.read_from(resource) as directory:
                return cls(config, model_storage, resource, Path(directory))
        except ValueError:
            logger.warning("%s has no trained patterns; no knowledge entities will be found",
                           cls.__name__)
            return cls(config, model_storage, resource)

    @staticmethod
    def required_packages() -> List[Text]:
        """Lists the packages the component needs."""
        return ["spacy", "jieba"]

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        """Lists the languages the component supports."""
        return ["zh"]

    def train(self, training_data: TrainingData) -> Resource:
        """Copies the generated patterns and dictionary into the model."""
        patterns_dir = self._config.get("patterns_path")
        if not patterns_dir or not (Path(patterns_dir) / PATTERNS_FILE).exists():
            raise FileNotFoundError(
                f"{PATTERNS_FILE} not found in {patterns_dir!r}: run `python -m bot.artefacts`")
        with self._model_storage.write_to(self._resource) as directory:
            shutil.copy(Path(patterns_dir) / PATTERNS_FILE, Path(directory) / PATTERNS_FILE)
            dictionary_dir = self._config.get("dictionary_path")
            if dictionary_dir and (Path(dictionary_dir) / DICTIONARY_FILE).exists():
                shutil.copy(Path(dictionary_dir) / DICTIONARY_FILE,
                            Path(directory) / DICTIONARY_FILE)
        return self._resource

    def extract(self, text: str) -> List[Dict[str, Any]]:
        """Entities in an already normalised text."""
        entities = measure_numbers(text)
        for match in _MERCHANT_ID.finditer(text):
            entities.append({"entity": MERCHANT_ID, "value": match.group(1).upper(),
                             "start": match.start(), "end": match.end(), "confidence": 1.0})
        if self._nlp is not None and text:
            for span in self._nlp(text).ents:
                entities.append({"entity": span.label_, "value": span.ent_id_ or span.text,
                                 "start": span.start_char, "end": span.end_char,
                                 "confidence": 1.0})
        return entities

    def process(self, messages: List[Message]) -> List[Message]:
        """Adds knowledge entities to each message."""
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            found = self.add_extractor_name(self.extract(text))
            message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages
