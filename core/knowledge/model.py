"""Typed, immutable view of the knowledge base."""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Dict, Hashable, List, Mapping, Optional, Pattern, Tuple, TypeVar

T = TypeVar("T")

# Entity value for "gold and silver" (金银牌): the question is about every tier.
ALL_TIERS = "all"
# Entity value for a platform whose rules we do not hold (淘宝, 亚马逊, Shopee, ...).
OTHER_PLATFORM = "other"
# The topic of an answer that compares the tiers.
COMPARISON_TOPIC = "tiers"


@dataclass(frozen=True)
class Source:
    """Where a fact comes from: the document and its section."""

    document: str
    section: str

    def cite(self) -> str:
        """Return the citation shown to merchants."""
        return f"{self.document} {self.section}".strip()


@dataclass(frozen=True)
class Window:
    """A validity window and/or an application deadline (all dates inclusive)."""

    valid_from: Optional[dt.date] = None
    valid_until: Optional[dt.date] = None
    deadline: Optional[dt.date] = None

    @property
    def dated(self) -> bool:
        """Whether any date is known."""
        return bool(self.valid_from or self.valid_until or self.deadline)


@dataclass(frozen=True)
class Programme:
    """A support programme with its validity window."""

    id: str
    name: str
    document: str
    window: Window
    validity_note: str = ""
    answer: str = ""
    section: str = ""
    aliases: Tuple[str, ...] = ()
    facts: Mapping[str, object] = field(default_factory=dict)
    # What the document says of the programme as a whole, per aspect (who, when, how much).
    facets: Mapping[str, str] = field(default_factory=dict)

    @property
    def valid_from(self) -> Optional[dt.date]:
        return self.window.valid_from

    @property
    def valid_until(self) -> Optional[dt.date]:
        return self.window.valid_until

    def is_open_on(self, day: dt.date) -> bool:
        """Whether the programme's published validity window includes the day."""
        if self.valid_from and day < self.valid_from:
            return False
        return not (self.valid_until and day > self.valid_until)


@dataclass(frozen=True)
class Entry:
    """One answerable fact: a measure, resource, metric, violation, topic, section, ..."""

    id: str
    kind: str
    programme: str
    name: str
    aliases: Tuple[str, ...]
    source: Source
    answer: str
    facets: Mapping[str, str] = field(default_factory=dict)
    window: Window = Window()
    number: Optional[int] = None
    group: Optional[str] = None
    values: Tuple[str, ...] = ()


@dataclass(frozen=True)
class TableRow:
    """One row of a comparison table: a feature and its value per column."""

    id: str
    name: str
    aliases: Tuple[str, ...]
    cells: Mapping[str, str]
    note: str = ""


@dataclass(frozen=True)
class Table:
    """A comparison table (columns are entry ids, e.g. versions)."""

    id: str
    programme: str
    resource: str
    name: str
    source: Source
    columns: Tuple[str, ...]
    rows: Tuple[TableRow, ...]


@dataclass(frozen=True)
class Tier:
    """A seller tier (gold, silver)."""

    id: str
    name: str
    section: str
    aliases: Tuple[str, ...]


@dataclass(frozen=True)
class TierBenefit:
    """What one tier gets under one benefit."""

    answer: str
    source: Source
    short: str = ""


@dataclass(frozen=True)
class Benefit:
    """A tier benefit, with what each tier gets."""

    id: str
    name: str
    category: str
    aliases: Tuple[str, ...]
    by_tier: Mapping[str, TierBenefit]


@dataclass(frozen=True)
class Term:
    """A domain term that must stay whole when text is segmented."""

    term: str
    aliases: Tuple[str, ...]


@dataclass(frozen=True)
class Silence:
    """A detail the documents do not give about some entries ("能不能累积到下个月"), and the
    words that ask for it: asked, the answer says so before the nearest facts."""

    about: Tuple[str, ...]  # entry, benefit, tier or programme ids ("tiers": the comparison)
    detail: str
    words: Tuple[str, ...]


@dataclass(frozen=True)
class Platform:
    """A platform the documents cover, its programmes and the words that point to it."""

    id: str
    name: str
    programmes: Tuple[str, ...]
    hints: Tuple[str, ...]


