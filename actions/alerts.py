"""Tier alerts: what a merchant reads when their projection changes (core/tiers/watch.py writes
the alerts and their deliveries), and the delivery of it.

An alert says what changed (the projected outcome; each condition newly missed or newly met,
with the merchant's figure and the threshold), the time left until the next assessment, and
what the merchant stands to gain or lose, in the script they last wrote in (simplified unless
they wrote in traditional characters). Its phrases are knowledge/replies.yml's.

Delivery (`python -m actions.cli deliver-alerts`, run by cron or with --every): pushed channels
(DingTalk work notifications; any channel with a sender) get the deliveries that are due, at
least once: a delivery is marked sent only after the platform accepted it; a failure is retried
with back-off (1, 2, 4 ... minutes, at most 6 hours apart) and given up after MAX_ATTEMPTS. In
quiet hours nothing is pushed (the deliveries wait: delayed, not dropped), and no merchant gets
more than the daily cap of pushed alerts per channel in 24 hours (the rest wait their turn). The
merchant's app (the merchant channel's message poll, and the web chat page) takes its
deliveries when it next asks: at most once (marked sent as they are handed over). Two delivery
processes never push the same delivery (each is claimed first, for CLAIM_LEASE), and an
account linked to another store meanwhile gets nothing. A merchant who turned alerts off gets
nothing more, even of alerts already queued.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import requests
from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from actions.status import format_date
from actions.tier_render import _benefits, criterion_line, month
from core import script
from core.audit import record
from core.db.models import AlertDelivery, DingTalkUser, MerchantPreference, TierAlert, WeComUser
from core.identity import Identity
from core.knowledge.model import KnowledgeBase
from core.tiers import engine
from core.tiers.engine import Rules

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# How long a delivery process holds a delivery it took; one that died lets it go after this.
CLAIM_LEASE = dt.timedelta(minutes=5)
# The pushed channels' link tables (model, account column): checked again at send time.
LINKED_ACCOUNTS: Dict[str, Tuple[Any, str]] = {"dingtalk": (DingTalkUser, "staff_id"),
                                               "wecom": (WeComUser, "user_id")}
BACKOFF_SECONDS = 60
MAX_BACKOFF_SECONDS = 6 * 3600
# The merchants' local time (China Standard Time) for quiet hours and the daily cap.
LOCAL_OFFSET = dt.timedelta(hours=8)
RANK = {engine.GOLD: 2, engine.SILVER: 1}

# A pushed channel's sender: (address, text) -> None, raising on any failure.
Sender = Callable[[str, str], None]


@dataclass(frozen=True)
class DeliveryRules:
    """Quiet hours [start, end) in local hours (22, 8: 22:00 to 08:00), and the daily cap."""

    quiet_start: int = 22
    quiet_end: int = 8
    daily_cap: int = 3

    def quiet(self, now: dt.datetime) -> bool:
        hour = (now + LOCAL_OFFSET).hour
        if self.quiet_start == self.quiet_end:
            return False
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= hour < self.quiet_end
        return hour >= self.quiet_start or hour < self.quiet_end


def parse_quiet_hours(text: Optional[str]) -> Tuple[int, int]:
    """'22-8' -> (22, 8); '' or 'off' -> no quiet hours (0, 0)."""
    if not text or text.strip().lower() == "off":
        return 0, 0
    start, _, end = text.partition("-")
    hours = int(start), int(end)
    if not all(0 <= h <= 23 for h in hours):
        raise ValueError(f"quiet hours must look like 22-8, got {text!r}")
    return hours


@dataclass
class DeliveryReport:
    """What one delivery run did, per outcome."""

    sent: int = 0
    retried: int = 0
    given_up: int = 0
    capped: int = 0
    cancelled: int = 0
    quiet: bool = False
    errors: List[str] = field(default_factory=list)

    def render(self) -> str:
        if self.quiet:
            return "quiet hours: nothing pushed (deliveries wait)"
        return (f"alerts: {self.sent} sent, {self.retried} to retry, {self.given_up} given up, "
                f"{self.capped} over the daily cap (wait), {self.cancelled} cancelled (alerts off)")


def _missed(text: str) -> List[str]:
    return [m for m in (text or "").split(",") if m]


def _criteria(rules: Rules, alert: TierAlert, tier: str) -> Dict[str, engine.Criterion]:
    return {t.metric: engine.apply(t, float(getattr(alert, t.metric)), alert.snad_dispute_avg)
            for t in rules.tiers[tier]}


def _time_left(kb: KnowledgeBase, rules: Rules, today: dt.date) -> str:
    """'距下次考核(2027年4月)还有…天': in an assessment month, the one after it (this one is under way)."""
    next_day = engine.next_assessment(rules, today)
    if next_day <= today:
        following = dt.date(next_day.year + next_day.month // 12, next_day.month % 12 + 1, 1)
        next_day = engine.next_assessment(rules, following)
    return kb.replies["alert_time_left"].format(next_month=month(kb, next_day), days=(next_day - today).days)


def _gain_or_loss(kb: KnowledgeBase, old: str, new: str) -> List[str]:
    """What a move from one tier to another brings or takes away (none when neither is a tier)."""
    r = kb.replies
    old_rank, new_rank = RANK.get(old, 0), RANK.get(new, 0)
    if new_rank > old_rank:
        return [r["status_gain"].format(tier=r[f"tier_name_{new}"], benefits=_benefits(kb, new))]
    if old_rank > new_rank:
        return [r["status_loss"].format(tier=r[f"tier_name_{old}"], benefits=_benefits(kb, old))]
    return []


def _render_assessment(kb: KnowledgeBase, rules: Rules, alert: TierAlert, today: dt.date) -> str:
    """An assessment's result: the tier before and after, the silver conditions it missed, the
    violations that disqualified it, what it gains or loses."""
    r = kb.replies
    lines = [r["alert_assessment"].format(month=month(kb, alert.as_of),
                                          old=r[f"tier_name_{alert.old_outcome}"],
                                          new=r[f"alert_outcome_{alert.new_outcome}"])]
    missed = _missed(alert.new_missed_silver)
    if missed and alert.new_outcome == engine.NONE:
        lines.append(r["alert_assessment_missed"])
        criteria = _criteria(rules, alert, engine.SILVER)
        lines += [criterion_line(kb, rules, criteria[m]) for m in missed if m in criteria]
    lines += _violations(kb, rules, alert)
    after = alert.new_outcome if alert.new_outcome in RANK else (
        alert.old_outcome if alert.new_outcome == engine.PROTECTED else engine.NONE)
    lines += _gain_or_loss(kb, alert.old_outcome, after)
    lines.append(_time_left(kb, rules, today))
    lines.append(r["alert_opt_out"])
    return "\n".join(lines)


def _violations(kb: KnowledgeBase, rules: Rules, alert: TierAlert) -> List[str]:
    if alert.new_outcome != engine.DISQUALIFIED:
        return []
    lines = []
    for t in rules.disqualifying:
        value = float(getattr(alert, t.metric))
        if engine.apply(t, value, None).met:
            name = rules.metric_names.get(t.metric, {}).get("name", t.metric)
            unit = rules.metric_names.get(t.metric, {}).get("unit", "")
            lines.append(kb.replies["status_violation_line"].format(
                name=name, value=f"{value:g}{unit}", threshold=f"{float(t.value):g}{unit}"))
    return lines


def render_alert(kb: KnowledgeBase, rules: Rules, alert: TierAlert, today: dt.date) -> str:
    """The alert's text (simplified; converted to the merchant's script when sent)."""
    if alert.kind == "assessment":
        return _render_assessment(kb, rules, alert, today)
    r = kb.replies
    lines = [r["alert_header"].format(as_of=format_date(kb, alert.as_of))]
    if alert.old_outcome != alert.new_outcome:
        lines.append(r["alert_outcome"].format(old=r[f"alert_outcome_{alert.old_outcome}"],
                                               new=r[f"alert_outcome_{alert.new_outcome}"]))
    if alert.old_outcome == engine.PROTECTED and alert.new_outcome != engine.PROTECTED:
        lines.append(r["alert_protection_over"])
    lower, higher = r[f"tier_name_{engine.SILVER}"], r[f"tier_name_{engine.GOLD}"]
    for header, old, new in (("alert_newly_missed", "old", "new"), ("alert_newly_met", "new", "old")):
        # A condition newly missed is in the new list and not the old one; newly met, the reverse.
        changed: Dict[str, List[str]] = {}
        for tier in (engine.SILVER, engine.GOLD):
            before = set(_missed(getattr(alert, f"{old}_missed_{tier}")))
            for metric in _missed(getattr(alert, f"{new}_missed_{tier}")):
                if metric not in before:
                    changed.setdefault(metric, []).append(tier)
        if not changed:
            continue
        lines.append(r[header])
        for metric in (t.metric for t in rules.tiers[engine.SILVER]):
            tiers = changed.get(metric, [])
            per_tier = [(tier, criterion_line(kb, rules, _criteria(rules, alert, tier)[metric]))
                        for tier in tiers]
            if len(per_tier) == 2 and per_tier[0][1] == per_tier[1][1]:
                lines.append(per_tier[0][1] + r["status_same_for_tiers"].format(lower=lower, higher=higher))
            else:
                lines += [r[f"tier_name_{tier}"] + line for tier, line in per_tier]
    lines += _violations(kb, rules, alert)
    lines.append(_time_left(kb, rules, today))
    lines += _gain_or_loss(kb, alert.old_outcome, alert.new_outcome)
    lines.append(r["alert_opt_out"])
    return "\n".join(lines)


def _merchant_script(session: Session, merchant_id: str) -> Optional[str]:
    preference = session.get(MerchantPreference, merchant_id)
    return preference.script if preference is not None else None


def alerts_enabled(session: Session, merchant_id: str) -> bool:
    preference = session.get(MerchantPreference, merchant_id)
    return preference is None or bool(preference.alerts_enabled)


def set_alerts(session: Session, merchant_id: str, enabled: bool, actor: Optional[Identity],
               channel: str) -> None:
    """Turn a merchant's alerts on or off (audited)."""
    preference = session.get(MerchantPreference, merchant_id) or MerchantPreference(merchant_id=merchant_id)
    preference.alerts_enabled = enabled
    preference.updated_at = dt.datetime.utcnow()
    session.add(preference)
    record(session, actor, merchant_id, "alerts_on" if enabled else "alerts_off", True, channel)


