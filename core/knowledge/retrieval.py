"""Ranks knowledge entries for a question, so that an unseen wording still finds its answer.

The entity extractor finds an entry only when the message contains one of its names. A
merchant who writes around the name ("开店送的那个装修服务", "三天上网率") names nothing the
extractor knows. Here every entry, facet, tier benefit, table row and programme becomes a
passage (its names, its answer, the section it cites), indexed with BM25 (`bm25s`: a
maintained, numpy-only implementation that scores a few hundred passages in well under a
millisecond) over jieba words, with the knowledge base's names as one word each, and
character bigrams, which keep a typo or an unknown compound from losing the whole match.
The index is built from the loaded knowledge base, so an edit to `knowledge/` is searchable
as soon as it is reloaded, without retraining.
"""
from __future__ import annotations

import functools
import re
import sys
import threading
import types
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import jieba
import numpy as np
import opencc

from core import settings
from core.knowledge.model import KnowledgeBase


def _import_bm25s():
    """bm25s without JAX: when JAX is installed (TensorFlow's dependencies bring it), bm25s
    imports it for a top-k selection this module never uses (it reads every score), which
    costs the action server about 130 MB. JAX is hidden from that one import; a process that
    has already imported JAX keeps it."""
    hidden = "jax" not in sys.modules
    if hidden:
        sys.modules["jax"] = None  # type: ignore[assignment]  # "import jax" raises ImportError
    try:
        import bm25s
    finally:
        if hidden:
            del sys.modules["jax"]
    return bm25s


bm25s = _import_bm25s()


def _import_pypinyin():
    """pypinyin without its phrase dictionary, which reads words in context: a name's sound here
    is each character's usual reading (`_sound`), which the characters' own dictionary gives
    alike (tested for every character), and the phrases cost every process that ranks about
    50 MB. pypinyin reads the variable once, at its first import; the environment is left as
    it was."""
    with settings.variable_set("PYPINYIN_NO_PHRASES", "1"):
        import pypinyin
    return pypinyin


lazy_pinyin = _import_pypinyin().lazy_pinyin

_HAN_RUN = re.compile(r"[\u3400-\u9fff]+")
_LATIN = re.compile(r"[a-z0-9][a-z0-9.+%*/]*")
# Words that carry no meaning of their own in a question; BM25's idf weighs the rest.
_STOPWORDS = frozenset(
    "的 了 吗 呢 吧 啊 呀 哦 么 嘛 是 我 我们 你 你们 他 她 它 有 在 和 与 及 或 就 都 也 还 要 会 能 "
    "可以 这 那 这个 那个 什么 怎么 怎样 如何 多少 几 哪 哪些 请问 一下 一个 吗 不 没 没有 想 问 "
    "请 帮 给 对 把 被 让 得 着 过 个 些 啥 咋 嗎 呢 係 咩 乜 嘅 唔 冇 喺 措施 哪一条 这条 那条".split())
# A programme is named outright by these kinds of entity.
_KIND_WEIGHT = {"programme": 0.9}
# A name at least this long, typed with one character wrong ("交易询章" for 交易勋章), is read
# as the name; shorter names would match too many ordinary words.
TYPO_MIN_CHARS = 4
# A name at least this long, typed with characters of the same sound ("被货袋" for 备货贷, the
# usual slip of a pinyin keyboard), is read as the name; two-character names share their sound
# with too many ordinary words. A name typed in pinyin ("quanyi") needs this many letters.
HOMOPHONE_MIN_CHARS = 3
PINYIN_MIN_LETTERS = 5
_LETTERS = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Passage:
    """One searchable text: an entry (or one facet of it) and the programme it belongs to."""

    kind: str  # entity kind of the entry: measure, benefit, metric, programme, feature, ...
    id: str  # knowledge id
    programme: str
    facet: Optional[str]
    text: str


@dataclass(frozen=True)
class Hit:
    """An entry and its best passage's score."""

    kind: str
    id: str
    programme: str
    score: float
    facet: Optional[str] = None
    # The message's own tokens (words and "#" bigrams, and those of the names it misspells;
    # not its synonyms) that the passage contains.
    words: Tuple[str, ...] = ()


def _names(aliases: Iterable[str], *more: str) -> str:
    return " ".join([*more, *aliases])


