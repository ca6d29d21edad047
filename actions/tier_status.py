"""Live tier status: the caller's own store (or, for an agent, any store), audited."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from actions import context
from actions.alerts import remember_script
from actions.answers import Answer
from actions.choose import MIN_SCORE, decide
from actions.programme_terms import CONDITIONS, ActionAnswerProgramme, entry_answer
from actions.questions import parse_question
from actions.tier_render import render_status
from core import audit, clock, contract
from core.db.models import CategoryBenchmark, Merchant, MerchantMetrics
from core.db.session import shared_factory
from core.identity import Identity, secret, unseal, unseal_delegation
from core.knowledge import KnowledgeBase, KnowledgeStore, shared_store
from core.knowledge.retrieval import retriever_for
from core.limits import CLIENT_ADDRESS
from core.logsafe import failure
from core.tiers import engine

logger = logging.getLogger(__name__)
ACTION = "read_tier_status"
# Entity kinds that make a status question also a question about the tier rules.
RULE_KINDS = ("tier", "metric", "violation", "topic")
# Entity kinds a question about the merchant's own standing names.
STATUS_KINDS = ("tier", "metric", "violation", "merchant_id")


@dataclass
class Lookup:
    """What the database said: metrics and category average, or why there are none."""

    metrics: Optional[engine.Metrics] = None
    category_average: Optional[float] = None
    refused: Optional[str] = None  # reply key when access is refused
    missing: bool = False
    subject: Optional[str] = None  # the merchant id read (or looked for)


# Words an agent may type that look like ids but name something else ("1688", "V3", "72h").
_ID_TOKEN = re.compile(r"(?<![A-Za-z0-9._-])([A-Za-z0-9][A-Za-z0-9._-]{0,63})(?![A-Za-z0-9._-])")


def id_candidates(text: str) -> List[str]:
    """The runs of id characters in what an agent typed, in order ("AB12", "m-001", "7731"):
    which of them is a merchant the database decides (see lookup)."""
    return [m.group(1).rstrip("._-") for m in _ID_TOKEN.finditer(text or "") if m.group(1).rstrip("._-")]


def _metrics(merchant: Merchant, row: MerchantMetrics) -> engine.Metrics:
    return engine.Metrics(
        merchant_id=merchant.id, merchant_name=merchant.name, l2_category=merchant.l2_category,
        as_of=row.as_of, has_trade_90d=bool(row.has_trade_90d),
        payment_rank_top_pct=row.payment_rank_top_pct, online_72h_rate=row.online_72h_rate,
        snad_dispute_rate=row.snad_dispute_rate, positive_feedback_rate=row.positive_feedback_rate,
        dingtalk_active_days_90d=row.dingtalk_active_days_90d,
        ip_severe_infringements=row.ip_severe_infringements,
        ip_prohibited_points=row.ip_prohibited_points,
        trade_violation_points=row.trade_violation_points,
        banned_or_frozen=bool(row.banned_or_frozen),
        industry_conditions_met=bool(row.industry_conditions_met),
        china_good_seller_since=merchant.china_good_seller_since,
        current_tier=merchant.current_tier)


def _knowledge_word(kb: KnowledgeBase, word: str) -> bool:
    """Whether the knowledge base uses the word on its own ("1688", "V3", "72h"): not an id."""
    return re.search(rf"(?<![a-z0-9]){re.escape(word.lower())}(?![a-z0-9])", kb.vocabulary) is not None


def lookup(factory: "sessionmaker[Session]", identity: Optional[Identity],
           requested: Optional[str], delegate: Optional[Identity] = None,
           source: Optional[str] = None, candidates: Sequence[str] = (), exact: bool = False,
           merchant_script: Optional[str] = None) -> Lookup:
    """Authorise, read and audit in one short transaction (blocking: run it in a thread).

    The conversation's identity decides what may be read. When an agent delegated the turn to
    the assistant (`delegate`), the read is audited under that agent, naming the conversation's
    identity in the reason. `source`: the client's address, as the channel recorded it.
    `candidates`: for an agent who named no id the NLU recognised, the id-like words of the
    message; the first one the database has as a merchant is read. `exact`: the id as stored
    (a ticket's merchant), not also its upper-case form. `merchant_script`: the script a merchant
    reading their own store wrote in, kept in the same transaction for their tier alerts."""
    def record(session: Session, who: Optional[Identity], subject: Optional[str], action: str,
               allowed: bool, reason: str) -> None:
        if delegate is not None:
            owner = f"{who.role} {who.sub}" if who else "an anonymous visitor"
            reason = f"delegated by agent {delegate.sub} in the conversation of {owner}" + (
                f"; {reason}" if reason else "")
            who = delegate
        audit.record(session, who, subject, action, allowed, reason, source)

    with factory.begin() as session:
        if identity is None:
            record(session, None, requested, ACTION, False, "not authenticated")
            return Lookup(refused="status_need_login")
        if identity.role == "merchant":
            # A merchant's id matches exactly as issued: a token for "m1001" is not M1001's.
            if requested and requested != identity.sub:
                record(session, identity, requested, ACTION, False, "merchant asked about another merchant")
                return Lookup(refused="status_forbidden")
            subject = identity.sub
            merchant = session.get(Merchant, subject)
        else:
            if not requested:
                # "查一下商家 AB12": whatever the id's format, the database knows its merchants.
                requested = next((c for c in candidates if session.get(Merchant, c) is not None),
                                 None) or next((c.upper() for c in candidates
                                                if session.get(Merchant, c.upper()) is not None), None)
                if requested is None and any(any(ch.isalpha() for ch in c) and any(ch.isdigit() for ch in c)
                                             for c in candidates):
                    # An id typed that no merchant has: said so, not "which merchant?".
                    requested = next(c for c in candidates
                                     if any(ch.isalpha() for ch in c) and any(ch.isdigit() for ch in c))
            if not requested:
                record(session, identity, None, ACTION, False, "agent named no merchant")
                return Lookup(refused="status_agent_needs_id")
            subject = requested
            # Agents may read any merchant; the ids they type come upper-cased by the NLU.
            merchant = session.get(Merchant, subject)
            if merchant is None and not exact:
                merchant = session.get(Merchant, subject.upper())
        row = session.get(MerchantMetrics, merchant.id) if merchant else None
        if merchant is None or row is None:
            record(session, identity, subject, ACTION, True, "no such merchant or no metrics")
            return Lookup(missing=True, subject=subject)
        benchmark = session.get(CategoryBenchmark, merchant.l2_category)
        record(session, identity, merchant.id, ACTION, True, "")
        if identity.role == "merchant" and delegate is None:
            remember_script(session, merchant.id, merchant_script)
        return Lookup(_metrics(merchant, row), benchmark.snad_dispute_avg if benchmark else None,
                      subject=merchant.id)


class ActionTierStatus(Action):
    """'我现在是什么等级?' '我离金牌还差多少?' '查一下商家 M1001 的金银牌状态' (agents)."""

    def __init__(self, factory: Optional["sessionmaker[Session]"] = None,
                 store: Optional[KnowledgeStore] = None,
                 today: Callable[[], dt.date] = clock.today) -> None:
        self._factory = factory
        self._store = store
        self._today = today

    def name(self) -> Text:
        return "action_tier_status"

    def _session_factory(self) -> "sessionmaker[Session]":
        return self._factory or shared_factory()

    def _lookup(self, identity: Optional[Identity], requested: Optional[str],
                delegate: Optional[Identity] = None, source: Optional[str] = None,
                candidates: Sequence[str] = (), merchant_script: Optional[str] = None) -> Lookup:
        # Runs in a worker thread: migrating on first use must not stall the event loop.
        return lookup(self._session_factory(), identity, requested, delegate, source, candidates,
                      merchant_script=merchant_script)

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        if self._store is None:
            self._store = shared_store()
        kb = self._store.get()
        message = tracker.latest_message or {}
        named = parse_question(kb, message.get("entities") or [])
        kinds = {e.get("entity") for e in message.get("entities") or []}
        if (named.specific or "platform" in kinds) and not kinds & set(STATUS_KINDS):
            # "我是广东的,能用免费极速到账吗?" names a 1688 measure: a programme question, no data read.
            # "美团外卖怎么提高店铺评分" is about another platform's store: declined, no sign-in asked.
            return await ActionAnswerProgramme(self._store, self._today).run(dispatcher, tracker, domain)
        identity = unseal(secret(), tracker.sender_id, message.get("metadata"),
                          tracker.get_latest_input_channel())
        requested = next((str(v) for v in tracker.get_latest_entity_values("merchant_id")), None)
        raw_metadata = message.get("metadata")
        metadata = raw_metadata if isinstance(raw_metadata, dict) else {}
        delegate = unseal_delegation(secret(), tracker.sender_id, metadata)
        # A delegated turn runs on the agent's request, not from the merchant's address.
        address = None if delegate else metadata.get(CLIENT_ADDRESS)
        written = str(message.get(contract.PARSE_TEXT_ORIGINAL) or message.get("text") or "")
        candidates = ([c for c in id_candidates(written) if not _knowledge_word(kb, c)]
                      if identity and identity.role == "agent" and not requested else [])
        try:
            result = await asyncio.to_thread(self._lookup, identity, requested, delegate,
                                             address if isinstance(address, str) else None, candidates,
                                             message.get(contract.PARSE_SCRIPT))
        except SQLAlchemyError as e:
            logger.error("tier status lookup failed: %s", failure(e))
            self._send(dispatcher, kb.replies["status_unavailable"], "unavailable")
            return withdrawn()
        if result.refused == "status_need_login":
            # "我好评率91%够不够?" from a visitor: a question about a rule gets the rule.
            rule = self._rule_answer(kb, message)
            if rule is not None:
                rule.send(dispatcher)
                self._send(dispatcher, kb.replies["status_login_hint"], "refused")
                return withdrawn()
            text = (message.get("text") or "").lower()
            if not kinds & set(STATUS_KINDS) and not any(w in text for w in kb.status_words):
                # "说是5大资源,我只数到4个": in the first person, but nothing about a store's
                # status. Answered as any other question, or declined; no sign-in asked.
                return await ActionAnswerProgramme(self._store, self._today).run(dispatcher, tracker, domain)
        if result.refused:
            self._send(dispatcher, kb.replies[result.refused], "refused")
            return withdrawn()
        if result.missing:
            self._send(dispatcher, kb.replies["status_unknown_merchant"].format(
                merchant=result.subject or requested or (identity.sub if identity else "")), "missing")
            return withdrawn()
        metrics = result.metrics
        assert metrics is not None, "a lookup neither refused nor missing has metrics"
        rules = engine.shared_rules().get()
        if rules is None:
            self._send(dispatcher, kb.replies["status_unavailable"], "unavailable")
            return withdrawn()
        today = self._today()
        # The projection is for the next assessment: protection is judged on that day.
        verdict = engine.evaluate(metrics, rules, result.category_average,
                                  engine.next_assessment(rules, today))
        asked = [v for v in tracker.get_latest_entity_values("metric")]
        if not asked:
            # "那我呢?" after "金牌的好评率要多少?": the metric just discussed.
            previous = context.known(kb, context.from_slot(tracker.get_slot(contract.SLOT_PROGRAMME_CONTEXT)))
            asked = previous.of("metric") if previous else []
        only = [m for m in (_METRIC_IDS.get(a) for a in asked) if m]
        who = (metrics.merchant_name if identity and identity.role == "agent"
               else kb.replies["status_own_store"])
        self._send(dispatcher, render_status(kb, rules, metrics, verdict, today,
                                             f"{who}({metrics.merchant_id})", only), "status")
        return withdrawn()

    def _rule_answer(self, kb: KnowledgeBase, message: Dict[str, Any]) -> Optional[Answer]:
        """The rules a status question is about (the entry conditions when only a tier is named)."""
        text = message.get("text") or ""
        question = parse_question(kb, message.get("entities") or [])
        programme = ActionAnswerProgramme(self._store, self._today)
        today = self._today()
        choice = decide(kb, retriever_for(kb), question, text,
                        lambda q: programme.answer(kb, q, today))
        best = choice.hits[0] if choice.hits else None
        by_ranking = best is not None and best.score >= MIN_SCORE and best.kind in RULE_KINDS
        if not any(question.of(k) for k in RULE_KINDS) and not by_ranking:
            return None
        if isinstance(choice.answer, Answer) and choice.topic not in {t.id for t in kb.tiers}:
            return choice.answer
        overview = kb.entries.get(CONDITIONS)
        return entry_answer(kb, [overview], (), today) if overview else None

    @staticmethod
    def _send(dispatcher: CollectingDispatcher, text: str, outcome: str) -> None:
        # The outcome travels in the reply's metadata: handoff summaries read it.
        dispatcher.utter_message(response="utter_plain", text_body=text, outcome=outcome)


def withdrawn() -> List[EventType]:
    """Whatever the outcome, an offer made before this turn has been answered."""
    return [SlotSet(contract.SLOT_PENDING_OFFER, None)]


# Knowledge metric entries -> metric columns.
_METRIC_IDS = {
    "metric_payment_rank": "payment_rank_top_pct", "metric_online_72h": "online_72h_rate",
    "metric_snad": "snad_dispute_rate", "metric_positive_feedback": "positive_feedback_rate",
    "metric_dingtalk": "dingtalk_active_days_90d", "metric_industry": "industry_conditions_met",
}
