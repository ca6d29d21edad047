"""Load and validate the knowledge base from the YAML files in `knowledge/`."""
from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Pattern, Tuple

import opencc
import yaml

from core.knowledge.model import (
    ALL_TIERS,
    COMPARISON_TOPIC,
    OTHER_PLATFORM,
    Benefit,
    Entry,
    KnowledgeBase,
    Platform,
    Programme,
    Silence,
    Source,
    Table,
    TableRow,
    Term,
    Tier,
    TierBenefit,
    Window,
)

GLOSSARY_FILE = "glossary.yml"
REPLIES_FILE = "replies.yml"
# Read by core/tiers/engine.py, not a programme file.
TIER_RULES_FILE = "tier_rules.yml"
ENTRY_KINDS = ("measure", "guarantee", "resource", "version", "metric", "violation", "topic",
               "section")
ASPECTS = ("amount", "rate", "eligibility", "region", "apply", "deadline", "time", "what",
           "compare", "cost", "calculation", "contact", "stacking", "documents", "position", "repayment",
           "place")


def _facets(r: "_Reader") -> Dict[str, str]:
    """An entry's or programme's `facets`: aspect -> answer, validated."""
    facets = r.data.get("facets") or {}
    if not isinstance(facets, dict):
        raise r.fail("'facets' must be a mapping of aspect to answer")
    for aspect, text in facets.items():
        if aspect not in ASPECTS:
            raise r.fail(f"unknown facet '{aspect}' (known: {', '.join(ASPECTS)})")
        if not isinstance(text, str) or not text.strip():
            raise r.fail(f"facet '{aspect}' must be a non-empty text")
    return {k: v.strip() for k, v in facets.items()}


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
            isinstance(v, (str, int, float)) and str(v).strip() for v in value
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
            return yaml.load(f, Loader=_Loader)  # _Loader is a SafeLoader subclass
    except FileNotFoundError:
        raise KnowledgeError(path, "(file)", "file not found") from None
    except UnicodeDecodeError as e:
        raise KnowledgeError(path, "(file)", f"not UTF-8 text ({e.reason})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise KnowledgeError(path, where, f"invalid YAML: {getattr(e, 'problem', e)}") from None


def _window(r: _Reader) -> Window:
    window = Window(r.date("valid_from"), r.date("valid_until"), r.date("deadline"))
    if window.valid_from and window.valid_until and window.valid_until < window.valid_from:
        raise r.fail("'valid_until' is before 'valid_from'")
    return window


class _Builder:
    """Accumulates the entries of every file, checking ids and aliases across files."""

    def __init__(self) -> None:
        self.programmes: Dict[str, Programme] = {}
        self.entries: Dict[str, Entry] = {}
        self.tables: Dict[str, Table] = {}
        self.tiers: List[Tier] = []
        self.benefits: List[Benefit] = []
        self.tier_programme = ""
        self.silences: List[Tuple[Path, int, Silence]] = []
        self.aliases: Dict[str, Dict[str, str]] = {}
        self.names: Dict[str, Dict[str, str]] = {}  # declared names only, without ids
        self._owner: Dict[str, Tuple[str, str]] = {}  # alias -> (kind, id)
        self._ids: Dict[str, str] = {}

    def known(self, entry_id: str) -> bool:
        """Whether an entry, benefit, tier, table or programme has this id."""
        return entry_id in self._ids

    def claim_id(self, r: _Reader, entry_id: str) -> None:
        if entry_id in self._ids:
            raise r.fail(f"duplicate id '{entry_id}' (also in {self._ids[entry_id]})")
        self._ids[entry_id] = str(r.file.name)

    def add_aliases(self, r: _Reader, kind: str, entry_id: str, names: Tuple[str, ...]) -> None:
        index = self.aliases.setdefault(kind, {})
        index[entry_id.lower()] = entry_id
        for alias in names:
            key = alias.strip().lower()
            owner = self._owner.get(key)
            if owner and owner != (kind, entry_id):
                raise r.fail(f"alias '{alias}' is also used by {owner[0]} '{owner[1]}'")
            self._owner[key] = (kind, entry_id)
            self.names.setdefault(kind, {})[key] = entry_id
            index[key] = entry_id

    def programme(self, path: Path, root: _Reader) -> Programme:
        r = _Reader(path, "programme", root.mapping("programme"))
        source = _Reader(path, "programme.source", r.mapping("source"))
        programme = Programme(
            id=r.text("id"), name=r.text("name"), document=source.text("document"),
            window=_window(r), validity_note=r.text("validity_note", required=False),
            answer=r.text("answer", required=False), section=r.text("section", required=False),
            aliases=r.texts("aliases"), facts=r.data.get("facts") or {}, facets=_facets(r),
        )
        self.claim_id(r, programme.id)
        self.add_aliases(r, "programme", programme.id, programme.aliases)
        self.programmes[programme.id] = programme
        return programme

    def entry(self, path: Path, programme: Programme, raw: Any, where: str,
              kind: Optional[str] = None, section_prefix: str = "") -> Entry:
        r = _Reader(path, where, raw)
        entry_id = r.text("id")
        r = _Reader(path, f"entry '{entry_id}'", raw)
        kind = kind or r.text("kind")
        if kind not in ENTRY_KINDS:
            raise r.fail(f"unknown kind '{kind}' (known: {', '.join(ENTRY_KINDS)})")
        facets = _facets(r)
        number = r.data.get("number")
        if number is not None and (not isinstance(number, int) or number < 1):
            raise r.fail("'number' must be a positive whole number")
        section = r.text("section", required=not section_prefix)
        entry = Entry(
            id=entry_id, kind=kind, programme=programme.id, name=r.text("name"),
            aliases=r.texts("aliases"),
            source=Source(programme.document, f"{section_prefix} {section}".strip()),
            answer=r.text("answer"), facets=facets,
            window=_window(r), number=number, group=r.data.get("group"),
            values=r.texts("values"),
        )
        self.claim_id(r, entry_id)
        self.add_aliases(r, kind, entry_id, entry.aliases)
        self.entries[entry_id] = entry
        return entry

    def tier_rules(self, path: Path, programme: Programme, root: _Reader) -> None:
        if self.tier_programme:
            raise root.fail(f"tiers are already defined by programme '{self.tier_programme}'")
        self.tier_programme = programme.id
        for i, raw in enumerate(root.items("tiers")):
            r = _Reader(path, f"tiers[{i}]", raw)
            tier = Tier(id=r.text("id"), name=r.text("name"), section=r.text("section"),
                        aliases=r.texts("aliases"))
            self.claim_id(r, tier.id)
            self.add_aliases(r, "tier", tier.id, tier.aliases)
            self.tiers.append(tier)
        self.add_aliases(root, "tier", ALL_TIERS, root.texts("all_tiers_aliases"))
        tier_by_id = {t.id: t for t in self.tiers}
        for i, raw in enumerate(root.items("benefits")):
            entry = f"benefit '{_Reader(path, f'benefits[{i}]', raw).text('id')}'"
            r = _Reader(path, entry, raw)
            by_tier = {}
            for tier_id, tier_raw in r.mapping("tiers").items():
                if tier_id not in tier_by_id:
                    raise r.fail(f"unknown tier '{tier_id}' (known: {', '.join(tier_by_id)})")
                tr = _Reader(path, f"{entry} tier '{tier_id}'", tier_raw)
                section = f"{tier_by_id[tier_id].section} {tr.text('section')}"
                by_tier[tier_id] = TierBenefit(
                    answer=tr.text("answer"), source=Source(programme.document, section),
                    short=tr.text("short", required=False))
            benefit = Benefit(id=r.text("id"), name=r.text("name"), category=r.text("category"),
                              aliases=r.texts("aliases"), by_tier=by_tier)
            self.claim_id(r, benefit.id)
            self.add_aliases(r, "benefit", benefit.id, (benefit.name, *benefit.aliases))
            self.benefits.append(benefit)

    def table(self, path: Path, programme: Programme, raw: Any, where: str) -> None:
        r = _Reader(path, where, raw)
        table_id = r.text("id")
        r = _Reader(path, f"table '{table_id}'", raw)
        columns = r.texts("columns")
        for column in columns:
            if column not in self.entries:
                raise r.fail(f"column '{column}' is not an entry id")
        resource = r.text("resource")
        if resource not in self.entries:
            raise r.fail(f"resource '{resource}' is not an entry id")
        rows = []
        for j, row_raw in enumerate(r.items("rows")):
            rr = _Reader(path, f"table '{table_id}' rows[{j}]", row_raw)
            row_id = rr.text("id")
            rr = _Reader(path, f"table '{table_id}' row '{row_id}'", row_raw)
            cells = rr.mapping("cells")
            if set(cells) != set(columns):
                raise rr.fail(f"cells must be given for exactly the columns {list(columns)}")
            row = TableRow(id=row_id, name=rr.text("name"), aliases=rr.texts("aliases"),
                           cells={k: str(v).strip() for k, v in cells.items()},
                           note=rr.text("note", required=False))
            self.claim_id(rr, row_id)
            self.add_aliases(rr, "feature", row_id, (row.name, *row.aliases))
            rows.append(row)
        self.claim_id(r, table_id)
        self.tables[table_id] = Table(
            id=table_id, programme=programme.id, resource=resource, name=r.text("name"),
            source=Source(programme.document, r.text("section")), columns=columns,
            rows=tuple(rows))

    def sections(self, path: Path, programme: Programme, root: _Reader) -> None:
        r = _Reader(path, "sections", root.mapping("sections"))
        heading = r.text("section")
        overview = dict(r.data, id="home_sections", name=heading)
        overview.pop("items", None)
        self.entry(path, programme, overview, "sections", kind="topic")
        for i, raw in enumerate(r.items("items")):
            self.entry(path, programme, raw, f"sections.items[{i}]", kind="section",
                       section_prefix=heading)

    def programme_file(self, path: Path) -> None:
        root = _Reader(path, "(file)", _read_yaml(path))
        programme = self.programme(path, root)
        if "tiers" in root.data:
            self.tier_rules(path, programme, root)
        for i, raw in enumerate(root.data.get("entries") or []):
            self.entry(path, programme, raw, f"entries[{i}]")
        for i, raw in enumerate(root.data.get("tables") or []):
            self.table(path, programme, raw, f"tables[{i}]")
        if "sections" in root.data:
            self.sections(path, programme, root)
        for i, raw in enumerate(root.data.get("silent_on") or []):
            r = _Reader(path, f"silent_on[{i}]", raw)
            silence = Silence(about=r.texts("about"), detail=r.text("detail"),
                              words=_both_scripts(r.texts("words")))
            if not silence.about or not silence.words:
                raise r.fail("'about' and 'words' must each name at least one")
            self.silences.append((path, i, silence))


@functools.lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s.json")


# Cantonese words for Mandarin ones inside a word list's words: "多少场" is also asked "几多场".
_CANTONESE_FORMS = (("多少", "几多"),)


def _both_scripts(words: Tuple[str, ...]) -> Tuple[str, ...]:
    """The words as written plus their simplified forms, lower-cased, each once, and each
    with "几多" for "多少" (`_CANTONESE_FORMS`).

    Messages reach the actions in simplified characters (the NLU normalises them), so a word
    the glossary writes in traditional characters ("幾時", "網址") must match as "几时", "网址".
    """
    out = [w.lower() for w in words]
    out += [_t2s().convert(w).lower() for w in words]
    out += [w.replace(mandarin, cantonese) for w in out for mandarin, cantonese in _CANTONESE_FORMS
            if mandarin in w]
    return tuple(dict.fromkeys(out))


def _load_aspect_patterns(path: Path, root: _Reader) -> Dict[str, Tuple[Pattern[str], ...]]:
    """`aspect_patterns`: per aspect, regular expressions over a message as the actions see it
    (simplified, lower-cased) for the ways of asking that no word list holds ("咋开通")."""
    if root.data.get("aspect_patterns") is None:
        return {}
    reader = _Reader(path, "aspect_patterns", root.mapping("aspect_patterns"))
    patterns: Dict[str, Tuple[Pattern[str], ...]] = {}
    for aspect in reader.data:
        if aspect not in ASPECTS:
            raise reader.fail(f"unknown aspect '{aspect}' (known: {', '.join(ASPECTS)})")
        compiled = []
        for source in reader.texts(aspect):
            try:
                pattern = re.compile(source)
            except re.error as e:
                raise reader.fail(f"'{aspect}': {source!r} is no regular expression ({e})") from e
            if pattern.search(""):
                raise reader.fail(f"'{aspect}': {source!r} matches an empty message, so every message")
            compiled.append(pattern)
        patterns[aspect] = tuple(compiled)
    return patterns


def _load_glossary(path: Path) -> Tuple[Tuple[Term, ...], Dict[str, Tuple[str, ...]],
                                        Tuple[str, ...], Tuple[str, ...], Tuple[Platform, ...],
                                        Dict[str, Tuple[Pattern[str], ...]]]:
    root = _Reader(path, "(file)", _read_yaml(path))
    terms = []
    for i, raw in enumerate(root.items("terms")):
        r = _Reader(path, f"terms[{i}]", raw)
        terms.append(Term(term=r.text("term"), aliases=r.texts("aliases")))
    platforms = root.texts("other_platforms")
    aspects_reader = _Reader(path, "aspects", root.mapping("aspects"))
    aspects = {}
    for aspect in aspects_reader.data:
        if aspect not in ASPECTS:
            raise aspects_reader.fail(f"unknown aspect '{aspect}' (known: {', '.join(ASPECTS)})")
        aspects[aspect] = _both_scripts(aspects_reader.texts(aspect))
    return (tuple(terms), aspects, platforms, _both_scripts(root.texts("follow_up")),
            _load_platforms(path, root), _load_aspect_patterns(path, root))


def _load_words(path: Path) -> Tuple[Tuple[str, ...], Tuple[Tuple[str, ...], ...],
                                     Tuple[str, ...], Tuple[str, ...]]:
    """Shared terms, synonym groups, words asking about both platforms and words asking about
    a store's own status, from the glossary."""
    root = _Reader(path, "(file)", _read_yaml(path))
    groups = []
    for i, raw in enumerate(root.data.get("synonyms") or []):
        if (not isinstance(raw, list) or len(raw) < 2
                or not all(isinstance(w, str) and w.strip() for w in raw)):
            raise KnowledgeError(path, f"synonyms[{i}]", "must be a list of at least two words")
        groups.append(_both_scripts(tuple(w.strip() for w in raw)))
    return (_both_scripts(root.texts("shared_terms")), tuple(groups),
            _both_scripts(root.texts("both_platform_words")), _both_scripts(root.texts("status_words")))


def _load_platforms(path: Path, root: "_Reader") -> Tuple[Platform, ...]:
    reader = _Reader(path, "platforms", root.mapping("platforms"))
    platforms = []
    for key, raw in reader.data.items():
        r = _Reader(path, f"platforms.{key}", raw)
        platforms.append(Platform(id=str(key), name=r.text("name"), programmes=r.texts("programmes"),
                                  hints=_both_scripts(r.texts("hints"))))
    return tuple(platforms)


REQUIRED_REPLIES = ("date", "deadline_closed", "deadline_open", "window_ended",
                    "window_ended_open_start", "window_open", "window_open_no_end",
                    "window_not_started", "programme_ended", "undated", "next_assessment",
                    "table_header", "unknown_measure", "no_such_cell", "suggest_entry",
                    "suggest_intent_ask_programme", "suggest_intent_greet",
                    "suggest_intent_goodbye", "suggest_intent_thank",
                    "suggest_intent_out_of_scope", "tier_name_gold", "tier_name_silver",
                    "tier_name_none", "status_header", "status_projected_gold",
                    "status_projected_silver", "status_projected_none",
                    "status_projected_disqualified", "status_projected_protected",
                    "status_projected_no_trade", "status_missed_header", "status_missed_line",
                    "status_missed_header_both", "status_missed_header_more", "status_same_for_tiers",
                    "status_met_line", "status_violation_line", "status_platform_setting",
                    "status_window", "status_gain", "status_loss", "status_need_login",
                    "status_forbidden", "status_agent_needs_id", "status_unknown_merchant",
                    "status_unavailable", "month", "measure_label",
                    "table_feature_column", "table_cell", "status_own_store", "value_yes",
                    "value_no", "rank_value", "rank_gap", "condition_met", "condition_unmet",
                    "not_given", "aspect_label_amount", "aspect_label_rate", "aspect_label_time",
                    "aspect_label_deadline", "aspect_label_apply", "aspect_label_cost",
                    "aspect_label_calculation", "aspect_label_contact", "aspect_label_stacking",
                    "aspect_label_documents", "aspect_label_position", "aspect_label_repayment",
                    "aspect_label_place",
                    "both_platforms", "both_asked",
                    "platform_label", "status_login_hint", "tier_benefits_header",
                    "tier_compare_header", "group_count", "close_entries", "not_given_detail",
                    "not_given_focus", "not_given_definition", "not_mentioned", "detail_share",
                    "detail_names", "detail_outside_window", "detail_after_window", "detail_reference",
                    "detail_price", "detail_count",
                    "alert_header", "alert_outcome", "alert_outcome_gold", "alert_outcome_silver",
                    "alert_outcome_none", "alert_outcome_disqualified", "alert_outcome_protected",
                    "alert_outcome_no_trade", "alert_newly_missed", "alert_newly_met",
                    "alert_protection_over", "alert_time_left", "alert_opt_out", "alert_assessment",
                    "alert_assessment_missed")


def _load_replies(path: Path) -> Dict[str, str]:
    root = _Reader(path, "(file)", _read_yaml(path))
    r = _Reader(path, "replies", root.mapping("replies"))
    return {key: r.text(key) for key in REQUIRED_REPLIES}


def load_knowledge(directory: Path) -> KnowledgeBase:
    """Load the whole knowledge base, or raise KnowledgeError; never returns a partial base."""
    directory = Path(directory)
    terms, aspects, platforms, follow_up, sites, aspect_patterns = _load_glossary(directory / GLOSSARY_FILE)
    replies = _load_replies(directory / REPLIES_FILE)
    shared, synonyms, both_words, status_words = _load_words(directory / GLOSSARY_FILE)
    builder = _Builder()
    files = sorted(p for p in directory.glob("*.yml")
                   if p.name not in (GLOSSARY_FILE, REPLIES_FILE, TIER_RULES_FILE))
    if not files:
        raise KnowledgeError(directory, "(directory)", "no programme files (*.yml)")
    for path in files:
        builder.programme_file(path)
    if not builder.tier_programme:
        raise KnowledgeError(directory, "(directory)", "no file defines the seller tiers")
    for site in sites:
        for programme_id in site.programmes:
            if programme_id not in builder.programmes:
                raise KnowledgeError(directory / GLOSSARY_FILE, f"platforms.{site.id}",
                                     f"unknown programme '{programme_id}'")
    for entry in builder.entries.values():
        if entry.group and entry.group not in builder.entries:
            raise KnowledgeError(directory, f"entry '{entry.id}'", f"unknown group '{entry.group}'")
    for path, i, silence in builder.silences:
        for topic in silence.about:
            if not builder.known(topic) and topic != COMPARISON_TOPIC:
                raise KnowledgeError(path, f"silent_on[{i}]", f"unknown id '{topic}'")
    glossary_reader = _Reader(directory / GLOSSARY_FILE, "aspects", {})
    for aspect, names in aspects.items():
        builder.add_aliases(glossary_reader, "aspect", aspect, names)
    builder.add_aliases(_Reader(directory / GLOSSARY_FILE, "other_platforms", {}), "platform",
                        OTHER_PLATFORM, platforms)
    return KnowledgeBase(
        programmes=builder.programmes, tier_programme=builder.tier_programme,
        tiers=tuple(builder.tiers), benefits=tuple(builder.benefits), entries=builder.entries,
        tables=builder.tables, terms=terms, aspects=aspects, aspect_patterns=aspect_patterns,
        replies=replies,
        follow_up=follow_up, aliases=builder.aliases, names=builder.names, platforms=sites,
        shared_terms=shared, synonyms=synonyms, both_words=both_words, status_words=status_words,
        silences=tuple(s for _, _, s in builder.silences))
