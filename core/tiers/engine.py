"""The gold/silver rule engine: metrics and rules in, a verdict per criterion out. Pure, but for
`RulesFile`, which reads knowledge/tier_rules.yml (validated like the knowledge files) and
rereads it when it changes."""
from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import yaml

from core.knowledge.loader import TIER_RULES_FILE, KnowledgeError
from core.knowledge.store import knowledge_directory

logger = logging.getLogger(__name__)

CATEGORY_AVERAGE = "category_average"
GOLD, SILVER, NONE = "gold", "silver", "none"
DISQUALIFIED, PROTECTED, NO_TRADE = "disqualified", "protected", "no_trade"


@dataclass(frozen=True)
class Threshold:
    """One condition: the metric must be >= min, <= max or == equals."""

    metric: str
    op: str  # ">=", "<=", "=="
    value: Any  # a number, or CATEGORY_AVERAGE
    platform_setting: bool = False


@dataclass(frozen=True)
class Rules:
    """The tier rules as loaded from knowledge/tier_rules.yml."""

    tiers: Mapping[str, Tuple[Threshold, ...]]
    disqualifying: Tuple[Threshold, ...]
    protection_days: int
    assessment_months: Tuple[int, ...]
    data_window_days: int
    metric_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Metrics:
    """A merchant's rolling 90-day metrics (rates in percent)."""

    merchant_id: str
    l2_category: str
    as_of: dt.date
    has_trade_90d: bool
    payment_rank_top_pct: float
    online_72h_rate: float
    snad_dispute_rate: float
    positive_feedback_rate: float
    dingtalk_active_days_90d: int
    ip_severe_infringements: int
    ip_prohibited_points: int
    trade_violation_points: int
    banned_or_frozen: bool
    industry_conditions_met: bool
    china_good_seller_since: Optional[dt.date] = None
    current_tier: str = NONE
    merchant_name: str = ""


@dataclass(frozen=True)
class Criterion:
    """One condition applied to one merchant."""

    metric: str
    value: float
    op: str
    threshold: float
    met: bool
    gap: float  # how far from the threshold (0 when met)
    platform_setting: bool = False


@dataclass(frozen=True)
class Verdict:
    """The outcome for one merchant at one date, with every criterion behind it."""

    outcome: str  # gold, silver, none, disqualified, protected, no_trade
    tiers: Mapping[str, Tuple[Criterion, ...]]
    violations: Tuple[Criterion, ...]
    protected_until: Optional[dt.date] = None

    def missed(self, tier: str) -> Tuple[Criterion, ...]:
        """The conditions of a tier that are not met."""
        return tuple(c for c in self.tiers.get(tier, ()) if not c.met)


def _threshold_checked(path: Path, where: str, metric: str, spec: Any,
                       metric_names: Mapping[str, Any]) -> Threshold:
    """One condition, or KnowledgeError naming the file, the condition and what is wrong."""
    where = f"{where}.{metric}"
    if metric not in metric_names:
        raise KnowledgeError(path, where, "metric has no entry under rules.metrics (its name in answers)")
    if not isinstance(spec, dict):
        raise KnowledgeError(path, where, "needs a mapping such as {min: 85}")
    ops = [k for k in ("min", "max", "equals") if k in spec]
    unknown = set(spec) - {"min", "max", "equals", "platform_setting"}
    if len(ops) != 1 or unknown:
        raise KnowledgeError(path, where, "needs exactly one of min, max or equals"
                             + (f" (unknown keys: {', '.join(sorted(unknown))})" if unknown else ""))
    value = spec[ops[0]]
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not numeric and not (ops[0] == "max" and value == CATEGORY_AVERAGE):
        raise KnowledgeError(path, where, f"{ops[0]} must be a number"
                             + (f" or {CATEGORY_AVERAGE}" if ops[0] == "max" else ""))
    if not isinstance(spec.get("platform_setting", False), bool):
        raise KnowledgeError(path, where, "platform_setting must be true or false")
    if spec.get("platform_setting") and not str(metric_names[metric].get("wording") or "").strip():
        raise KnowledgeError(path, where, "a platform setting needs the document's wording under "
                             "rules.metrics (wording: ...), which answers quote")
    return _threshold(metric, spec)


