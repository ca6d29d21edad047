"""What the conversations of a period show, for whoever owns the knowledge base: how many
questions were answered, how many needed a clarification or a person, which went unanswered
most often, and which programmes were asked about. The operations view of the agent console
and `python -m actions.cli report` print the same figures from this module.

Read from the conversations' store (Rasa's SQL tracker store, table `events`) and the
tickets; nothing is written.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from actions.handoff import NOT_ANSWERED, REFUSED, SMALL_TALK
from core import contract, script
from core.db.models import HandoffTicket
from core.knowledge import KnowledgeBase

# Responses that ask the merchant which of several things they meant.
CLARIFYING = {"utter_clarify", "utter_ask_which_programme"}
# Reply keys of the knowledge base whose text opens a choice between entries or platforms.
CLARIFYING_REPLIES = ("close_entries", "both_platforms")
# How many of the most frequent unanswered questions are listed.
TOP_UNANSWERED = 15
_PUNCTUATION = re.compile(r"[\s,,.。!!??;;:：、~～…\"'“”‘’()（）]+")


@dataclass
class Report:
    """The figures of one period (since inclusive, until exclusive; UTC)."""

    since: dt.datetime
    until: dt.datetime
    conversations: int = 0
    questions: int = 0
    answered: int = 0
    clarified: int = 0
    handed_off: int = 0  # conversations with a ticket opened in the period
    handoff_reasons: Dict[str, int] = field(default_factory=dict)
    unanswered: List[Tuple[str, int]] = field(default_factory=list)
    programmes: Dict[str, int] = field(default_factory=dict)

    @staticmethod
    def _rate(part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 0.0

    def as_dict(self) -> Dict[str, Any]:
        return {"since": self.since.isoformat() + "Z", "until": self.until.isoformat() + "Z",
                "conversations": self.conversations, "questions": self.questions,
                "answered": self.answered, "answered_rate": self._rate(self.answered, self.questions),
                "clarified": self.clarified, "clarification_rate": self._rate(self.clarified, self.questions),
                "handed_off": self.handed_off,
                "handoff_rate": self._rate(self.handed_off, self.conversations),
                "handoff_reasons": dict(sorted(self.handoff_reasons.items())),
                "unanswered": [{"question": q, "count": n} for q, n in self.unanswered],
                "programmes": dict(sorted(self.programmes.items(), key=lambda kv: (-kv[1], kv[0])))}

    def text(self) -> str:
        d = self.as_dict()
        lines = [f"period: {d['since']} to {d['until']}",
                 f"conversations: {self.conversations}",
                 f"questions: {self.questions}",
                 f"answered: {self.answered} ({d['answered_rate']:.1%})",
                 f"clarifications: {self.clarified} ({d['clarification_rate']:.1%})",
                 f"handed to an agent: {self.handed_off} conversations ({d['handoff_rate']:.1%})"]
        lines += [f"  reason {reason}: {count}" for reason, count in d["handoff_reasons"].items()]
        lines.append("questions per programme:")
        lines += [f"  {name}: {count}" for name, count in d["programmes"].items()] or ["  (none)"]
        lines.append("most frequent unanswered questions:")
        lines += [f"  {count} × {question}" for question, count in self.unanswered] or ["  (none)"]
        return "\n".join(lines)

    def csv(self) -> str:
        """One row per figure: section, key, value."""
        d = self.as_dict()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["section", "key", "value"])
        for key in ("since", "until", "conversations", "questions", "answered", "answered_rate", "clarified",
                    "clarification_rate", "handed_off", "handoff_rate"):
            writer.writerow(["total", key, d[key]])
        for reason, count in d["handoff_reasons"].items():
            writer.writerow(["handoff_reason", reason, count])
        for name, count in d["programmes"].items():
            writer.writerow(["programme", name, count])
        for question, count in self.unanswered:
            writer.writerow(["unanswered", _cell(question), count])
        return out.getvalue()


def _cell(text: str) -> str:
    """A merchant's words as a CSV cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@dataclass
class _Turn:
    text: str
    intent: Optional[str]
    replies: List[Tuple[Optional[str], Optional[str], str]] = field(default_factory=list)
    topic: Optional[str] = None


def _grouped(question: str) -> str:
    """A question as it is grouped with others: simplified, lower-case, without punctuation."""
    return _PUNCTUATION.sub("", script.normalize(question)[0])


