"""Typed, immutable view of the knowledge base."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Mapping, Optional, Tuple

# Entity value for "gold and silver" (金银牌): the question is about every tier.
ALL_TIERS = "all"


@dataclass(frozen=True)
class Source:
    """Where a fact comes from: the document and its section."""

    document: str
    section: str

    def cite(self) -> str:
        """Return the citation shown to merchants."""
        return f"{self.document} {self.section}".strip()


@dataclass(frozen=True)
class Programme:
    """A support programme with its validity window."""

    id: str
    name: str
    document: str
    valid_from: Optional[dt.date]
    valid_until: Optional[dt.date]
    validity_note: str = ""
    portal: str = ""

    def is_open_on(self, day: dt.date) -> bool:
        """Whether the programme's published validity window includes the day."""
        if self.valid_from and day < self.valid_from:
            return False
        return not (self.valid_until and day > self.valid_until)


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
class KnowledgeBase:
    """Everything the assistant knows about the programmes, loaded and validated."""

    programme: Programme
    tiers: Tuple[Tier, ...]
    benefits: Tuple[Benefit, ...]
    terms: Tuple[Term, ...]
    # kind ("tier", "benefit") -> lower-cased alias or id -> id
    aliases: Mapping[str, Mapping[str, str]] = field(default_factory=dict, compare=False)

    def tier(self, tier_id: str) -> Tier:
        """Return the tier with the given id."""
        return next(t for t in self.tiers if t.id == tier_id)

    def benefit(self, benefit_id: str) -> Benefit:
        """Return the benefit with the given id."""
        return next(b for b in self.benefits if b.id == benefit_id)

    def resolve(self, kind: str, value: object) -> Optional[str]:
        """Map an entity value (an id or any alias) to the id of a knowledge entry."""
        if not isinstance(value, str):
            return None
        return self.aliases.get(kind, {}).get(value.strip().lower())
