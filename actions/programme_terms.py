"""Answers questions about programme terms: measures, resources, tables, tier rules, topics."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from actions.answers import Answer
from actions.choose import (
    CLEAR_MIN_SCORE,
    HINTED_MIN_SCORE,
    OUT_OF_SCOPE_MIN_SCORE,
    asks_both,
    clear_lead,
    decide,
    entry_about_other_platform,
    leaves_out,
    names_its_entry,
    names_other_platform_of_its_own,
    platforms_hinted,
    question_for,
    set_aside,
    site_of,
    without_background,
)
from actions.questions import Question, facet_keys, parse_question
from actions.status import entry_status, next_assessment_phrase, programme_status
from actions.tier_benefits import benefit_answer, comparison_answer
from core import clock, contract
from core.knowledge import KnowledgeBase, KnowledgeStore, shared_store
from core.knowledge.model import ALL_TIERS, COMPARISON_TOPIC, Entry, Programme, Source, Table
from core.knowledge.retrieval import retriever_for
from core.tiers import engine

# Entity kinds that name an entry of the knowledge base, in the order they win.
ENTRY_KINDS = ("metric", "violation", "resource", "guarantee", "section", "topic")
# The classifier's "not ours": the ranking must be this sure to answer anyway.
OUT_OF_SCOPE = "out_of_scope"
# Set by the NLU (bot.nlu.entity_intent) on a request that is not a question about the documents.
NOT_OURS = contract.PARSE_NOT_OURS
# The entry that states the conditions for both tiers.
CONDITIONS = "condition_overview"
# The entry that says how and when the tiers are given.
ASSESSMENT = "topic_assessment"
# Answers about these tier conditions end with an offer to check the merchant's own store.
STATUS_CHECK_KINDS = ("metric", "violation")


# A figure of an answer: a number with what it counts, a date, a percentage, a rate.
# (A bare number is a name, as in 1688, or part of one, as in V3.0.)
_FIGURE = re.compile(r"\d+(?:\.\d+)?\s*(?:%|bps|折|万|亿|元|个|家|款|条|项|名|分|天|日|月|年|小时|点|星)")


def missing_figures(answer: str, facets: Sequence[str]) -> List[str]:
    """The figures of an entry's answer that none of the facets given states."""
    given = "".join(facets)
    return [f for f in dict.fromkeys(_FIGURE.findall(answer)) if f not in given]


def entry_answer(kb: KnowledgeBase, entries: List[Entry], aspects: Sequence[str],
                 today: dt.date) -> Answer:
    """The facets asked for (or the entry's short answer), with the status of its window."""
    answer = Answer()
    for entry in entries:
        # "还能再减多少?" asks two things (deadline, rate): every facet asked for that exists.
        facets = [entry.facets[k] for k in facet_keys(entry.facets, list(aspects))]
        if "amount" in aspects:
            # "流量扶持保障有几条?": the count, from the measures that belong to it.
            members = [e.number for e in kb.entries.values() if e.group == entry.id and e.number]
            if members:
                answer.lines.append(kb.replies["group_count"].format(
                    name=entry.name, count=len(members), first=min(members), last=max(members)))
        if not facets:
            answer.add(entry.answer, entry.source)
        for facet in facets:
            # A facet is a fragment; say which measure or resource it belongs to.
            label = (kb.replies["measure_label"].format(number=entry.number, name=entry.name)
                     if entry.number else entry.name)
            answer.add(f"{label}:{facet}", entry.source)
        if facets and missing_figures(entry.answer, facets):
            # "免费培训多久,有上门吗": the facet answers one part; the entry's key figures
            # (and what the facet leaves out) follow, so that no part of the entry is lost.
            answer.add(entry.answer, entry.source)
        rules = engine.shared_rules().get() if entry.id == ASSESSMENT else None
        if rules is not None:
            # The months come from knowledge/tier_rules.yml, as in the tier status answers.
            answer.lines.append(next_assessment_phrase(kb, today, engine.next_assessment(rules, today)))
    # A tier condition: the merchant may want to know where their own store stands.
    answer.offers_status_check = any(e.kind in STATUS_CHECK_KINDS for e in entries)
    # One status line: the first dated entry's, else the programme's.
    dated = next((e for e in entries if e.window.dated), entries[0])
    answer.status = entry_status(kb, dated, today)
    return answer


