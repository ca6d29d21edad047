"""Tier watch and alerts (core/tiers/watch.py, actions/alerts.py) on SQLite and PostgreSQL: one
alert per change that matters, one delivery per linked channel, nothing on a re-import, in
the merchant's script, retried until the platform takes it, delayed in quiet hours, capped per
day, stopped by opting out (audited)."""
from __future__ import annotations

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from rasa_sdk import Tracker
from sqlalchemy import func, select, update

from actions import cli
from actions.alert_preference import ActionAlertPreference
from actions.alerts import (
    CLAIM_LEASE,
    DeliveryRules,
    DingTalkNotifier,
    WeComNotifier,
    _claim,
    deliver_due,
    parse_quiet_hours,
    remember_script,
    render_alert,
    set_alerts,
    take_app_alerts,
)
from core import script
from core.db.imports import import_metrics
from core.db.models import (
    AlertDelivery,
    AuditRecord,
    DingTalkUser,
    MerchantPreference,
    TierAlert,
    WeComUser,
)
from core.db.session import make_engine
from core.identity import Identity, seal
from core.tiers.batch import assess_all, parse_quarter
from core.tiers.engine import load_rules, rules_path
from core.tiers.watch import assessment_alerts, watch
from tests.actions.helpers import run
from tests.conftest import knowledge_store
from tests.e2e.fake_wecom import FakeWeCom
from tests.metrics_csv import ROW, write_csv
from tests.wecom import AGENT_ID, APP_SECRET, CORP_ID

TODAY = dt.date(2026, 11, 21)
# 10:00 in China on TODAY: outside the default quiet hours (22:00-08:00).
DAYTIME = dt.datetime(2026, 11, 21, 2, 0)
# No category benchmark imported: the dispute rate is compared with 0.
GOLD_ROW = dict(ROW, positive_feedback_rate="93", snad_dispute_rate="0", current_tier="gold")


@pytest.fixture
def rules():
    return load_rules(rules_path())


@pytest.fixture
def kb():
    return knowledge_store().get()


def _import(factory, tmp_path, name, rows):
    report = import_metrics(factory, write_csv(tmp_path / name, rows))
    assert not report.errors, report.errors
    return report


def _watch(db_url, rules):
    engine = make_engine(db_url)
    try:
        return watch(engine, TODAY, rules, now=DAYTIME - dt.timedelta(hours=1))
    finally:
        engine.dispose()


@pytest.fixture
def linked(factory):
    with factory.begin() as session:
        session.add(DingTalkUser(staff_id="staff-9", merchant_id="M2001"))
        session.add(WeComUser(user_id="wecom-9", merchant_id="M2001"))


def _deliveries(factory):
    with factory() as session:
        return session.execute(select(AlertDelivery.channel, AlertDelivery.address, AlertDelivery.status)
                               .order_by(AlertDelivery.channel)).all()


def test_a_fall_under_a_threshold_is_one_alert_per_channel_and_a_reimport_is_none(
        factory, db_url, tmp_path, rules, linked):
    others = [dict(GOLD_ROW, merchant_id="M2002"), dict(GOLD_ROW, merchant_id="M2003")]
    _import(factory, tmp_path, "day1.csv", [GOLD_ROW, *others])
    first = _watch(db_url, rules)
    assert (first.projected, first.alerts, first.deliveries) == (3, 0, 0)  # the baseline
    # 好评率 93% -> 91.5%: under gold's and silver's 92%. M2003 turned alerts off before.
    with factory.begin() as session:
        set_alerts(session, "M2003", False, Identity(sub="M2003", role="merchant"), "merchant")
    fallen = [dict(GOLD_ROW, positive_feedback_rate="91.5", as_of="2026-11-22"), others[0],
              dict(others[1], positive_feedback_rate="80", as_of="2026-11-22")]
    _import(factory, tmp_path, "day2.csv", fallen)
    second = _watch(db_url, rules)
    assert (second.alerts, second.deliveries) == (2, 3)
    assert _deliveries(factory) == [("app", "M2001", "pending"), ("dingtalk", "staff-9", "pending"),
                                    ("wecom", "wecom-9", "pending")]
    with factory() as session:
        alert = session.execute(select(TierAlert).where(TierAlert.merchant_id == "M2001")).scalar_one()
        assert (alert.old_outcome, alert.new_outcome) == ("gold", "none")
        assert "positive_feedback_rate" in alert.new_missed_gold and alert.positive_feedback_rate == 91.5
    # The same file again, and the watch run twice: nothing new.
    _import(factory, tmp_path, "day2-again.csv", fallen)
    assert (_watch(db_url, rules).alerts, _watch(db_url, rules).alerts) == (0, 0)
    with factory() as session:
        assert session.execute(select(func.count()).select_from(AlertDelivery)).scalar() == 3