def _positive_int(path: Path, data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise KnowledgeError(path, f"rules.{key}", "must be a whole number above 0")
    return value


def _threshold(metric: str, spec: Mapping[str, Any]) -> Threshold:
    for key, op in (("min", ">="), ("max", "<="), ("equals", "==")):
        if key in spec:
            return Threshold(metric, op, spec[key], bool(spec.get("platform_setting")))
    raise ValueError(f"threshold for '{metric}' needs min, max or equals")


def load_rules(path: Path) -> Rules:
    """Read and check the rules file (knowledge/tier_rules.yml); KnowledgeError names the file,
    the place and the problem when it is malformed."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise KnowledgeError(path, "(file)", f"cannot be read: {e.strerror or e}") from e
    except yaml.YAMLError as e:
        raise KnowledgeError(path, "(file)", f"is not valid YAML: {e}") from e
    data = raw.get("rules") if isinstance(raw, dict) else None
    if not isinstance(data, dict):
        raise KnowledgeError(path, "(file)", "needs a top-level mapping 'rules'")
    names = data.get("metrics")
    if not isinstance(names, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("name"), str) and v["name"] for v in names.values()):
        raise KnowledgeError(path, "rules.metrics", "needs a mapping of metric: {name: ..., unit: ...}")
    tiers = data.get("tiers")
    if not isinstance(tiers, dict) or not tiers or not all(isinstance(s, dict) and s for s in tiers.values()):
        raise KnowledgeError(path, "rules.tiers", "needs each tier with its conditions")
    disqualifying = data.get("disqualifying")
    if not isinstance(disqualifying, dict):
        raise KnowledgeError(path, "rules.disqualifying", "needs a mapping of metric: condition")
    months = data.get("assessment_months")
    if (not isinstance(months, list) or not months
            or not all(isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12 for m in months)
            or sorted(set(months)) != months):
        raise KnowledgeError(path, "rules.assessment_months",
                             "needs the months of the year (1-12) in order, each once")
    return Rules(
        tiers={tier: tuple(_threshold_checked(path, f"rules.tiers.{tier}", m, s, names)
                           for m, s in spec.items())
               for tier, spec in tiers.items()},
        disqualifying=tuple(_threshold_checked(path, "rules.disqualifying", m, s, names)
                            for m, s in disqualifying.items()),
        protection_days=_positive_int(path, data, "protection_days"),
        assessment_months=tuple(months),
        data_window_days=_positive_int(path, data, "data_window_days"),
        metric_names=names,
    )


class RulesFile:
    """The rules of one file, reread when it changes; a broken edit keeps the last good rules
    (and is logged), so an operator's typo never takes tier answers down."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._loaded: Optional[Tuple[float, Rules]] = None

    def get(self) -> Optional[Rules]:
        """The current rules; None only if the file has never been read successfully."""
        with self._lock:
            try:
                mtime = self.path.stat().st_mtime
                if self._loaded is None or self._loaded[0] != mtime:
                    self._loaded = (mtime, load_rules(self.path))
            except (OSError, KnowledgeError) as e:
                logger.error("%s: tier rules not (re)loaded, keeping the previous ones: %s", self.path, e)
            return self._loaded[1] if self._loaded else None


_shared: Dict[Path, RulesFile] = {}
_shared_lock = threading.Lock()


def rules_path() -> Path:
    """knowledge/tier_rules.yml of the knowledge directory in use."""
    return knowledge_directory() / TIER_RULES_FILE


def shared_rules(path: Optional[Path] = None) -> RulesFile:
    """One RulesFile per path (by default rules_path()) for the whole process."""
    path = Path(path) if path is not None else rules_path()
    with _shared_lock:
        return _shared.setdefault(path, RulesFile(path))


def apply(threshold: Threshold, value: float, category_average: Optional[float]) -> Criterion:
    """Apply one threshold to one value."""
    limit = category_average if threshold.value == CATEGORY_AVERAGE else threshold.value
    limit = float(limit if limit is not None else 0.0)
    value = float(value)
    if threshold.op == ">=":
        met, gap = value >= limit, max(0.0, limit - value)
    elif threshold.op == "<=":
        met, gap = value <= limit, max(0.0, value - limit)
    else:
        met, gap = value == limit, 0.0 if value == limit else abs(value - limit)
    return Criterion(threshold.metric, value, threshold.op, limit, met, round(gap, 4),
                     threshold.platform_setting)


def protection_end(rules: Rules, since: Optional[dt.date]) -> Optional[dt.date]:
    """Last day of the 中国好卖家 protection period (day 1 is the approval day)."""
    return since + dt.timedelta(days=rules.protection_days - 1) if since else None


def evaluate(metrics: Metrics, rules: Rules, category_average: Optional[float],
             today: dt.date) -> Verdict:
    """Assess one merchant: violations, protection, trade, then gold and silver conditions."""
    values: Dict[str, float] = {k: float(getattr(metrics, k)) for k in
                                {t.metric for ts in rules.tiers.values() for t in ts}
                                | {t.metric for t in rules.disqualifying}}
    tiers = {tier: tuple(apply(t, values[t.metric], category_average) for t in thresholds)
             for tier, thresholds in rules.tiers.items()}
    # A disqualifying threshold is "met" when the merchant has the violation.
    violations = tuple(c for c in (apply(t, values[t.metric], None) for t in rules.disqualifying)
                       if c.met)
    since = metrics.china_good_seller_since
    until = protection_end(rules, since)
    if violations:
        outcome = DISQUALIFIED
    elif since and until and since <= today <= until:
        outcome = PROTECTED
    elif not metrics.has_trade_90d:
        outcome = NO_TRADE
    elif all(c.met for c in tiers.get(GOLD, ())):
        outcome = GOLD
    elif all(c.met for c in tiers.get(SILVER, ())):
        outcome = SILVER
    else:
        outcome = NONE
    return Verdict(outcome, tiers, violations, until if outcome == PROTECTED else None)


def next_assessment(rules: Rules, today: dt.date) -> dt.date:
    """First day of the next assessment month (this month's counts while it lasts)."""
    for year in (today.year, today.year + 1):
        for month in rules.assessment_months:
            if (year, month) >= (today.year, today.month):
                return dt.date(year, month, 1)
    raise AssertionError("a later assessment month always exists")


def data_window(rules: Rules, assessment: dt.date) -> Tuple[dt.date, dt.date]:
    """The quarter of business data an assessment month looks at (e.g. Oct 1 - Dec 31 for Jan)."""
    end = assessment - dt.timedelta(days=1)
    start_month = (end.month - 3) % 12 + 1
    start_year = end.year if start_month <= end.month else end.year - 1
    return dt.date(start_year, start_month, 1), end