def remember_script(session: Session, merchant_id: str, merchant_script: Optional[str]) -> None:
    """Keep the script the merchant last wrote in, for their alerts."""
    if merchant_script is None:
        return
    preference = session.get(MerchantPreference, merchant_id) or MerchantPreference(
        merchant_id=merchant_id, alerts_enabled=True)
    if preference.script != merchant_script:
        preference.script = merchant_script
        preference.updated_at = dt.datetime.utcnow()
        session.add(preference)


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


def _claim(factory: "sessionmaker[Session]", delivery_id: int, now: dt.datetime) -> bool:
    """Take a due delivery for this process: pending (or claimed by a process whose lease ran
    out), conditionally, so that two delivery processes never push the same one."""
    with factory.begin() as session:
        claimed = session.execute(
            update(AlertDelivery)
            .where(AlertDelivery.id == delivery_id, AlertDelivery.next_attempt_at <= now,
                   AlertDelivery.status.in_(("pending", "sending")))
            .values(status="sending", next_attempt_at=now + CLAIM_LEASE))
        return claimed.rowcount == 1


def _still_linked(session: Session, delivery: AlertDelivery) -> bool:
    """Whether the account is still the merchant's: a re-linked account gets no other store's alert."""
    linked = LINKED_ACCOUNTS.get(delivery.channel)
    if linked is None:
        return True
    model, column = linked
    return session.execute(select(model.merchant_id).where(getattr(model, column) == delivery.address)
                           ).scalar() == delivery.merchant_id