def test_the_alert_says_what_changed_with_the_figures_in_the_merchants_script(
        factory, db_url, tmp_path, rules, kb):
    _import(factory, tmp_path, "a.csv", [GOLD_ROW])
    _watch(db_url, rules)
    _import(factory, tmp_path, "b.csv", [dict(GOLD_ROW, positive_feedback_rate="91.5")])
    _watch(db_url, rules)
    with factory() as session:
        alert = session.execute(select(TierAlert)).scalar_one()
        text = render_alert(kb, rules, alert, TODAY)
    assert "预计考核结果从“金牌”变为“不满足银牌条件”" in text
    assert "近90天店铺好评率:您是91.5%,要求≥92%,差0.5%" in text
    assert "距下次考核(2027年1月)还有41天" in text
    assert "将失去金牌的" in text and "不用提醒我了" in text
    # Sent in the script the merchant last wrote in.
    with factory.begin() as session:
        remember_script(session, "M2001", script.HONG_KONG)
        texts = take_app_alerts(session, "M2001", kb, rules, DAYTIME)
    assert len(texts) == 1 and "預計考核結果" in texts[0] and "好評率" in texts[0]
    with factory.begin() as session:
        assert take_app_alerts(session, "M2001", kb, rules, DAYTIME) == []  # each once


def _one_alert(factory, db_url, tmp_path, rules):
    _import(factory, tmp_path, "a.csv", [GOLD_ROW])
    _watch(db_url, rules)
    _import(factory, tmp_path, "b.csv", [dict(GOLD_ROW, positive_feedback_rate="91.5")])
    _watch(db_url, rules)


def test_a_platform_failure_is_retried_and_delivered_once(factory, db_url, tmp_path, rules, kb, linked):
    _one_alert(factory, db_url, tmp_path, rules)
    sent = []
    failing = [True]

    def dingtalk(address, text):
        if failing[0]:
            raise ConnectionError("DingTalk API unreachable")
        sent.append((address, text))

    first = deliver_due(factory, {"dingtalk": dingtalk}, kb, rules, DAYTIME)
    assert (first.sent, first.retried) == (0, 1) and sent == []
    # Not due again before its back-off; then DingTalk is back.
    assert deliver_due(factory, {"dingtalk": dingtalk}, kb, rules, DAYTIME).retried == 0
    failing[0] = False
    later = DAYTIME + dt.timedelta(minutes=2)
    assert deliver_due(factory, {"dingtalk": dingtalk}, kb, rules, later).sent == 1
    assert deliver_due(factory, {"dingtalk": dingtalk}, kb, rules, later + dt.timedelta(hours=1)).sent == 0
    assert len(sent) == 1 and sent[0][0] == "staff-9" and "91.5%" in sent[0][1]
    assert ("dingtalk", "staff-9", "sent") in _deliveries(factory)


def test_quiet_hours_delay_and_do_not_drop(factory, db_url, tmp_path, rules, kb, linked):
    _one_alert(factory, db_url, tmp_path, rules)
    sent = []
    night = dt.datetime(2026, 11, 21, 15, 30)  # 23:30 in China
    report = deliver_due(factory, {"dingtalk": lambda a, t: sent.append(a)}, kb, rules, night)
    assert report.quiet and sent == [] and ("dingtalk", "staff-9", "pending") in _deliveries(factory)
    morning = dt.datetime(2026, 11, 22, 1, 0)  # 09:00
    assert deliver_due(factory, {"dingtalk": lambda a, t: sent.append(a)}, kb, rules, morning).sent == 1
    assert sent == ["staff-9"]
    assert parse_quiet_hours("22-8") == (22, 8) and parse_quiet_hours("off") == (0, 0)
    with pytest.raises(ValueError):
        parse_quiet_hours("25-8")
    assert not DeliveryRules(0, 0).quiet(night)


