"""Load and validate the knowledge base from the YAML files in `knowledge/`."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml

from actions.knowledge.model import (
    ALL_TIERS,
    Benefit,
    KnowledgeBase,
    Programme,
    Source,
    Term,
    Tier,
    TierBenefit,
)

TIERS_FILE = "aliexpress_tiers.yml"
GLOSSARY_FILE = "glossary.yml"


class KnowledgeError(ValueError):
    """A knowledge file is missing or malformed; the message names file, entry and problem."""

    def __init__(self, file: Path, entry: str, problem: str) -> None:
        super().__init__(f"{file}: {entry}: {problem}")
        self.file, self.entry, self.problem = file, entry, problem


class _Reader:
    """Reads typed fields from one YAML mapping, raising KnowledgeError with context."""

    def __init__(self, file: Path, entry: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise KnowledgeError(file, entry, f"expected a mapping, got {type(data).__name__}")
        self.file, self.entry, self.data = file, entry, data

    def fail(self, problem: str) -> KnowledgeError:
        return KnowledgeError(self.file, self.entry, problem)

    def text(self, key: str, required: bool = True) -> str:
        value = self.data.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, (str, int, float)) or not str(value).strip():
            raise self.fail(f"'{key}' must be a non-empty text")
        return str(value).strip()

    def date(self, key: str) -> Optional[dt.date]:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise self.fail(f"'{key}' must be a date like 2024-03-31, got {value!r}") from None

    def texts(self, key: str) -> Tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(
            isinstance(v, (str, int)) and str(v).strip() for v in value
        ):
            raise self.fail(f"'{key}' must be a list of non-empty texts")
        return tuple(str(v).strip() for v in value)

    def mapping(self, key: str) -> Dict[str, Any]:
        value = self.data.get(key)
        if not isinstance(value, dict):
            raise self.fail(f"'{key}' must be a mapping")
        return value

    def items(self, key: str) -> List[Any]:
        value = self.data.get(key)
        if not isinstance(value, list) or not value:
            raise self.fail(f"'{key}' must be a non-empty list")
        return value


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text, so a bad date is reported with its entry."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as f:
            return yaml.load(f, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError:
        raise KnowledgeError(path, "(file)", "file not found") from None
    except UnicodeDecodeError as e:
        raise KnowledgeError(path, "(file)", f"not UTF-8 text ({e.reason})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise KnowledgeError(path, where, f"invalid YAML: {getattr(e, 'problem', e)}") from None


def _unique(file: Path, kind: str, ids: List[str]) -> None:
    seen = set()
    for entry_id in ids:
        if entry_id in seen:
            raise KnowledgeError(file, f"{kind} '{entry_id}'", "duplicate id")
        seen.add(entry_id)


def _alias_index(
    file: Path, kind: str, entries: List[Tuple[str, Tuple[str, ...]]]
) -> Dict[str, str]:
    index: Dict[str, str] = {}
    for entry_id, aliases in entries:
        for alias in (entry_id, *aliases):
            key = alias.lower()
            if index.get(key, entry_id) != entry_id:
                raise KnowledgeError(
                    file, f"{kind} '{entry_id}'", f"alias '{alias}' is also used by '{index[key]}'"
                )
            index[key] = entry_id
    return index


def _load_tiers(path: Path) -> Tuple[Programme, Tuple[Tier, ...], Tuple[Benefit, ...], Mapping]:
    root = _Reader(path, "(file)", _read_yaml(path))
    prog = _Reader(path, "programme", root.mapping("programme"))
    source = _Reader(path, "programme.source", prog.mapping("source"))
    programme = Programme(
        id=prog.text("id"),
        name=prog.text("name"),
        document=source.text("document"),
        valid_from=prog.date("valid_from"),
        valid_until=prog.date("valid_until"),
        validity_note=prog.text("validity_note", required=False),
        portal=prog.text("portal", required=False),
    )
    if programme.valid_from and programme.valid_until and programme.valid_until < programme.valid_from:
        raise prog.fail("'valid_until' is before 'valid_from'")

    tiers = []
    for i, raw in enumerate(root.items("tiers")):
        r = _Reader(path, f"tiers[{i}]", raw)
        tiers.append(Tier(id=r.text("id"), name=r.text("name"), section=r.text("section"),
                          aliases=r.texts("aliases")))
    _unique(path, "tier", [t.id for t in tiers])
    tier_ids = {t.id: t for t in tiers}

    benefits = []
    for i, raw in enumerate(root.items("benefits")):
        r = _Reader(path, f"benefits[{i}]", raw)
        entry = f"benefit '{r.text('id')}'"
        r = _Reader(path, entry, raw)
        by_tier = {}
        for tier_id, tier_raw in r.mapping("tiers").items():
            if tier_id not in tier_ids:
                raise r.fail(f"unknown tier '{tier_id}' (known: {', '.join(tier_ids)})")
            tr = _Reader(path, f"{entry} tier '{tier_id}'", tier_raw)
            section = f"{tier_ids[tier_id].section} {tr.text('section')}"
            by_tier[tier_id] = TierBenefit(
                answer=tr.text("answer"), source=Source(programme.document, section)
            )
        benefits.append(Benefit(id=r.text("id"), name=r.text("name"), category=r.text("category"),
                                aliases=r.texts("aliases"), by_tier=by_tier))
    _unique(path, "benefit", [b.id for b in benefits])

    all_tiers = (ALL_TIERS, root.texts("all_tiers_aliases"))
    aliases = {
        "tier": _alias_index(path, "tier", [(t.id, t.aliases) for t in tiers] + [all_tiers]),
        "benefit": _alias_index(path, "benefit", [(b.id, b.aliases) for b in benefits]),
    }
    return programme, tuple(tiers), tuple(benefits), aliases


def _load_glossary(path: Path) -> Tuple[Term, ...]:
    root = _Reader(path, "(file)", _read_yaml(path))
    terms = []
    for i, raw in enumerate(root.items("terms")):
        r = _Reader(path, f"terms[{i}]", raw)
        terms.append(Term(term=r.text("term"), aliases=r.texts("aliases")))
    return tuple(terms)


def load_knowledge(directory: Path) -> KnowledgeBase:
    """Load the whole knowledge base, or raise KnowledgeError; never returns a partial base."""
    directory = Path(directory)
    programme, tiers, benefits, aliases = _load_tiers(directory / TIERS_FILE)
    terms = _load_glossary(directory / GLOSSARY_FILE)
    return KnowledgeBase(programme=programme, tiers=tiers, benefits=benefits, terms=terms,
                         aliases=aliases)