def table_answer(kb: KnowledgeBase, table: Table, features: List[str], versions: List[str],
                 today: dt.date) -> Answer:
    """Cells, a row across versions, or the whole table for the versions compared."""
    columns = [c for c in table.columns if c in versions] or list(table.columns)
    rows = [r for r in table.rows if r.id in features] or list(table.rows)
    names = {c: kb.entries[c].name for c in columns}
    answer = Answer(status=programme_status(kb, kb.programmes[table.programme], today))
    answer.cite(table.source)
    if len(rows) > 1 or not features:
        answer.lines.append(kb.replies["table_header"].format(name=table.name))
        answer.lines.append(" | ".join([kb.replies["table_feature_column"],
                                        *(names[c] for c in columns)]))
    for row in rows:
        cells = [row.cells[c] for c in columns]
        if len(rows) == 1 and features:
            if len(columns) == 1:
                answer.lines.append(kb.replies["table_cell"].format(
                    version=names[columns[0]], feature=row.name, value=cells[0], note=row.note))
            else:
                answer.lines.append(f"{row.name}:" + ";".join(
                    f"{names[c]} {v}" for c, v in zip(columns, cells, strict=True)) + f"。{row.note}")
        else:
            answer.lines.append(" | ".join([row.name, *cells]))
    return answer


def _sent(dispatcher: CollectingDispatcher, answer: Answer, topic: Optional[str],
          resolved: Question, offer: bool) -> List[EventType]:
    """Send the answer; keep what it was about for follow-ups, and make or withdraw the offer."""
    answer.send(dispatcher)
    events: List[EventType] = [SlotSet(contract.SLOT_TOPIC, topic),
                               SlotSet(contract.SLOT_PROGRAMME_CONTEXT, context.to_slot(resolved))]
    if offer:
        dispatcher.utter_message(response="utter_offer_check_status")
        return events + [SlotSet(contract.SLOT_PENDING_OFFER, contract.OFFER_CHECK_STATUS)]
    return events + [SlotSet(contract.SLOT_PENDING_OFFER, None)]


def _programme_answer(kb: KnowledgeBase, programme: Programme, aspects: Sequence[str],
                      today: dt.date) -> Answer:
    """A programme as a whole: the facets asked about, or its overview."""
    answer = Answer(status=programme_status(kb, programme, today))
    source = Source(programme.document, programme.section)
    facets = [programme.facets[a] for a in aspects if a in programme.facets]
    for text in facets or [programme.answer or programme.name]:
        answer.add(text, source)
    return answer


def _named_properly(kb: KnowledgeBase, entity: dict, text: str) -> bool:
    """An entry named by its own name or a name of three characters or more ("进口货源",
    "提效工具"), not by a short word it shares with everyday talk ("跨境")."""
    if entity.get("entity") in ("aspect", "platform"):
        return False
    start, end = entity.get("start"), entity.get("end")
    if not isinstance(start, int) or not isinstance(end, int):
        return True
    written = text[start:end].lower()
    return len(written) >= 3 or written == (kb.name_of(str(entity.get("value"))) or "").lower()