def test_no_merchant_gets_more_than_the_daily_cap(factory, db_url, tmp_path, rules, kb, linked):
    _import(factory, tmp_path, "0.csv", [GOLD_ROW])
    _watch(db_url, rules)
    for day, feedback in enumerate(("91.5", "93", "91", "95"), start=1):
        _import(factory, tmp_path, f"{day}.csv", [dict(GOLD_ROW, positive_feedback_rate=feedback,
                                                       as_of=f"2026-11-2{day}")])
        _watch(db_url, rules)
    sent = []
    report = deliver_due(factory, {"dingtalk": lambda a, t: sent.append(t)}, kb, rules, DAYTIME,
                         DeliveryRules(daily_cap=3))
    assert (report.sent, report.capped) == (3, 1) and len(sent) == 3
    # The fourth goes out a day after the first.
    assert deliver_due(factory, {"dingtalk": lambda a, t: sent.append(t)}, kb, rules,
                       DAYTIME + dt.timedelta(hours=24, minutes=1), DeliveryRules(daily_cap=3)).sent == 1


def test_opting_out_stops_queued_alerts_and_is_audited(factory, db_url, tmp_path, rules, kb, linked):
    _one_alert(factory, db_url, tmp_path, rules)
    with factory.begin() as session:
        set_alerts(session, "M2001", False, Identity(sub="M2001", role="merchant"), "dingtalk")
    sent = []
    report = deliver_due(factory, {"dingtalk": lambda a, t: sent.append(a)}, kb, rules, DAYTIME)
    assert report.cancelled == 1 and sent == []
    with factory.begin() as session:
        assert take_app_alerts(session, "M2001", kb, rules, DAYTIME) == []
        audited = session.execute(select(AuditRecord.action, AuditRecord.subject_merchant)).all()
    assert ("alerts_off", "M2001") in audited


class FakeDingTalkApi:
    """DingTalk's server API on loopback: access tokens and work notifications. `fail` holds
    what the next send calls answer (an HTTP status, or an errcode) before they succeed."""

    def __init__(self) -> None:
        self.tokens: List[str] = []
        self.sent: List[Dict[str, Any]] = []
        self.fail: List[int] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: Dict[str, Any]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(body).encode())

            def do_GET(self) -> None:  # http.server's naming
                query = parse_qs(urlsplit(self.path).query)
                if urlsplit(self.path).path == "/gettoken" and query.get("appsecret") == ["s3cret"]:
                    outer.tokens.append(f"token-{len(outer.tokens)}")
                    self._reply(200, {"errcode": 0, "access_token": outer.tokens[-1], "expires_in": 7200})
                else:
                    self._reply(200, {"errcode": 40089})

            def do_POST(self) -> None:  # http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                token = parse_qs(urlsplit(self.path).query).get("access_token", [""])[0]
                if outer.fail:
                    failure = outer.fail.pop(0)
                    if 400 <= failure < 600:  # an HTTP status, else an errcode
                        self._reply(failure, {})
                    else:
                        self._reply(200, {"errcode": failure})
                    return
                if token != outer.tokens[-1]:
                    self._reply(200, {"errcode": 42001})
                    return
                outer.sent.append(body)
                self._reply(200, {"errcode": 0, "task_id": len(outer.sent)})

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def dingtalk_api():
    api = FakeDingTalkApi()
    yield api
    api.server.shutdown()


def test_the_dingtalk_notifier_keeps_its_token_and_fetches_it_again_when_told(dingtalk_api):
    notify = DingTalkNotifier("key", "s3cret", "77", dingtalk_api.base)
    notify("staff-9", "第一条")
    notify("staff-9", "第二条")
    assert len(dingtalk_api.tokens) == 1
    assert dingtalk_api.sent[0] == {"agent_id": "77", "userid_list": "staff-9",
                                    "msg": {"msgtype": "text", "text": {"content": "第一条"}}}
    dingtalk_api.fail = [42001]  # the token expired: fetched again, the message sent once
    notify("staff-9", "第三条")
    assert len(dingtalk_api.tokens) == 2
    assert [m["msg"]["text"]["content"] for m in dingtalk_api.sent][-1] == "第三条"
    # An HTTP error, and an error DingTalk answers: raised, for the caller to retry.
    for failure, error in ((500, requests.HTTPError), (40035, RuntimeError)):
        dingtalk_api.fail = [failure]
        with pytest.raises(error):
            notify("staff-9", "第四条")
    assert len(dingtalk_api.sent) == 3
    with pytest.raises(RuntimeError):
        DingTalkNotifier("key", "wrong", "77", dingtalk_api.base)("staff-9", "x")