def _over_cap(session: Session, delivery: AlertDelivery, now: dt.datetime, cap: int) -> Optional[dt.datetime]:
    """When the merchant has had `cap` alerts on this channel in the last 24 hours (an alert
    sent to several linked accounts counts once, and its other copies are never held back):
    the time the earliest of them leaves the window; else None."""
    window = and_(AlertDelivery.merchant_id == delivery.merchant_id,
                  AlertDelivery.channel == delivery.channel, AlertDelivery.status == "sent",
                  AlertDelivery.sent_at > now - dt.timedelta(hours=24))
    if session.execute(select(AlertDelivery.id).where(window, AlertDelivery.alert_id == delivery.alert_id)
                       .limit(1)).first() is not None:
        return None
    count, earliest = session.execute(select(func.count(func.distinct(AlertDelivery.alert_id)),
                                             func.min(AlertDelivery.sent_at)).where(window)).one()
    return earliest + dt.timedelta(hours=24) if count >= cap else None


def deliver_due(factory: "sessionmaker[Session]", senders: Mapping[str, Sender], kb: KnowledgeBase,
                rules: Rules, now: dt.datetime, settings: Optional[DeliveryRules] = None,
                batch: int = 500) -> DeliveryReport:
    """Push the deliveries that are due on the channels with a sender (see the module)."""
    settings = settings or DeliveryRules()
    report = DeliveryReport()
    if settings.quiet(now):
        report.quiet = True
        return report
    today = (now + LOCAL_OFFSET).date()
    with factory() as session:
        due = session.execute(
            select(AlertDelivery.id).where(AlertDelivery.status.in_(("pending", "sending")),
                                          AlertDelivery.next_attempt_at <= now,
                                          AlertDelivery.channel.in_(list(senders)))
            .order_by(AlertDelivery.id).limit(batch)).scalars().all()
    for delivery_id in due:
        if not _claim(factory, delivery_id, now):
            continue  # another delivery process has it
        # One transaction per delivery: marked sent only once the platform has it.
        with factory.begin() as session:
            delivery = session.get(AlertDelivery, delivery_id)
            if delivery is None:
                continue
            delivery.status = "pending"  # unless it is sent, cancelled or given up below
            if not alerts_enabled(session, delivery.merchant_id) or not _still_linked(session, delivery):
                delivery.status = "cancelled"
                report.cancelled += 1
                continue
            wait_until = _over_cap(session, delivery, now, settings.daily_cap)
            if wait_until is not None:
                delivery.next_attempt_at = wait_until
                report.capped += 1
                continue
            delivery.attempts += 1
            try:
                alert = session.get(TierAlert, delivery.alert_id)
                text = script.from_simplified(render_alert(kb, rules, alert, today),
                                              _merchant_script(session, delivery.merchant_id))
                senders[delivery.channel](delivery.address, text)
            except Exception as e:  # noqa: BLE001 - any failure to write or send it: retried
                delivery.last_error = f"{e.__class__.__name__}: {e}"[:300]
                if delivery.attempts >= MAX_ATTEMPTS:
                    delivery.status = "given_up"
                    report.given_up += 1
                else:
                    delivery.next_attempt_at = now + _backoff(delivery.attempts)
                    report.retried += 1
                report.errors.append(delivery.last_error)
                continue
            delivery.status, delivery.sent_at, delivery.last_error = "sent", now, None
            report.sent += 1
    return report


