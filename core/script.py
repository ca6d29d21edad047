"""Chinese script detection and conversion (simplified, Taiwan and Hong Kong traditional).

Pure functions over OpenCC, with no Rasa imports, so that the NLU component, the reply
generator and the artefact builder all normalise text in exactly the same way.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any, Iterable, Mapping, Optional, Text

import opencc

from core.contract import PARSE_SCRIPT, PARSE_SCRIPT_NEUTRAL

SIMPLIFIED = "zh-Hans"
TAIWAN = "zh-TW"
HONG_KONG = "zh-HK"
SCRIPTS = (SIMPLIFIED, TAIWAN, HONG_KONG)

# Function words of written Cantonese: their presence marks Hong Kong writing even when
# the characters themselves are shared with Taiwan.
_CANTONESE_MARKERS = frozenset("嘅咗唔冇啲嗰佢哋喺乜嘢噉畀㗎嚟咩嘞喎")
_CANTONESE_WORDS = ("點樣", "幾多", "邊度", "而家", "係咪", "可唔可以", "有冇")

# Variant characters merchants type for the standard ones of simplified writing: 帐 for 账
# in money words ("到帐", "帐户"); the documents use the standard forms.
_VARIANT_WORDS = {"到帐": "到账", "帐户": "账户", "帐号": "账号", "转帐": "转账", "对帐": "对账",
                  "帐期": "账期", "帐单": "账单", "帐款": "账款", "记帐": "记账", "算帐": "算账",
                  "帐目": "账目", "入帐": "入账", "结帐": "结账", "回帐": "回账"}
_VARIANT = re.compile("|".join(_VARIANT_WORDS))

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_SPACES = re.compile(r"\s+")


# Every OpenCC conversion this module makes.
CONVERSIONS = ("t2s", "s2t", "s2hk", "s2tw", "hk2s", "tw2sp", "s2twp")


@functools.lru_cache(maxsize=None)
def _converter(config: Text) -> opencc.OpenCC:
    """Return a cached OpenCC converter; building one reads dictionaries from disk."""
    return opencc.OpenCC(f"{config}.json")


def warm() -> None:
    """Build every converter now, at the Rasa server's start: the first message in
    traditional Chinese otherwise waits for their dictionaries (about 60 ms, 20 MiB)."""
    for config in CONVERSIONS:
        _converter(config)


def _convert(text: Text, config: Text) -> Text:
    return _converter(config).convert(text) if text else text


def fold(text: Optional[Text]) -> Text:
    """Fold full-width forms to half-width and drop invisible and control characters."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    # Zero-width and bidi marks (Cf) carry no meaning for us; other controls become spaces.
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cf":
            continue
        kept.append(" " if category == "Cc" else ch)
    return "".join(kept)


def clean(text: Optional[Text]) -> Text:
    """Fold the text (see fold) and collapse runs of white space."""
    return _SPACES.sub(" ", fold(text)).strip()


def _agreement(original: Text, candidate: Text) -> int:
    """Count Han positions where a re-conversion agrees with what the user typed."""
    if len(original) != len(candidate):
        return 0
    return sum(1 for a, b in zip(original, candidate, strict=False) if a == b and _HAN.match(a))


def detect_script(text: Optional[Text]) -> Optional[Text]:
    """Return the script the text is written in, or None when it has no Chinese at all."""
    text = clean(text)
    if not _HAN.search(text):
        return None
    if any(ch in _CANTONESE_MARKERS for ch in text) or any(w in text for w in _CANTONESE_WORDS):
        return HONG_KONG
    simplified = _convert(text, "t2s")
    if simplified == text:
        return SIMPLIFIED
    # Traditional: the variant whose character forms reproduce more of the input wins;
    # on a tie (no region-specific character) Taiwan's standard forms are the default.
    hk = _agreement(text, _convert(simplified, "s2hk"))
    tw = _agreement(text, _convert(simplified, "s2tw"))
    return HONG_KONG if hk > tw else TAIWAN


def is_neutral(text: Optional[Text]) -> bool:
    """Whether the text reads the same in both scripts ("好的", "OK", "V2"): it says nothing
    about which script the merchant writes in."""
    cleaned = clean(text)
    return _convert(cleaned, "t2s") == cleaned and _convert(cleaned, "s2t") == cleaned


def to_simplified(text: Text, script: Optional[Text]) -> Text:
    """Convert text in the given script to simplified, using that region's conventions."""
    if script == HONG_KONG:
        return _convert(text, "hk2s")
    if script == TAIWAN:
        return _convert(text, "tw2sp")
    # Simplified text may still carry stray traditional characters (mixed input).
    return _convert(text, "t2s")


def normalize(text: Optional[Text], lowercase: bool = True) -> tuple[Text, Optional[Text]]:
    """Return (normalised text, detected script): cleaned, simplified and lower-cased."""
    cleaned = clean(text)
    script = detect_script(cleaned)
    simplified = _VARIANT.sub(lambda m: _VARIANT_WORDS[m.group(0)], to_simplified(cleaned, script))
    return (simplified.lower() if lowercase else simplified), script


def from_simplified(text: Text, script: Optional[Text]) -> Text:
    """Render simplified text in the merchant's script (Taiwan with Taiwan wording)."""
    if script == TAIWAN:
        return _convert(text, "s2twp")
    if script == HONG_KONG:
        return _convert(text, "s2hk")
    return text


def merchant_script(parses: Iterable[Mapping[str, Any]]) -> Optional[Text]:
    """The script replies and agents' messages follow: that of the merchant's latest message
    that shows one. `parses`: the parse data of the merchant's messages, newest first. A
    message that reads the same in both scripts ("好的") keeps the earlier script; it decides only
    when no earlier message had Chinese in it. Messages without a script (a button's payload)
    are passed over. None: simplified."""
    neutral: Optional[Text] = None
    for parse in parses:
        detected = parse.get(PARSE_SCRIPT)
        if detected not in SCRIPTS:
            continue
        if not parse.get(PARSE_SCRIPT_NEUTRAL):
            return detected
        neutral = neutral or detected
    return neutral