def test_an_operator_imports_twice_and_the_merchant_gets_one_dingtalk_alert(
        factory, db_url, tmp_path, dingtalk_api, monkeypatch, capsys):
    monkeypatch.setenv("DINGTALK_APP_KEY", "key")
    monkeypatch.setenv("DINGTALK_APP_SECRET", "s3cret")
    monkeypatch.setenv("DINGTALK_AGENT_ID", "77")
    monkeypatch.setenv("DINGTALK_API_BASE", dingtalk_api.base)
    monkeypatch.setenv("ASSISTANT_ALERT_QUIET_HOURS", "off")
    monkeypatch.setenv("ASSISTANT_TODAY", "2026-11-21")
    base = ["--database-url", db_url]
    assert cli.main([*base, "import-metrics", str(write_csv(tmp_path / "a.csv", [GOLD_ROW]))]) == 0
    assert cli.main([*base, "link-dingtalk", "staff-9", "M2001"]) == 0
    fallen = write_csv(tmp_path / "b.csv", [dict(GOLD_ROW, positive_feedback_rate="91.5")])
    assert cli.main([*base, "import-metrics", str(fallen)]) == 0
    assert "1 alerts, 2 deliveries" in capsys.readouterr().out
    assert cli.main([*base, "import-metrics", str(fallen)]) == 0
    assert "0 alerts, 0 deliveries" in capsys.readouterr().out
    dingtalk_api.fail = [503]
    assert cli.main([*base, "deliver-alerts"]) == 0
    assert "0 sent, 1 to retry" in capsys.readouterr().out and dingtalk_api.sent == []
    with factory.begin() as session:  # its back-off over
        session.execute(update(AlertDelivery).values(next_attempt_at=dt.datetime(2026, 1, 1)))
    assert cli.main([*base, "deliver-alerts"]) == 0
    assert cli.main([*base, "deliver-alerts"]) == 0
    assert [m["userid_list"] for m in dingtalk_api.sent] == ["staff-9"]
    assert "91.5%" in dingtalk_api.sent[0]["msg"]["text"]["content"]
    assert cli.main([*base, "alerts", "off", "M2001"]) == 0
    assert cli.main([*base, "alerts", "off", "M404"]) == 1
    with factory() as session:
        assert session.execute(select(AuditRecord.action).where(
            AuditRecord.subject_merchant == "M2001")).scalars().all() == ["alerts_off"]


def _preference_tracker(sender: str, intent: str, metadata=None, script_of_text: str = "zh-Hans",
                        text: str = "以后有变化再提醒我") -> Tracker:
    events = [{"event": "user", "text": text, "input_channel": "merchant"}]
    return Tracker(sender, {}, {"text": text, "intent": {"name": intent}, "entities": [],
                                "metadata": metadata or {}, "script": script_of_text},
                   events, False, None, {}, "action_listen")


async def test_a_signed_in_merchant_turns_alerts_off_and_on_in_the_conversation(factory, monkeypatch):
    monkeypatch.setenv("ASSISTANT_JWT_SECRET", "test-secret")
    action = ActionAlertPreference(factory)
    me = Identity("M2001", "merchant", int(time.time()) + 3600)
    sealed = seal("test-secret", "merchant:M2001", me)
    off = _preference_tracker("merchant:M2001", "alerts_off", sealed, script.TAIWAN)
    [message], _ = await run(action, off)
    assert message["response"] == "utter_alerts_off"
    with factory() as session:
        preference = session.get(MerchantPreference, "M2001")
        assert not preference.alerts_enabled and preference.script == script.TAIWAN
    [message], _ = await run(action, _preference_tracker("merchant:M2001", "alerts_on", sealed))
    assert message["response"] == "utter_alerts_on"
    with factory() as session:
        assert session.get(MerchantPreference, "M2001").alerts_enabled
        assert session.execute(select(AuditRecord.action, AuditRecord.actor).where(
            AuditRecord.subject_merchant == "M2001").order_by(AuditRecord.id)).all() == [
            ("alerts_off", "M2001"), ("alerts_on", "M2001")]
    # A visitor, and a seal made for another conversation: asked to sign in, nothing changed.
    for sender, metadata in (("visitor-1", None), ("merchant:M2002", sealed)):
        [message], _ = await run(action, _preference_tracker(sender, "alerts_off", metadata))
        assert message["response"] == "utter_alerts_need_login"
    with factory() as session:
        assert session.get(MerchantPreference, "M2002") is None


