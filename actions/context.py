"""Follow-up questions: "那银牌呢?", "第3条呢?", "V2呢?", "怎么申请?" after what was just discussed.

Pure functions over `Question`s. The question just answered is kept in the
`programme_context` slot; a new message is read against it when it is elliptical (it names
only things of the kinds already under discussion and otherwise only follow-up words such as
"那 … 呢", from knowledge/glossary.yml) or names no subject at all (only what it asks, such as
"怎么申请?"). A message about something else starts a new topic and replaces the context.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional, Sequence

from actions.questions import MEASURE_NUMBER, Question
from core.knowledge import KnowledgeBase

# Entity kinds that replace each other in a follow-up: "第3条" replaces "备货贷".
FAMILY = {"measure": "measure", MEASURE_NUMBER: "measure", "guarantee": "measure",
          "resource": "resource", "version": "version", "feature": "feature",
          "section": "section", "tier": "tier", "benefit": "benefit", "metric": "rule",
          "violation": "rule", "topic": "rule", "programme": "programme"}
ASPECT = "aspect"
_PUNCTUATION = re.compile(r"[\s\W_]+", re.UNICODE)


def to_slot(question: Question) -> Dict[str, Any]:
    """The question as a JSON-friendly slot value."""
    return {"ids": {k: list(v) for k, v in question.ids.items() if v},
            "measure_numbers": list(question.measure_numbers)}


def from_slot(value: Any) -> Optional[Question]:
    """The question stored in the slot, or None for an empty or malformed value."""
    if not isinstance(value, dict):
        return None
    ids = value.get("ids")
    numbers = value.get("measure_numbers") or []
    if not isinstance(ids, dict) or not isinstance(numbers, list):
        return None
    question = Question(
        ids={str(k): [str(i) for i in v] for k, v in ids.items() if isinstance(v, list) and v},
        measure_numbers=[n for n in numbers if isinstance(n, int) and not isinstance(n, bool)])
    return question if question.ids or question.measure_numbers else None


def known(kb: KnowledgeBase, question: Optional[Question]) -> Optional[Question]:
    """The question without ids the knowledge base no longer has (it may have been edited)."""
    if question is None:
        return None
    ids = {kind: [i for i in values if kind == ASPECT or kb.resolve(kind, i) == i]
           for kind, values in question.ids.items()}
    ids = {kind: values for kind, values in ids.items() if values}
    if not ids and not question.measure_numbers:
        return None
    return Question(ids=ids, measure_numbers=list(question.measure_numbers))


def families(question: Question) -> set:
    """The subject families a question names (what it is about, not what it asks)."""
    named = {FAMILY.get(kind, kind) for kind, ids in question.ids.items()
             if ids and kind not in (ASPECT, "platform")}
    if question.measure_numbers:
        named.add("measure")
    return named


def is_elliptical(text: str, entities: Iterable[Dict[str, Any]], fillers: Sequence[str]) -> bool:
    """Whether the message is only names plus follow-up words ("那银牌呢?", "第3条呢")."""
    rest = text or ""
    spans = sorted(((e.get("start"), e.get("end")) for e in entities
                    if isinstance(e.get("start"), int) and isinstance(e.get("end"), int)),
                   reverse=True)
    for start, end in spans:
        rest = rest[:start] + " " + rest[end:]
    # Longest first, so that "那么" goes before "那".
    for word in sorted(fillers, key=len, reverse=True):
        rest = rest.replace(word, " ")
    return not _PUNCTUATION.sub("", rest)


def resolve(new: Question, previous: Optional[Question], elliptical: bool) -> Question:
    """The question to answer: the new one, or the previous one updated by a follow-up."""
    if previous is None:
        return new
    named, before = families(new), families(previous)
    if named and not (elliptical and named <= before):
        return new  # a question of its own: a new topic
    if not named and not new.of(ASPECT) and not elliptical:
        return new
    merged: Dict[str, List[str]] = {k: list(v) for k, v in previous.ids.items()}
    numbers = list(previous.measure_numbers)
    replaced = {FAMILY.get(k, k) for k, v in new.ids.items() if v} | (
        {"measure"} if new.measure_numbers else set())
    for kind in list(merged):
        if FAMILY.get(kind, kind) in replaced:
            del merged[kind]
    if "measure" in replaced:
        numbers = []
    for kind, ids in new.ids.items():
        if ids:
            merged[kind] = list(ids)
    return Question(ids=merged, measure_numbers=numbers + [n for n in new.measure_numbers
                                                           if n not in numbers])