class ActionAnswerProgramme(Action):
    """Answer a question about any programme term, choosing the entry from the entities."""

    def __init__(self, store: Optional[KnowledgeStore] = None,
                 today: Callable[[], dt.date] = clock.today) -> None:
        self._store = store
        self._today = today

    def name(self) -> Text:
        return "action_answer_programme"

    def _knowledge(self) -> KnowledgeBase:
        if self._store is None:
            self._store = shared_store()
        return self._store.get()

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kb = self._knowledge()
        message = tracker.latest_message or {}
        text = message.get("text") or ""
        entities = set_aside(without_background(message.get("entities") or [], text), text)
        question = parse_question(kb, entities)
        withdrawn = [SlotSet(contract.SLOT_PENDING_OFFER, None)]
        if question.of("platform") and not (question.specific and names_other_platform_of_its_own(
                kb, question, text)):
            today = self._today()
            hit = entry_about_other_platform(kb, retriever_for(kb), text)
            asked = question_for(hit, question) if hit else None
            answer, topic = self.answer(kb, asked, today) if asked else (None, None)
            if asked is None or not isinstance(answer, Answer) or leaves_out(kb, answer, asked, topic, text):
                # "天猫聚划算报名费多少": the 伙拼 section names 聚划算 but gives no fee; what is
                # asked is the other platform's.
                dispatcher.utter_message(response="utter_other_platform")
                return withdrawn
            return _sent(dispatcher, answer, topic, asked, offer=False)
        if (message.get("intent") or {}).get("name") == OUT_OF_SCOPE:
            if message.get(NOT_OURS):
                # A request to write or translate, or how to use another product: whatever its
                # words match, it is not a question about the documents.
                dispatcher.utter_message(response="utter_out_of_scope")
                return withdrawn
            return self._out_of_scope(dispatcher, kb, question, text, entities)
        previous = context.known(kb, context.from_slot(tracker.get_slot(contract.SLOT_PROGRAMME_CONTEXT)))
        elliptical = context.is_elliptical(text, entities, kb.follow_up)
        resolved = context.resolve(question, previous, elliptical)
        today = self._today()
        answer, topic = (self.answer(kb, resolved, today) if resolved is not question
                         else (None, None))
        if answer is None:
            # A new question: entities and the retrieval ranking decide together.
            choice = decide(kb, retriever_for(kb), question, text,
                            lambda q: self.answer(kb, q, today))
            answer, topic = choice.answer, choice.topic
            # The context of a follow-up: what was named, or the entry the ranking chose.
            resolved = question if choice.how == "entities" else choice.question
        if answer is None:
            # "怎么申请?" alone: which one? Anything longer that nothing matched: not ours.
            named = question.measure_numbers or any(k != "aspect" for k in question.ids)
            dispatcher.utter_message(response="utter_ask_which_programme" if named or elliptical
                                     else "utter_out_of_scope")
            return withdrawn
        if isinstance(answer, str):
            dispatcher.utter_message(response="utter_plain", text_body=answer)
            return withdrawn
        return _sent(dispatcher, answer, topic, resolved, offer=answer.offers_status_check)

    async def answer_if_clear(self, dispatcher: CollectingDispatcher,
                              tracker: Tracker) -> Optional[List[EventType]]:
        """A message the classifier is unsure about, answered when the ranking is not: one entry
        of our documents clearly ahead of every other and no other platform named. None when
        it is not that clear (the caller then asks which one was meant)."""
        kb = self._knowledge()
        message = tracker.latest_message or {}
        text = message.get("text") or ""
        entities = set_aside(without_background(message.get("entities") or [], text), text)
        question = parse_question(kb, entities)
        if question.of("platform"):
            return None
        today = self._today()
        choice = decide(kb, retriever_for(kb), question, text, lambda q: self.answer(kb, q, today))
        # "xunzhang会掉吗": an entry's own name, typed in pinyin or with a slip, is as clear as
        # a high score when nothing else comes near.
        if not isinstance(choice.answer, Answer) or not (
                clear_lead(choice.hits, CLEAR_MIN_SCORE)
                or (clear_lead(choice.hits) and names_its_entry(kb, choice.hits))):
            return None
        resolved = question if choice.how == "entities" else choice.question
        return _sent(dispatcher, choice.answer, choice.topic, resolved, offer=False)

    def _out_of_scope(self, dispatcher: CollectingDispatcher, kb: KnowledgeBase,
                      question: Question, text: str, entities: Sequence[dict] = ()) -> List[EventType]:
        """The classifier says 'not ours': answered only when the ranking is sure it is ours."""
        today = self._today()
        retriever = retriever_for(kb)
        choice = decide(kb, retriever, question, text, lambda q: self.answer(kb, q, today))
        # A programme's overview matches any message naming its platform ("速卖通Choice全托管"):
        # unless the message names the programme or one of its tiers, that match does not make
        # the ranking sure. A message asking about both of our platforms ("这俩活动还有效吗")
        # and no other platform is ours.
        named = set(question.of("programme")) | ({kb.tier_programme} if question.of("tier") else set())
        best = max((h.score for h in choice.hits
                    if not (h.kind == "programme" and h.facet is None and h.id not in named)
                    and not retriever.weak(h)), default=0.0)
        ours = not question.of("platform") and asks_both(kb, text)
        floor = 0.0 if ours else OUT_OF_SCOPE_MIN_SCORE
        hinted = [] if question.of("platform") else platforms_hinted(kb, text, question)
        on_hinted = [h for h in choice.hits if site_of(kb, h.programme) in hinted]
        if on_hinted and on_hinted[0].kind != "programme" and clear_lead(on_hinted, HINTED_MIN_SCORE):
            # "1688会给我们推疫情相关的商机资讯吗": one of our platforms named, and one of its
            # entries clearly ahead of the rest: the classifier's "not ours" is its wording
            # alone. A programme's facet is not enough ("速卖通联盟营销的佣金": a fee the
            # programme does not have is another product's).
            floor = 0.0
        # Two kinds of knowledge name together ("银牌…有冇标识", "被准出…橱窗") are ours however
        # the message is worded; one generic name ("金牌要交保证金吗") is not.
        named_kinds = {k for k, ids in question.ids.items() if ids and k not in ("aspect", "platform")}
        # A programme named by its own name ("1688那句口号", "春雷计划总价值") is ours too.
        sure = question.specific or len(named_kinds) >= 2 or bool(question.of("programme"))
        # A tier named as what the store may become ("我一单都没出 能评银牌吗") is ours too.
        sure = sure or bool(question.of("tier") and "eligibility" in choice.question.of("aspect"))
        # "跨境小包寄去美国要几多日到": an entry named only by a short word it shares with everyday
        # talk, no platform of ours named, and the entry does not give what is asked: the
        # classifier is right. (A ranking sure without any name is trusted as above.)
        short_names = [e for e in entities if e.get("entity") not in ("aspect", "platform")]
        unanswered = isinstance(choice.answer, Answer) and bool(choice.answer.missing) and bool(
            short_names) and not (hinted or question.of("programme") or question.of("tier")
                                  or any(_named_properly(kb, e, text) for e in short_names))
        if not isinstance(choice.answer, Answer) or (best < floor and not sure) or unanswered:
            dispatcher.utter_message(response="utter_out_of_scope")
            return [SlotSet(contract.SLOT_PENDING_OFFER, None)]
        resolved = question if choice.how == "entities" else choice.question
        return _sent(dispatcher, choice.answer, choice.topic, resolved, offer=False)

    def answer(self, kb: KnowledgeBase, q: Question, today: dt.date):
        """Pick what the question is about and compose the answer; (answer, topic id)."""
        entries = kb.entries
        if q.measure_numbers or q.of("measure"):
            measures = [entries[m] for m in q.of("measure")]
            for number in q.measure_numbers:
                measure = kb.measure(number)
                if measure is None:
                    count = len(kb.entries_of("measure"))
                    return kb.replies["unknown_measure"].format(count=count, number=number), None
                if measure not in measures:
                    measures.append(measure)
            return entry_answer(kb, measures, q.aspects, today), measures[0].id

        if q.of("feature") or q.of("version"):
            table = next(iter(kb.tables.values()))
            versions, features = q.of("version"), q.of("feature")
            if len(versions) == 1 and not features and not q.compare:
                return entry_answer(kb, [entries[versions[0]]], q.aspects, today), versions[0]
            if len(versions) == 1 and q.compare:
                # "询价单订阅3.0同2.0有咩分别": the name carries one version, so compare them all.
                versions = []
            return table_answer(kb, table, features, versions, today), table.id

        tiers = [kb.tier(t) for t in q.of("tier") if t != ALL_TIERS] or list(kb.tiers)
        if q.of("benefit"):
            benefits = [kb.benefit(b) for b in q.of("benefit")]
            if q.compare and len(tiers) > 1:
                return comparison_answer(kb, tiers, benefits, today), benefits[0].id
            return benefit_answer(kb, tiers, benefits, today), benefits[0].id

        for kind in ENTRY_KINDS:
            if q.of(kind):
                if kind == "resource" and "resource_inquiry" in q.of(kind) and q.compare:
                    table = next(iter(kb.tables.values()))
                    return table_answer(kb, table, [], [], today), table.id
                named = [entries[e] for e in q.of(kind)]
                return entry_answer(kb, named, q.aspects, today), named[0].id

        # "速卖通升级金银牌,说的优质商家是啥样的": both tiers and the programme itself named, no
        # comparison asked: the programme answers, not a table of the two tiers.
        whole = bool(q.of("programme")) and set(q.of("tier")) == {ALL_TIERS} and not q.compare
        if q.of("tier") and not whole:
            if {"apply", "time"} & set(q.aspects) or "calculation" in q.of("aspect"):
                # "金牌怎么评/几时评/有冇公式": how a tier is given is the assessment.
                return entry_answer(kb, [entries[ASSESSMENT]], (), today), ASSESSMENT
            if "eligibility" in q.aspects and CONDITIONS in entries:
                # "我的店能评银牌吗": who may have a tier is what its entry conditions say.
                return entry_answer(kb, [entries[CONDITIONS]], (), today), CONDITIONS
            if q.compare or len(tiers) > 1:
                return comparison_answer(kb, tiers, list(kb.benefits), today), COMPARISON_TOPIC
            return benefit_answer(kb, tiers, list(kb.benefits), today), tiers[0].id

        if q.of("programme"):
            programme = kb.programmes[q.of("programme")[0]]
            if (programme.id == kb.tier_programme and {"apply", "time"} & set(q.aspects)
                    and not set(q.aspects) & set(programme.facets)):
                # "新金银牌下次几时评": when the tiers are given is the assessment, as for a tier.
                return entry_answer(kb, [entries[ASSESSMENT]], (), today), ASSESSMENT
            return _programme_answer(kb, programme, q.aspects, today), programme.id
        return None, None