def _events(engine: Engine, since: dt.datetime, until: dt.datetime) -> Iterable[Any]:
    start = since.replace(tzinfo=dt.timezone.utc).timestamp()
    end = until.replace(tzinfo=dt.timezone.utc).timestamp()
    with engine.connect() as connection:
        rows = connection.execution_options(stream_results=True).execute(text(
            "SELECT sender_id, type_name, data FROM events WHERE timestamp >= :start AND timestamp < :end "
            "AND type_name IN ('user', 'bot', 'slot') ORDER BY sender_id, id"), {"start": start, "end": end})
        yield from rows


def _conversations(rows: Iterable[Any]) -> Iterable[List[_Turn]]:
    """Each conversation's questions from the merchant, with what the assistant replied, one
    conversation at a time (the rows come ordered by conversation): memory holds one."""
    sender_now: Optional[str] = None
    turns: List[_Turn] = []
    for sender, kind, raw in rows:
        if sender != sender_now:
            if sender_now is not None:
                yield turns
            sender_now, turns = sender, []
        try:
            data = json.loads(raw) if isinstance(raw, str) else (raw or {})
        except ValueError:
            continue
        if kind == "user":
            metadata = data.get("metadata") or {}
            if metadata.get(contract.META_DELEGATED_BY):
                continue  # an agent's question to the assistant, not the merchant's
            parse = data.get("parse_data") or {}
            written = str(parse.get(contract.PARSE_TEXT_ORIGINAL) or data.get("text") or "")
            turns.append(_Turn(written, (parse.get("intent") or {}).get("name")))
        elif kind == "bot" and turns:
            metadata = data.get("metadata") or {}
            turns[-1].replies.append((metadata.get("utter_action"), metadata.get("outcome"),
                                      str(data.get("text") or "")))
        elif kind == "slot" and turns and data.get("name") == contract.SLOT_TOPIC and data.get("value"):
            turns[-1].topic = str(data["value"])
    if sender_now is not None:
        yield turns


def build(kb: KnowledgeBase, conversations_engine: Engine, tickets_engine: Engine,
          since: dt.datetime, until: dt.datetime) -> Report:
    """The report of [since, until) (naive datetimes in UTC)."""
    report = Report(since, until)
    openings = [script.normalize(kb.replies[key])[0][:8] for key in CLARIFYING_REPLIES if key in kb.replies]
    unanswered: Counter = Counter()
    shown: Dict[str, str] = {}
    programmes: Counter = Counter()
    for turns in _conversations(_events(conversations_engine, since, until)):
        # A button's payload ("/ask_tier_status") is a question too; small talk is not.
        asked = [t for t in turns if t.intent not in SMALL_TALK and t.text]
        if turns:
            report.conversations += 1
        for turn in asked:
            report.questions += 1
            said = [r for r in turn.replies if r[2]]
            answered = bool(said) and not any(a in NOT_ANSWERED or o in REFUSED for a, o, _ in said)
            clarified = any(a in CLARIFYING or any(script.normalize(t)[0].startswith(o) for o in openings)
                            for a, _, t in said)
            if clarified:
                report.clarified += 1
            elif answered:
                report.answered += 1
            else:
                key = _grouped(turn.text)
                unanswered[key] += 1
                shown.setdefault(key, turn.text)
            programme = kb.programme_of(turn.topic) if turn.topic else None
            if programme:
                name = kb.programmes[programme].name if programme in kb.programmes else programme
                programmes[name] += 1
    report.unanswered = [(shown[k], n) for k, n in unanswered.most_common(TOP_UNANSWERED)]
    report.programmes = dict(programmes)
    with tickets_engine.connect() as connection:
        opened = connection.execute(select(HandoffTicket.conversation_id, HandoffTicket.reason).where(
            HandoffTicket.created_at >= since, HandoffTicket.created_at < until)).all()
    report.handed_off = len({conversation for conversation, _ in opened})
    report.handoff_reasons = dict(Counter(reason for _, reason in opened))
    return report


def parse_day(value: str) -> dt.datetime:
    """A day (YYYY-MM-DD) or a moment (ISO 8601, UTC when no offset), as a naive UTC datetime."""
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise ValueError(f"not a date: {value!r} (use YYYY-MM-DD)") from None
    return moment