def passages(kb: KnowledgeBase) -> List[Passage]:
    """Every passage of the knowledge base: entries with their facets, benefits per tier, ..."""
    out: List[Passage] = []
    for programme in kb.programmes.values():
        names = _names(programme.aliases, programme.name)
        out.append(Passage("programme", programme.id, programme.id, None,
                           f"{names} {programme.answer} {programme.section}"))
        for facet, text in programme.facets.items():
            out.append(Passage("programme", programme.id, programme.id, facet, f"{names} {text}"))
    for entry in kb.entries.values():
        names = _names(entry.aliases, entry.name)
        out.append(Passage(entry.kind, entry.id, entry.programme, None,
                           f"{names} {entry.answer} {entry.source.section}"))
        for facet, text in entry.facets.items():
            out.append(Passage(entry.kind, entry.id, entry.programme, facet, f"{names} {text}"))
    for benefit in kb.benefits:
        for tier_id, granted in benefit.by_tier.items():
            tier = kb.tier(tier_id)
            out.append(Passage("benefit", benefit.id, kb.tier_programme, None,
                               f"{_names(benefit.aliases, benefit.name, benefit.category)} "
                               f"{_names(tier.aliases[:3])} {granted.answer}"))
    for table in kb.tables.values():
        for row in table.rows:
            cells = " ".join(f"{kb.entries[c].name} {v}" for c, v in row.cells.items() if c in kb.entries)
            out.append(Passage("feature", row.id, table.programme, None,
                               f"{_names(row.aliases, row.name, table.name)} {cells} {row.note}"))
    return out


_BASE_DICTIONARY: Optional[Tuple[Dict[str, int], int]] = None
_BASE_LOCK = threading.Lock()


def _base_dictionary() -> Tuple[Dict[str, int], int]:
    """jieba's default dictionary (word counts, total), read from disk once per process (about
    0.6 s); shared, read only."""
    global _BASE_DICTIONARY
    with _BASE_LOCK:
        if _BASE_DICTIONARY is None:
            loaded = jieba.Tokenizer()
            loaded.initialize()
            _BASE_DICTIONARY = (loaded.FREQ, loaded.total)
        return _BASE_DICTIONARY


def share_default_dictionary() -> bool:
    """For a process that uses jieba's default dictionary as it is (the action server): jieba's
    own instance (`jieba.lcut`, its parts of speech) reads the ranking's copy of the default
    dictionary instead of loading one more (about 76 MB), read only: adding a word to it
    raises TypeError. Does nothing once jieba has loaded its own; True when shared."""
    frequencies, total = _base_dictionary()
    with jieba.dt.lock:
        if jieba.dt.initialized:
            return False
        jieba.dt.FREQ = types.MappingProxyType(frequencies)
        jieba.dt.total, jieba.dt.initialized = total, True
    return True


def share_parts_of_speech() -> bool:
    """For the action server, after `share_default_dictionary`: jieba's table of parts of speech
    (`jieba.posseg`, read by actions/focus.py) made over again with the shared dictionary's
    own word objects as keys and one object for each tag, instead of a string of its own for
    each of its 349,000 words and tags (about 33 MB less). The same table; True when made."""
    import jieba.posseg

    table = jieba.posseg.dt.word_tag_tab
    frequencies, _ = _base_dictionary()
    tags: Dict[str, str] = {}
    compact = {word: tags.setdefault(table[word], table[word]) for word in frequencies if word in table}
    if len(compact) != len(table):
        return False  # a word with a part of speech that the dictionary lacks
    jieba.posseg.dt.word_tag_tab = compact
    return True


class _Added(dict):
    """A jieba dictionary: the words added to this one instance, over the shared default
    dictionary (read, never changed). A copy of the default dictionary for each instance
    took about 70 MB of the action server's memory."""

    def __init__(self, base: Dict[str, int]) -> None:
        super().__init__()
        self.base = base

    def __contains__(self, word: object) -> bool:
        return dict.__contains__(self, word) or word in self.base

    def __getitem__(self, word: str) -> int:
        if dict.__contains__(self, word):
            return dict.__getitem__(self, word)
        return self.base[word]

    def get(self, word: str, default: Optional[int] = None) -> Optional[int]:  # type: ignore[override]
        if dict.__contains__(self, word):
            return dict.__getitem__(self, word)
        return self.base.get(word, default)