def take_app_alerts(session: Session, merchant_id: str,
                    kb: Union[KnowledgeBase, Callable[[], KnowledgeBase]], rules: Rules,
                    now: dt.datetime) -> List[str]:
    """The merchant's app deliveries that wait, rendered and marked sent (each once). `kb` may
    be a function that gives it: called only when something waits."""
    rows = session.execute(select(AlertDelivery).where(
        AlertDelivery.merchant_id == merchant_id, AlertDelivery.channel == "app",
        AlertDelivery.status == "pending").order_by(AlertDelivery.id)).scalars().all()
    if not rows:
        return []
    enabled = alerts_enabled(session, merchant_id)
    target = _merchant_script(session, merchant_id)
    if callable(kb):
        kb = kb()
    texts = []
    for delivery in rows:
        # Conditional: of two polls at once, one takes each alert.
        taken = session.execute(update(AlertDelivery).where(
            AlertDelivery.id == delivery.id, AlertDelivery.status == "pending").values(
            status="sent" if enabled else "cancelled", sent_at=now, attempts=AlertDelivery.attempts + 1))
        if taken.rowcount != 1 or not enabled:
            continue
        alert = session.get(TierAlert, delivery.alert_id)
        texts.append(script.from_simplified(render_alert(kb, rules, alert, (now + LOCAL_OFFSET).date()),
                                            target))
    return texts