@dataclass(frozen=True)
class KnowledgeBase:
    """Everything the assistant knows about the programmes, loaded and validated."""

    programmes: Mapping[str, Programme]
    tier_programme: str
    tiers: Tuple[Tier, ...]
    benefits: Tuple[Benefit, ...]
    entries: Mapping[str, Entry]
    tables: Mapping[str, Table]
    terms: Tuple[Term, ...]
    aspects: Mapping[str, Tuple[str, ...]]
    replies: Mapping[str, str]
    # Words that mark an elliptical follow-up ("那 … 呢"); see actions/context.py.
    follow_up: Tuple[str, ...] = ()
    platforms: Tuple[Platform, ...] = ()
    # Terms both documents use, and groups of words merchants use for one another.
    shared_terms: Tuple[str, ...] = ()
    synonyms: Tuple[Tuple[str, ...], ...] = ()
    # Words that ask about both platforms at once ("两边", "两份文件").
    both_words: Tuple[str, ...] = ()
    # Words that ask about a store's own tier or figures ("我现在什么等级", "我达标了吗").
    status_words: Tuple[str, ...] = ()
    # Ways of asking an aspect that no word list holds ("咋开通"): glossary `aspect_patterns`.
    aspect_patterns: Mapping[str, Tuple[Pattern[str], ...]] = field(default_factory=dict)
    # Details the documents leave open, per entry (knowledge files' `silent_on`).
    silences: Tuple[Silence, ...] = ()
    # kind ("tier", "benefit", "measure", ...) -> lower-cased alias or id -> id
    aliases: Mapping[str, Mapping[str, str]] = field(default_factory=dict, compare=False)
    # The same without the ids: only the names merchants may type.
    names: Mapping[str, Mapping[str, str]] = field(default_factory=dict, compare=False)

    @cached_property
    def vocabulary(self) -> str:
        """Everything the knowledge base says or knows a name for (its replies aside),
        lower-cased in one string: a word not in it is one the documents never use. Built on
        first use, once per loaded knowledge base."""
        parts: List[str] = []
        _strings_of([getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "replies"],
                    parts)
        return "\n".join(parts).lower()

    def derived(self, key: Hashable, make: Callable[[], T]) -> T:
        """`make()`, something derived from this knowledge base alone, made on first use and
        kept with it: once per loaded knowledge base, as `vocabulary` is (an edited knowledge
        base is loaded anew, with nothing derived yet)."""
        kept: Dict[Hashable, Any] = self.__dict__.setdefault("_derived", {})
        if key not in kept:
            kept[key] = make()
        return kept[key]

    @property
    def programme(self) -> Programme:
        """The programme the seller tiers belong to."""
        return self.programmes[self.tier_programme]

    def programme_of(self, topic: str) -> Optional[str]:
        """The programme of an entry, benefit, tier, table, table row or programme id."""
        if topic in self.entries:
            return self.entries[topic].programme
        if topic in self.programmes:
            return topic
        if topic in self.tables:
            return self.tables[topic].programme
        for table in self.tables.values():
            if any(row.id == topic for row in table.rows):
                return table.programme
        if any(b.id == topic for b in self.benefits) or any(t.id == topic for t in self.tiers):
            return self.tier_programme
        return None

    def name_of(self, topic: str) -> Optional[str]:
        """The name merchants know an entry, benefit, tier, table, row or programme by."""
        if topic in self.entries:
            return self.entries[topic].name
        if topic in self.programmes:
            return self.programmes[topic].name
        names = {b.id: b.name for b in self.benefits}
        names.update({t.id: t.name for t in self.tiers})
        for table in self.tables.values():
            names[table.id] = table.name
            names.update({row.id: row.name for row in table.rows})
        return names.get(topic)

    def platform_of(self, programme_id: str) -> Optional[Platform]:
        """The platform a programme belongs to."""
        return next((p for p in self.platforms if programme_id in p.programmes), None)

    def tier(self, tier_id: str) -> Tier:
        """Return the tier with the given id."""
        return next(t for t in self.tiers if t.id == tier_id)

    def benefit(self, benefit_id: str) -> Benefit:
        """Return the benefit with the given id."""
        return next(b for b in self.benefits if b.id == benefit_id)

    def entries_of(self, kind: str) -> Tuple[Entry, ...]:
        """All entries of one kind, in file order."""
        return tuple(e for e in self.entries.values() if e.kind == kind)

    def measure(self, number: int) -> Optional[Entry]:
        """The 春雷 measure with the given number, if there is one."""
        return next((e for e in self.entries_of("measure") if e.number == number), None)

    def resolve(self, kind: str, value: object) -> Optional[str]:
        """Map an entity value (an id or any alias) to the id of a knowledge entry."""
        if not isinstance(value, str):
            return None
        return self.aliases.get(kind, {}).get(value.strip().lower())


def _strings_of(value: object, into: List[str]) -> None:
    """Every string inside `value` (dataclasses, mappings with their keys, sequences)."""
    if isinstance(value, str):
        into.append(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _strings_of(getattr(value, f.name), into)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _strings_of(key, into)
            _strings_of(item, into)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _strings_of(item, into)