def test_the_wecom_notifier_sends_as_the_app_and_fetches_an_expired_token_again():
    api = FakeWeCom()
    try:
        notify = WeComNotifier(CORP_ID, APP_SECRET, AGENT_ID, api.base)
        notify("wecom-9", "金银牌提醒")
        notify("wecom-9", "第二条")
        assert api.tokens_issued == 1
        assert api.sent[0] == {"touser": "wecom-9", "msgtype": "text", "agentid": int(AGENT_ID),
                               "text": {"content": "金银牌提醒"}}
        api.expired |= api.valid  # the token expired: fetched again, the message sent once
        notify("wecom-9", "第三条")
        assert api.tokens_issued == 2 and [m["text"]["content"] for m in api.sent] == [
            "金银牌提醒", "第二条", "第三条"]
        with pytest.raises(RuntimeError):
            WeComNotifier(CORP_ID, "wrong", AGENT_ID, api.base)("wecom-9", "x")
    finally:
        api.server.shutdown()


def test_wecom_deliveries_are_pushed_when_wecom_is_configured(factory, db_url, tmp_path, monkeypatch, capsys):
    api = FakeWeCom()
    try:
        for name, value in (("WECOM_CORP_ID", CORP_ID), ("WECOM_SECRET", APP_SECRET),
                            ("WECOM_AGENT_ID", AGENT_ID), ("WECOM_API_BASE", api.base),
                            ("ASSISTANT_ALERT_QUIET_HOURS", "off"), ("ASSISTANT_TODAY", "2026-11-21")):
            monkeypatch.setenv(name, value)
        base = ["--database-url", db_url]
        assert cli.main([*base, "import-metrics", str(write_csv(tmp_path / "a.csv", [GOLD_ROW]))]) == 0
        assert cli.main([*base, "link-wecom", "wecom-9", "M2001"]) == 0
        fallen = write_csv(tmp_path / "b.csv", [dict(GOLD_ROW, positive_feedback_rate="91.5")])
        assert cli.main([*base, "import-metrics", str(fallen)]) == 0
        assert cli.main([*base, "deliver-alerts"]) == 0
        assert "1 sent" in capsys.readouterr().out
        assert [m["touser"] for m in api.sent] == ["wecom-9"] and "91.5%" in api.sent[0]["text"]["content"]
    finally:
        api.server.shutdown()


def test_an_assessment_that_changes_a_tier_is_an_alert_once(factory, db_url, tmp_path, rules, kb, linked):
    """The quarterly assessment's result, for a store it gives another tier (gold kept from a
    store whose 好评率 fell); a store without a tier and no trade is told nothing."""
    _import(factory, tmp_path, "q.csv", [dict(GOLD_ROW, positive_feedback_rate="91.5"),
                                         dict(GOLD_ROW, merchant_id="M2002", current_tier="gold"),
                                         dict(GOLD_ROW, merchant_id="M2003", current_tier="none",
                                              has_trade_90d="0")])
    quarter, assessed_on = parse_quarter("2026Q4")
    engine = make_engine(db_url)
    try:
        assess_all(engine, quarter, assessed_on, rules)
        first = assessment_alerts(engine, quarter, assessed_on, now=DAYTIME)
        again = assessment_alerts(engine, quarter, assessed_on, now=DAYTIME)
    finally:
        engine.dispose()
    assert (first.alerts, first.deliveries, again.alerts) == (1, 3, 0)
    with factory() as session:
        alert = session.execute(select(TierAlert)).scalar_one()
        text = render_alert(kb, rules, alert, assessed_on)
    assert alert.kind == "assessment" and alert.merchant_id == "M2001"
    assert "2027年1月的季度考核:您店铺由“金牌”变为“不满足银牌条件”" in text
    assert "近90天店铺好评率:您是91.5%,要求≥92%,差0.5%" in text and "将失去金牌的" in text


def test_two_delivery_processes_push_each_alert_once(factory, db_url, tmp_path, rules, kb, linked):
    _one_alert(factory, db_url, tmp_path, rules)
    sent = []
    with factory() as session:
        delivery_id = session.execute(select(AlertDelivery.id).where(AlertDelivery.channel == "dingtalk")
                                      ).scalar_one()
    # Another process took it a moment ago: this one leaves it alone until its lease runs out.
    assert _claim(factory, delivery_id, DAYTIME)
    assert deliver_due(factory, {"dingtalk": lambda a, t: sent.append(a)}, kb, rules, DAYTIME).sent == 0
    assert not _claim(factory, delivery_id, DAYTIME)
    later = DAYTIME + CLAIM_LEASE + dt.timedelta(seconds=1)  # that process died
    assert deliver_due(factory, {"dingtalk": lambda a, t: sent.append(a)}, kb, rules, later).sent == 1
    assert sent == ["staff-9"]