class _AppNotifier:
    """A sender of text messages to one linked account through a platform app's server API,
    with the app's access token, kept until shortly before it expires and fetched again (once
    per message) when the platform says it is no longer good."""

    PLATFORM = ""
    TOKEN_PATH = ""  # GET, with `_token_params()`
    SEND_PATH = ""  # POST, with ?access_token=
    TOKEN_ERRORS: frozenset = frozenset()
    TOKEN_MARGIN_SECONDS = 60

    def __init__(self, api_base: str, agent_id: str, timeout: float = 10.0,
                 session: Optional["requests.Session"] = None) -> None:
        self.api_base, self.agent_id, self.timeout = api_base.rstrip("/"), agent_id, timeout
        self.http = session or requests.Session()
        self._token: Optional[Tuple[str, float]] = None

    def _token_params(self) -> Dict[str, str]:
        raise NotImplementedError

    def _message(self, address: str, text: str) -> Dict[str, Any]:
        raise NotImplementedError

    def _access_token(self) -> str:
        if self._token is None or self._token[1] <= time.monotonic():
            reply = self.http.get(f"{self.api_base}{self.TOKEN_PATH}", params=self._token_params(),
                                  timeout=self.timeout)
            reply.raise_for_status()
            body = reply.json()
            if body.get("errcode") != 0 or not body.get("access_token"):
                raise RuntimeError(f"{self.PLATFORM} gettoken errcode {body.get('errcode')}")
            expires = int(body.get("expires_in", 7200)) - self.TOKEN_MARGIN_SECONDS
            self._token = (body["access_token"], time.monotonic() + expires)
        return self._token[0]

    def __call__(self, address: str, text: str) -> None:
        for attempt in range(2):
            reply = self.http.post(f"{self.api_base}{self.SEND_PATH}", timeout=self.timeout,
                                   params={"access_token": self._access_token()},
                                   json=self._message(address, text))
            reply.raise_for_status()
            code = reply.json().get("errcode")
            if code == 0:
                return
            if code in self.TOKEN_ERRORS and attempt == 0:
                self._token = None  # fetched again, once
                continue
            raise RuntimeError(f"{self.PLATFORM} {self.SEND_PATH} errcode {code}")


class DingTalkNotifier(_AppNotifier):
    """DingTalk work notifications (工作通知) to a linked account (staff id)."""

    PLATFORM, TOKEN_PATH = "DingTalk", "/gettoken"
    SEND_PATH = "/topapi/message/corpconversation/asyncsend_v2"
    # DingTalk's answers for an access token that is missing, invalid or expired.
    TOKEN_ERRORS = frozenset({40014, 42001, 88})

    def __init__(self, app_key: str, app_secret: str, agent_id: str, api_base: str,
                 timeout: float = 10.0, session: Optional["requests.Session"] = None) -> None:
        super().__init__(api_base, agent_id, timeout, session)
        self.app_key, self.app_secret = app_key, app_secret

    def _token_params(self) -> Dict[str, str]:
        return {"appkey": self.app_key, "appsecret": self.app_secret}

    def _message(self, address: str, text: str) -> Dict[str, Any]:
        return {"agent_id": self.agent_id, "userid_list": address,
                "msg": {"msgtype": "text", "text": {"content": text}}}


class WeComNotifier(_AppNotifier):
    """WeCom (企业微信) app messages to a linked member (UserID)."""

    PLATFORM, TOKEN_PATH, SEND_PATH = "WeCom", "/cgi-bin/gettoken", "/cgi-bin/message/send"
    TOKEN_ERRORS = frozenset({40014, 42001})
    TOKEN_MARGIN_SECONDS = 300

    def __init__(self, corp_id: str, secret: str, agent_id: str, api_base: str,
                 timeout: float = 10.0, session: Optional["requests.Session"] = None) -> None:
        super().__init__(api_base, agent_id, timeout, session)
        self.corp_id, self.secret = corp_id, secret

    def _token_params(self) -> Dict[str, str]:
        return {"corpid": self.corp_id, "corpsecret": self.secret}

    def _message(self, address: str, text: str) -> Dict[str, Any]:
        return {"touser": address, "msgtype": "text", "agentid": int(self.agent_id),
                "text": {"content": text}}