def _private_jieba() -> jieba.Tokenizer:
    """A jieba instance of its own: the default dictionary (shared) and the words added to it
    (for each instance: a knowledge reload, each test)."""
    frequencies, total = _base_dictionary()
    own = jieba.Tokenizer()
    own.FREQ, own.total, own.initialized = _Added(frequencies), total, True
    return own


# A word this frequent in jieba's general dictionary (about 60 million words counted) is an
# everyday word ("公司" 45604, "工厂" 3460, "外贸" 1887), not a subject ("补贴" 586, "重灾区" 65).
EVERYDAY_FREQUENCY = 1000


class Tokenizer:
    """jieba words (each knowledge name kept whole) plus character bigrams, lower-cased."""

    def __init__(self, words: Iterable[str]) -> None:
        # A private jieba instance: the knowledge base's names do not leak into other users.
        self._jieba = _private_jieba()
        # The general counts (shared, read only), without the names added below at a high count.
        self._general = _base_dictionary()[0]
        for word in words:
            word = word.strip().lower()
            if len(word) > 1 and not word.isascii():
                self._jieba.add_word(word, freq=50000)

    def frequency(self, word: str) -> int:
        """How often jieba's general dictionary counts the word (0 for words it lacks)."""
        return self._general.get(word, 0)

    def __call__(self, text: str) -> List[str]:
        text = (text or "").lower()
        tokens: List[str] = []
        for word in self._jieba.lcut(text):
            word = word.strip()
            if not word or word in _STOPWORDS:
                continue
            if _HAN_RUN.fullmatch(word) or _LATIN.fullmatch(word) or len(word) > 1:
                tokens.append(word)
        for run in _HAN_RUN.findall(text):
            tokens.extend(f"#{run[i:i + 2]}" for i in range(len(run) - 1))
        return tokens


# A name that is a way of asking ("什么时候评", "怎么收到"): one character off, it is another
# question ("什么时候报", "怎么收的"), not a slip.
_INTERROGATIVE = re.compile(r"什么时候|什么|怎么|怎样|怎麼|多久|多少|几时|幾時|哪|会不会|能不能|"
                            r"是不是|要不要|有没有|点样|點樣|咩|乜")


class TypoNames:
    """The knowledge base's names, found in a text where one character of them is wrong.

    Each name is stored under every key made by blanking one of its characters; a window of
    the text that shares a key with exactly one name, and is not that name, is a typo of it.
    A name's first character is blanked only for a window that starts a run of Han characters
    ("急速到账" for 极速到账), its last only for one that ends a run: inside a run, a window that
    runs one character past a word ("一次考核" in "第一次考核") would read as a typo of another
    name ("首次考核"). Even there, a window whose rest is a name of its own is that name beside
    another word ("跟金银牌" is 金银牌, not 新金银牌). Names that are ways of asking have no typos.
    """

    def __init__(self, names: Iterable[str]) -> None:
        keys: Dict[str, Optional[str]] = {}
        self._names = {n.strip().lower() for n in names}
        for name in self._names:
            if (len(name) < TYPO_MIN_CHARS or not _HAN_RUN.fullmatch(name)
                    or _INTERROGATIVE.search(name)):
                continue
            for i in range(len(name)):
                key = f"{name[:i]}?{name[i + 1:]}"
                # Two names one character apart ("金牌商家", "银牌商家") say nothing on a typo.
                keys[key] = name if keys.get(key, name) == name else None
        self._keys = keys
        self._lengths = sorted({len(k) for k in keys})

    def corrected(self, text: str) -> List[str]:
        """Names the text contains with one character wrong (names it spells right excluded)."""
        found: List[str] = []
        lowered = (text or "").lower()
        for run in _HAN_RUN.findall(lowered):
            for length in self._lengths:
                for start in range(len(run) - length + 1):
                    window = run[start:start + length]
                    first = 0 if start == 0 else 1
                    last = length if start + length == len(run) else length - 1
                    for i in range(first, last):
                        if (i == 0 and window[1:] in self._names) or (
                                i == length - 1 and window[:-1] in self._names):
                            continue
                        name = self._keys.get(f"{window[:i]}?{window[i + 1:]}")
                        if name and name != window and name not in lowered and name not in found:
                            found.append(name)
        return found