def test_an_account_linked_to_another_store_meanwhile_gets_nothing(
        factory, db_url, tmp_path, rules, kb, linked):
    _one_alert(factory, db_url, tmp_path, rules)
    with factory.begin() as session:
        session.get(DingTalkUser, "staff-9").merchant_id = "M2002"
    sent = []
    report = deliver_due(factory, {"dingtalk": lambda a, t: sent.append(a)}, kb, rules, DAYTIME)
    assert (report.sent, report.cancelled, sent) == (0, 1, [])


def test_an_alert_to_several_accounts_counts_once_against_the_cap(factory, db_url, tmp_path, rules, kb):
    with factory.begin() as session:
        for staff in ("a", "b", "c", "d"):
            session.add(DingTalkUser(staff_id=f"staff-{staff}", merchant_id="M2001"))
    _one_alert(factory, db_url, tmp_path, rules)
    sent = []
    report = deliver_due(factory, {"dingtalk": lambda a, t: sent.append(a)}, kb, rules, DAYTIME,
                         DeliveryRules(daily_cap=1))
    assert report.sent == 4 and sorted(sent) == ["staff-a", "staff-b", "staff-c", "staff-d"]


def test_in_an_assessment_month_the_time_left_is_to_the_next_one(factory, db_url, tmp_path, rules, kb):
    _one_alert(factory, db_url, tmp_path, rules)
    with factory() as session:
        alert = session.execute(select(TierAlert)).scalar_one()
        text = render_alert(kb, rules, alert, dt.date(2027, 1, 15))
    assert "距下次考核(2027年4月)还有76天" in text


def test_an_alert_that_cannot_be_written_is_retried_then_given_up(
        factory, db_url, tmp_path, rules, kb, linked, monkeypatch):
    _one_alert(factory, db_url, tmp_path, rules)

    def broken(*args):
        raise KeyError("positive_feedback_rate")

    monkeypatch.setattr("actions.alerts.render_alert", broken)
    monkeypatch.setattr("actions.alerts.MAX_ATTEMPTS", 2)
    sent = []
    first = deliver_due(factory, {"dingtalk": lambda a, t: sent.append(a)}, kb, rules, DAYTIME)
    second = deliver_due(factory, {"dingtalk": lambda a, t: sent.append(a)}, kb, rules,
                         DAYTIME + dt.timedelta(minutes=2))
    assert (first.retried, second.given_up, sent) == (1, 1, [])
    assert ("dingtalk", "staff-9", "given_up") in _deliveries(factory)


def test_a_dingtalk_account_id_is_one_person(db_url, factory, capsys):
    for staff in ("a,b", "a|b", "", "a b"):
        assert cli.main(["--database-url", db_url, "link-dingtalk", staff, "M2001"]) == 1
    assert "1-128 letters, digits" in capsys.readouterr().err


def test_a_projection_back_and_forth_on_corrected_files_is_an_alert_each_time(
        factory, db_url, tmp_path, rules):
    """Corrected exports of the same day: each change of the projection is told, also a change
    back to one the merchant was told of before."""
    _import(factory, tmp_path, "0.csv", [GOLD_ROW])
    _watch(db_url, rules)
    alerts = []
    for i, feedback in enumerate(("91.5", "93", "91.5")):
        _import(factory, tmp_path, f"{i + 1}.csv", [dict(GOLD_ROW, positive_feedback_rate=feedback)])
        alerts.append(_watch(db_url, rules).alerts)
    assert alerts == [1, 1, 1]


async def test_turning_off_something_else_is_not_about_alerts(factory, monkeypatch):
    """"花呗怎么关掉" read as turning alerts off: no alert is touched, and it is answered as any
    other question (here: declined)."""
    monkeypatch.setenv("ASSISTANT_JWT_SECRET", "test-secret")
    me = Identity("M2001", "merchant", int(time.time()) + 3600)
    tracker = _preference_tracker("merchant:M2001", "alerts_off", seal("test-secret", "merchant:M2001", me),
                                  text="花呗怎么关掉")
    [message], _ = await run(ActionAlertPreference(factory), tracker)
    assert message["response"] == "utter_out_of_scope"
    with factory() as session:
        assert session.get(MerchantPreference, "M2001") is None
