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
merchant's app (the merchant channel's message poll) takes its deliveries when it next asks.
A merchant who turned alerts off gets nothing more, even of alerts already queued.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from actions.status import format_date
from actions.tier_render import _benefits, criterion_line, month
from core import script
from core.audit import record
from core.db.models import AlertDelivery, MerchantPreference, TierAlert
from core.identity import Identity
from core.knowledge.model import KnowledgeBase
from core.tiers import engine
from core.tiers.engine import Rules

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
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
    next_day = engine.next_assessment(rules, today)
    lines.append(r["alert_time_left"].format(next_month=month(kb, next_day), days=(next_day - today).days))
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
    next_day = engine.next_assessment(rules, today)
    lines.append(r["alert_time_left"].format(next_month=month(kb, next_day), days=(next_day - today).days))
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
            select(AlertDelivery.id).where(AlertDelivery.status == "pending",
                                          AlertDelivery.next_attempt_at <= now,
                                          AlertDelivery.channel.in_(list(senders)))
            .order_by(AlertDelivery.id).limit(batch)).scalars().all()
    for delivery_id in due:
        # One transaction per delivery: marked sent only once the platform has it.
        with factory.begin() as session:
            delivery = session.get(AlertDelivery, delivery_id)
            if delivery is None or delivery.status != "pending":
                continue
            if not alerts_enabled(session, delivery.merchant_id):
                delivery.status = "cancelled"
                report.cancelled += 1
                continue
            sent_today = session.execute(
                select(func.count(), func.min(AlertDelivery.sent_at))
                .where(AlertDelivery.merchant_id == delivery.merchant_id,
                       AlertDelivery.channel == delivery.channel,
                       AlertDelivery.sent_at > now - dt.timedelta(hours=24))).one()
            if sent_today[0] >= settings.daily_cap:
                delivery.next_attempt_at = sent_today[1] + dt.timedelta(hours=24)
                report.capped += 1
                continue
            alert = session.get(TierAlert, delivery.alert_id)
            text = script.from_simplified(render_alert(kb, rules, alert, today),
                                          _merchant_script(session, delivery.merchant_id))
            delivery.attempts += 1
            try:
                senders[delivery.channel](delivery.address, text)
            except Exception as e:  # noqa: BLE001 - any failure of the platform: retried
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


def take_app_alerts(session: Session, merchant_id: str, kb: KnowledgeBase, rules: Rules,
                    now: dt.datetime) -> List[str]:
    """The merchant's app deliveries that wait, rendered and marked sent (each once)."""
    rows = session.execute(select(AlertDelivery).where(
        AlertDelivery.merchant_id == merchant_id, AlertDelivery.channel == "app",
        AlertDelivery.status == "pending").order_by(AlertDelivery.id)).scalars().all()
    if not rows:
        return []
    enabled = alerts_enabled(session, merchant_id)
    target = _merchant_script(session, merchant_id)
    texts = []
    for delivery in rows:
        if not enabled:
            delivery.status = "cancelled"
            continue
        alert = session.get(TierAlert, delivery.alert_id)
        texts.append(script.from_simplified(render_alert(kb, rules, alert, (now + LOCAL_OFFSET).date()),
                                            target))
        delivery.status, delivery.sent_at, delivery.attempts = "sent", now, delivery.attempts + 1
    return texts


class DingTalkNotifier:
    """A sender of DingTalk work notifications (工作通知) to a linked account (staff id), with
    the app's access token, kept until it expires and fetched again when DingTalk says so."""

    # DingTalk's answers for an access token that is missing, invalid or expired.
    TOKEN_ERRORS = {40014, 42001, 88}

    def __init__(self, app_key: str, app_secret: str, agent_id: str, api_base: str,
                 timeout: float = 10.0, session: Optional["requests.Session"] = None) -> None:
        self.app_key, self.app_secret, self.agent_id = app_key, app_secret, agent_id
        self.api_base, self.timeout = api_base.rstrip("/"), timeout
        self.http = session or requests.Session()
        self._token: Optional[Tuple[str, float]] = None

    def _access_token(self) -> str:
        if self._token is None or self._token[1] <= time.monotonic():
            reply = self.http.get(f"{self.api_base}/gettoken", timeout=self.timeout,
                                  params={"appkey": self.app_key, "appsecret": self.app_secret})
            reply.raise_for_status()
            body = reply.json()
            if body.get("errcode") != 0 or not body.get("access_token"):
                raise RuntimeError(f"DingTalk gettoken errcode {body.get('errcode')}")
            self._token = (body["access_token"], time.monotonic() + int(body.get("expires_in", 7200)) - 60)
        return self._token[0]

    def __call__(self, address: str, text: str) -> None:
        for attempt in range(2):
            reply = self.http.post(
                f"{self.api_base}/topapi/message/corpconversation/asyncsend_v2",
                params={"access_token": self._access_token()}, timeout=self.timeout,
                json={"agent_id": self.agent_id, "userid_list": address,
                      "msg": {"msgtype": "text", "text": {"content": text}}})
            reply.raise_for_status()
            code = reply.json().get("errcode")
            if code == 0:
                return
            if code in self.TOKEN_ERRORS and attempt == 0:
                self._token = None  # fetched again, once
                continue
            raise RuntimeError(f"DingTalk asyncsend_v2 errcode {code}")



class WeComNotifier:
    """A sender of WeCom (企业微信) app messages to a linked member (UserID), with the app's
    access token, kept until it expires and fetched again when WeCom says so."""

    TOKEN_ERRORS = {40014, 42001}

    def __init__(self, corp_id: str, secret: str, agent_id: str, api_base: str,
                 timeout: float = 10.0, session: Optional["requests.Session"] = None) -> None:
        self.corp_id, self.secret, self.agent_id = corp_id, secret, agent_id
        self.api_base, self.timeout = api_base.rstrip("/"), timeout
        self.http = session or requests.Session()
        self._token: Optional[Tuple[str, float]] = None

    def _access_token(self) -> str:
        if self._token is None or self._token[1] <= time.monotonic():
            reply = self.http.get(f"{self.api_base}/cgi-bin/gettoken", timeout=self.timeout,
                                  params={"corpid": self.corp_id, "corpsecret": self.secret})
            reply.raise_for_status()
            body = reply.json()
            if body.get("errcode") != 0 or not body.get("access_token"):
                raise RuntimeError(f"WeCom gettoken errcode {body.get('errcode')}")
            self._token = (body["access_token"], time.monotonic() + int(body.get("expires_in", 7200)) - 300)
        return self._token[0]

    def __call__(self, address: str, text: str) -> None:
        for attempt in range(2):
            reply = self.http.post(
                f"{self.api_base}/cgi-bin/message/send", params={"access_token": self._access_token()},
                timeout=self.timeout,
                json={"touser": address, "msgtype": "text", "agentid": int(self.agent_id),
                      "text": {"content": text}})
            reply.raise_for_status()
            code = reply.json().get("errcode")
            if code == 0:
                return
            if code in self.TOKEN_ERRORS and attempt == 0:
                self._token = None  # fetched again, once
                continue
            raise RuntimeError(f"WeCom message/send errcode {code}")
