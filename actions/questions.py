"""A question as the knowledge ids its message names, per entity kind."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from core.knowledge import KnowledgeBase

# When a question names several aspects, the most specific one decides the facet.
ASPECT_PRIORITY = ("contact", "deadline", "apply", "eligibility", "rate", "amount", "region", "time", "what")
MEASURE_NUMBER = "measure_number"
# "保理融资几时到期" asks a time, and the entry's deadline is that time: an aspect an entry has
# no facet for is answered by its kindred facet, in this order.
KINDRED_ASPECTS: Dict[str, tuple] = {"time": ("deadline",)}


def facet_keys(facets: Mapping[str, str], aspects: List[str]) -> List[str]:
    """The facets that answer the aspects asked: each aspect's own, or else its kindred one."""
    keys: List[str] = []
    for aspect in aspects:
        key: Optional[str] = aspect
        if aspect not in facets:
            key = next((k for k in KINDRED_ASPECTS.get(aspect, ()) if k in facets), None)
        if key is not None and key not in keys:
            keys.append(key)
    return keys
# Names that exist only in our programmes, even when another platform is mentioned too.
SPECIFIC_KINDS = ("measure", "resource", "version", "feature", "section", "guarantee")


@dataclass
class Question:
    """The knowledge ids named in one message, per entity kind."""

    ids: Dict[str, List[str]] = field(default_factory=dict)
    measure_numbers: List[int] = field(default_factory=list)

    def of(self, kind: str) -> List[str]:
        return self.ids.get(kind, [])

    @property
    def aspect(self) -> Optional[str]:
        return next(iter(self.aspects), None)

    @property
    def aspects(self) -> List[str]:
        """The aspects named that facets answer, most specific first."""
        named = self.of("aspect")
        return [a for a in ASPECT_PRIORITY if a in named]

    @property
    def specific(self) -> bool:
        """Whether an entry only 1688 or AliExpress has is named (淘货源, 第3条, V2, ...)."""
        return bool(self.measure_numbers or any(self.of(k) for k in SPECIFIC_KINDS))

    @property
    def compare(self) -> bool:
        return "compare" in self.of("aspect")


def parse_question(kb: KnowledgeBase, entities: List[Dict[str, Any]]) -> Question:
    """Resolve the message's entities (ids or aliases) to knowledge ids, dropping unknowns."""
    question = Question()
    for entity in entities:
        kind = entity.get("entity")
        value: Any = entity.get("value")
        if kind == MEASURE_NUMBER:
            try:
                number = int(value)
            except (TypeError, ValueError):
                continue
            if number not in question.measure_numbers:
                question.measure_numbers.append(number)
            continue
        if not isinstance(kind, str):
            continue
        entry_id = kb.resolve(kind, value)
        if entry_id is not None and entry_id not in question.ids.setdefault(kind, []):
            question.ids[kind].append(entry_id)
    return question