class HomophoneNames:
    """The knowledge base's names, found in a text that spells them with other characters of
    the same sound (tones ignored): "急速到帐" for 极速到账, "成信通" for 诚信通, or in pinyin
    ("quanyi" for 权益). Names of one sound ("金牌标识", "金牌标志") are all returned: they
    are spellings of one entry far more often than two entries."""

    def __init__(self, names: Iterable[str]) -> None:
        jieba.initialize()  # the dictionary _joins_neighbour reads
        # Questions arrive in simplified characters: a traditional spelling of a name is folded
        # into its simplified one.
        to_simplified = opencc.OpenCC("t2s.json").convert
        sounds: Dict[Tuple[str, ...], List[str]] = {}
        spelled: Dict[str, List[str]] = {}
        for name in sorted({to_simplified(n.strip().lower()) for n in names}):
            if len(name) < 2 or not _HAN_RUN.fullmatch(name):
                continue
            sound = _sounds(name)
            if len(name) >= HOMOPHONE_MIN_CHARS:
                sounds.setdefault(sound, []).append(name)
            letters = "".join(sound)
            if len(letters) >= PINYIN_MIN_LETTERS:
                spelled.setdefault(letters, []).append(name)
        self._sounds = sounds
        self._spelled = spelled
        self._lengths = sorted({len(k) for k in sounds})

    def corrected(self, text: str) -> List[str]:
        """Names the text contains in characters of the same sound, or in pinyin."""
        found: List[str] = []
        lowered = (text or "").lower()

        def keep(names: Iterable[str]) -> None:
            if any(name in lowered for name in names):
                return  # spelled right (in one of its spellings)
            found.extend(name for name in names if name not in found)

        for run in _HAN_RUN.findall(lowered):
            sound = _sounds(run)
            for length in self._lengths:
                for start in range(len(run) - length + 1):
                    names = self._sounds.get(sound[start:start + length], [])
                    if names and not _joins_neighbour(run, start, start + length, names[0]):
                        keep(names)
        for word in _LETTERS.findall(lowered):
            keep(self._spelled.get(word, []))
        return found


@functools.lru_cache(maxsize=8192)
def _sound(char: str) -> str:
    """A character's usual reading, without tone: the same for a name and for a question,
    whatever the words around it."""
    return lazy_pinyin(char)[0]


def _sounds(text: str) -> Tuple[str, ...]:
    return tuple(_sound(c) for c in text)


def _joins_neighbour(run: str, start: int, end: int, name: str) -> bool:
    """Whether the window's first or last character, where it differs from the name, makes a
    word with the character outside the window: "全部满足" holds 全部, not 不满足."""
    if run[start] != name[0] and start > 0 and jieba.get_FREQ(run[start - 1:start + 1]):
        return True
    return run[end - 1] != name[-1] and end < len(run) and bool(jieba.get_FREQ(run[end - 1:end + 1]))


def _all_names(kb: KnowledgeBase) -> Iterator[str]:
    for names in kb.names.values():
        yield from names
    for term in kb.terms:
        yield term.term
        yield from term.aliases
    for group in kb.synonyms:
        yield from group


class Retriever:
    """BM25 over the knowledge base's passages; `rank` gives the best entries for a text."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.tokenize = Tokenizer(_all_names(kb))
        names = [alias for kind, names in kb.names.items() if kind != "aspect" for alias in names]
        self.typos = TypoNames(names)
        self.homophones = HomophoneNames([*names, *(t.term for t in kb.terms),
                                          *(a for t in kb.terms for a in t.aliases)])
        self.passages = passages(kb)
        tokenized = [self.tokenize(p.text) or ["#"] for p in self.passages]
        self._tokens = [frozenset(tokens) for tokens in tokenized]
        # Each passage's weight by its kind, for all passages' scores at once.
        self._weights = np.array([_KIND_WEIGHT.get(p.kind, 1.0) for p in self.passages], dtype=np.float64)
        self._index = bm25s.BM25()
        self._index.index(tokenized, show_progress=False)
        # Names of the knowledge base (an entry, a term, a synonym), each one token as the
        # tokenizer keeps it whole; not the everyday words inside them ("在哪看" holds 在哪).
        self._name_words = frozenset(name.strip().lower() for name in _all_names(kb))
        # Words that say what is asked (申请, 多少钱, 截止: knowledge/glossary.yml's aspects), not
        # what it is asked about.
        # A region (湖北) is a subject as much as an aspect.
        self._aspect_words = frozenset(word.lower() for aspect, words in kb.aspects.items()
                                       if aspect != "region" for word in words)

    def _own(self, text: str) -> List[str]:
        """The text's tokens and those of the names it misspells: what the merchant wrote."""
        tokens = self.tokenize(text)
        for name in self.typos.corrected(text) + self.homophones.corrected(text):
            tokens.extend(self.tokenize(name))
        return tokens

    def _expand(self, text: str, own: List[str]) -> List[str]:
        """The merchant's tokens and the synonyms (knowledge/glossary.yml) of the words the text
        contains."""
        tokens = list(own)
        lowered = (text or "").lower()
        for group in self.kb.synonyms:
            if any(word in lowered for word in group):
                tokens.extend(w for w in group if w not in lowered)
        return tokens

    def passage_of(self, hit: Hit) -> str:
        """The text of the passage a hit scored on."""
        return next((p.text for p in self.passages
                     if (p.kind, p.id, p.facet) == (hit.kind, hit.id, hit.facet)), "")

    def rank(self, text: str, limit: int = 5) -> List[Hit]:
        """The best entries for the text, best first (each entry once, with its best facet)."""
        written = self._own(text)
        ids = self._index.get_tokens_ids(self._expand(text, written))
        if not ids:
            return []
        scores = self._index.get_scores(ids)
        own = list(dict.fromkeys(written))
        best: Dict[Tuple[str, str], Tuple[float, int]] = {}
        # The weighted scores (in double precision, as Python's floats), read only where
        # positive: the passages that share a word with the text, in their order.
        weighted = np.asarray(scores, dtype=np.float64) * self._weights
        for i in np.flatnonzero(weighted > 0).tolist():
            score, passage = float(weighted[i]), self.passages[i]
            key = (passage.kind, passage.id)
            if key not in best or score > best[key][0]:
                best[key] = (score, i)
        ranked = sorted(best.values(), key=lambda found: -found[0])[:limit]
        return [Hit(p.kind, p.id, p.programme, score, p.facet,
                    tuple(w for w in own if w in self._tokens[i]))
                for score, i in ranked for p in (self.passages[i],)]

    def weak(self, hit: Hit) -> bool:
        """A match on one everyday word of the message alone ("公司", "工厂", "外贸"): the
        passage shares a word with it, not a subject. A word that names something of the
        knowledge base, a rare word ("重灾区"), two words, or a match through synonyms is not
        weak. A match on ways of asking alone ("去哪查", "怎么查"), or on words that say what is
        asked alone ("申请", "多少钱"), is weak too."""
        words = [w for w in hit.words if not w.startswith("#")]
        if words and all(_asks_only(w) for w in words):
            return True  # "去哪查", "怎么查": a way of asking, whatever it asks about
        asked = [w for w in words if w in self._aspect_words]
        if asked and all(w in asked or len(w) == 1 for w in words) and all(
                any(pair[1:] in w for w in asked) for pair in hit.words if pair.startswith("#")):
            # "香港的基金点申请": what is asked (申请), and a single character (点), is in every
            # entry that says how to apply; it is not what the message asks about.
            return True
        if (len(words) != 1 or words[0] in self._name_words
                or self.tokenize.frequency(words[0]) < EVERYDAY_FREQUENCY):
            return False
        # Two characters shared beyond the word ("紧急情况" against "紧急处理"): more than a word.
        return all(pair[1:] in words[0] for pair in hit.words if pair.startswith("#"))


def _asks_only(word: str) -> bool:
    """A word that is a way of asking and little else ("去哪查", "什么时候评")."""
    return bool(_INTERROGATIVE.search(word)) and len(_INTERROGATIVE.sub("", word)) <= 2


_cache: List[Retriever] = []
_cache_lock = threading.Lock()


def retriever_for(kb: KnowledgeBase) -> Retriever:
    """The index of this version of the knowledge base (rebuilt when the base is reloaded)."""
    with _cache_lock:
        if not _cache or _cache[0].kb is not kb:
            _cache[:] = [Retriever(kb)]
        return _cache[0]
