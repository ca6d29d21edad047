"""Operator commands: `python -m actions.cli import-metrics|watch-tiers|deliver-alerts|alerts|assess|
init-db|agent|token ...`."""
from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from core import settings
from core.db.session import database_url, make_engine, make_session_factory

ACCOUNT_ID = re.compile(r"[A-Za-z0-9_.@-]{1,128}")


def _factory(url: Optional[str]):
    from core.db.migrate import upgrade

    url = url or database_url()
    upgrade(url)
    return make_session_factory(make_engine(url))


def cmd_import(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.db.imports import RowError, import_categories, import_metrics

    factory = _factory(args.database_url)
    try:
        if args.categories:
            report = import_categories(factory, args.categories)
            for error in report.errors:
                print(f"{args.categories}: {error}", file=sys.stderr)
            if report.errors:
                print(f"{args.categories}: {len(report.errors)} bad rows; nothing imported",
                      file=sys.stderr)
                return 1
            print(f"{args.categories}: {report.categories} categories imported")
        with tqdm(desc=str(args.metrics), unit=" rows", disable=not sys.stderr.isatty(),
                  file=sys.stderr) as bar:
            report = import_metrics(factory, args.metrics, args.skip_bad_rows, progress=bar.update)
    except RowError as e:
        print(f"{args.metrics}: {e}", file=sys.stderr)
        return 1
    except FileNotFoundError as e:
        print(f"error: {e.filename}: file not found", file=sys.stderr)
        return 1
    for error in report.errors:
        print(f"{args.metrics}: {error}", file=sys.stderr)
    if report.errors and not args.skip_bad_rows:
        print(f"{args.metrics}: {len(report.errors)} bad rows; nothing imported "
              f"(use --skip-bad-rows to import the rest)", file=sys.stderr)
        return 1
    print(f"{args.metrics}: {report.imported} of {report.rows} rows imported"
          + (f", {len(report.errors)} bad rows skipped" if report.errors else ""))
    if not args.no_watch:
        return cmd_watch(args)
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from core import clock
    from core.tiers.watch import watch

    _factory(args.database_url)  # migrated
    engine = make_engine(args.database_url or database_url())
    try:
        print(watch(engine, clock.today()).render())
    finally:
        engine.dispose()
    return 0


def _alert_senders() -> Dict[str, Any]:
    """The pushed channels configured: DingTalk work notifications (app key, secret and agent
    id set), WeCom app messages (corp id, secret and a numeric agent id set)."""
    from actions.alerts import DingTalkNotifier, WeComNotifier

    senders: Dict[str, Any] = {}
    key, secret = settings.dingtalk_app_key(), settings.dingtalk_app_secret()
    agent = settings.dingtalk_agent_id()
    if key and secret and agent:
        senders["dingtalk"] = DingTalkNotifier(key, secret, agent, settings.dingtalk_api_base())
    corp, wecom_secret = settings.wecom_corp_id(), settings.wecom_secret()
    wecom_agent = settings.wecom_agent_id()
    if corp and wecom_secret and wecom_agent and wecom_agent.isdigit():
        senders["wecom"] = WeComNotifier(corp, wecom_secret, wecom_agent, settings.wecom_api_base())
    return senders


def cmd_deliver_alerts(args: argparse.Namespace) -> int:
    import time

    from actions.alerts import DeliveryRules, deliver_due, parse_quiet_hours
    from core.knowledge import shared_store
    from core.logsafe import failure
    from core.tiers.engine import shared_rules

    try:
        quiet = parse_quiet_hours(settings.alert_quiet_hours())
    except ValueError as e:
        print(f"error: ASSISTANT_ALERT_QUIET_HOURS: {e}", file=sys.stderr)
        return 2
    rules = DeliveryRules(quiet[0], quiet[1], settings.alert_daily_cap())
    senders = _alert_senders()
    if not senders:
        print("no pushed channel configured (DINGTALK_APP_KEY, DINGTALK_APP_SECRET, DINGTALK_AGENT_ID; "
              "WECOM_CORP_ID, WECOM_SECRET, WECOM_AGENT_ID): alerts wait for the merchant's app",
              file=sys.stderr)
        return 0
    factory = _factory(args.database_url)
    while True:
        tier_rules = shared_rules().get()  # the last good rules when the file is being edited
        try:
            if tier_rules is None:
                raise RuntimeError("the tier rules cannot be read")
            report = deliver_due(factory, senders, shared_store().get(), tier_rules, dt.datetime.utcnow(),
                                 rules)
            print(report.render(), flush=True)
        except Exception as e:  # noqa: BLE001 - a database restart must not end the delivery loop
            print(f"error: alerts not delivered this round: {failure(e)}", file=sys.stderr, flush=True)
            if not args.every:
                return 1
        if not args.every:
            return 0
        time.sleep(args.every)


def cmd_alerts(args: argparse.Namespace) -> int:
    from actions.alerts import set_alerts
    from core.db.models import Merchant

    factory = _factory(args.database_url)
    with factory.begin() as session:
        if session.get(Merchant, args.merchant) is None:
            print(f"error: no merchant {args.merchant}", file=sys.stderr)
            return 1
        set_alerts(session, args.merchant, args.state == "on", None, "cli")
    print(f"tier alerts {args.state} for merchant {args.merchant}")
    return 0


def cmd_assess(args: argparse.Namespace) -> int:
    from core.tiers.batch import assess_all, parse_quarter

    try:
        quarter, today = parse_quarter(args.quarter)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    engine = make_engine(args.database_url or database_url())
    _factory(args.database_url)
    summary = assess_all(engine, quarter, today, progress=sys.stderr.isatty())
    print(summary.render())
    if not args.no_alerts:
        from core.tiers.watch import assessment_alerts

        alerts = assessment_alerts(engine, quarter, today)
        print(f"assessment alerts: {alerts.alerts} merchants get another tier, "
              f"{alerts.deliveries} deliveries")
    engine.dispose()
    return 0


def cmd_init_db(args: argparse.Namespace) -> int:
    from core.db.demo import seed_demo

    factory = _factory(args.database_url)
    created = seed_demo(factory)
    print("demo merchants created" if created else "database already has merchants; left as is")
    return 0


def _account_id(account: str) -> bool:
    """A linked account id the platforms read as one person: the send APIs read "|", "," and
    "@all" as several recipients or everyone, and tier alerts go to these ids."""
    return bool(ACCOUNT_ID.fullmatch(account)) and account.lower() != "@all"


def _link(args: argparse.Namespace, model: Any, column: str, account: str, platform: str,
          what: str) -> int:
    """Let an IM account speak for a merchant (replacing any earlier link of the account)."""
    from core.db.models import Merchant

    if not _account_id(account):
        print(f"error: a {what} is 1-128 letters, digits and _ . @ - (not @all)", file=sys.stderr)
        return 1
    factory = _factory(args.database_url)
    with factory.begin() as session:
        if session.get(Merchant, args.merchant) is None:
            print(f"error: no merchant {args.merchant}", file=sys.stderr)
            return 1
        user = session.get(model, account) or model(**{column: account})
        user.merchant_id = args.merchant
        user.linked_at = dt.datetime.utcnow()
        session.add(user)
    print(f"{platform} account {account} now speaks for merchant {args.merchant}")
    return 0


def cmd_link_dingtalk(args: argparse.Namespace) -> int:
    from core.db.models import DingTalkUser

    return _link(args, DingTalkUser, "staff_id", args.staff_id, "DingTalk", "DingTalk staff id")


def cmd_link_wecom(args: argparse.Namespace) -> int:
    from core.db.models import WeComUser

    return _link(args, WeComUser, "user_id", args.user_id.strip(), "WeCom", "WeCom UserID")


def _new_password(args: argparse.Namespace) -> Optional[str]:
    """The password from standard input (--password-stdin: its first line) or typed twice."""
    import getpass

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        print("error: the two passwords differ", file=sys.stderr)
        return None
    return first


def cmd_agent(args: argparse.Namespace) -> int:
    from core.agents import AccountError, add_agent, disable_agent

    factory = _factory(args.database_url)
    try:
        if args.action == "disable":
            with factory.begin() as session:
                disable_agent(session, args.name)
            print(f"agent {args.name} can no longer sign in")
            return 0
        password = _new_password(args)
        if password is None:
            return 1
        with factory.begin() as session:
            add_agent(session, args.name, password, replace=args.reset)
    except AccountError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"agent {args.name} {'has a new password' if args.reset else 'can now sign in to the console'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from sqlalchemy import create_engine

    from actions.report import build, parse_day
    from core.knowledge import shared_store

    try:
        since = parse_day(args.since)
        until = parse_day(args.until) if args.until else dt.datetime.utcnow()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if until <= since:
        print("error: --until must be after --since", file=sys.stderr)
        return 2
    conversations = create_engine(args.tracker_store_url or settings.tracker_store_url(), future=True)
    tickets = make_engine(args.database_url or database_url())
    try:
        report = build(shared_store().get(), conversations, tickets, since, until)
    finally:
        conversations.dispose()
        tickets.dispose()
    print(report.csv() if args.csv else report.text(), end="" if args.csv else "\n")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from core.identity import issue_token

    secret = settings.jwt_secret()
    if not secret:
        print("error: set ASSISTANT_JWT_SECRET first", file=sys.stderr)
        return 1
    print(issue_token(secret, args.sub, args.role, dt.timedelta(hours=args.hours)))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m actions.cli", description=__doc__)
    parser.add_argument("--database-url", default=None, help="default: $DATABASE_URL or var/merchants.db")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("import-metrics", help="import the platform's daily metrics export")
    p.add_argument("metrics", type=Path)
    p.add_argument("--categories", type=Path, help="CSV with l2_category,snad_dispute_avg")
    p.add_argument("--skip-bad-rows", action="store_true")
    p.add_argument("--no-watch", action="store_true", help="do not compare projections for tier alerts")
    p.set_defaults(run=cmd_import)
    p = sub.add_parser("watch-tiers", help="compare every projection with the last one; write tier alerts")
    p.set_defaults(run=cmd_watch)
    p = sub.add_parser("deliver-alerts", help="push the tier alerts that are due (DingTalk, WeCom)")
    p.add_argument("--every", type=float, default=0, help="keep running, every this many seconds")
    p.set_defaults(run=cmd_deliver_alerts)
    p = sub.add_parser("alerts", help="turn a merchant's tier alerts on or off")
    p.add_argument("state", choices=("on", "off"))
    p.add_argument("merchant")
    p.set_defaults(run=cmd_alerts)
    p = sub.add_parser("assess", help="assess every merchant for a quarter, e.g. 2026Q4")
    p.add_argument("--quarter", required=True)
    p.add_argument("--no-alerts", action="store_true", help="do not alert merchants whose tier changes")
    p.set_defaults(run=cmd_assess)
    p = sub.add_parser("init-db", help="migrate the schema and seed demo merchants if empty")
    p.set_defaults(run=cmd_init_db)
    p = sub.add_parser("link-dingtalk", help="let a DingTalk account speak for a merchant")
    p.add_argument("staff_id", help="the senderStaffId DingTalk sends")
    p.add_argument("merchant", help="merchant id")
    p.set_defaults(run=cmd_link_dingtalk)
    p = sub.add_parser("link-wecom", help="let a WeCom (企业微信) account speak for a merchant")
    p.add_argument("user_id", help="the UserID WeCom sends as FromUserName")
    p.add_argument("merchant", help="merchant id")
    p.set_defaults(run=cmd_link_wecom)
    p = sub.add_parser("agent", help="create an agent account for the console, or disable one")
    p.add_argument("action", choices=("add", "disable"))
    p.add_argument("name")
    p.add_argument("--reset", action="store_true", help="add: set a new password on an existing account")
    p.add_argument("--password-stdin", action="store_true", help="add: read the password from stdin")
    p.set_defaults(run=cmd_agent)
    p = sub.add_parser("report", help="figures of a period (the console's operations view)")
    p.add_argument("--since", required=True, help="YYYY-MM-DD (UTC), inclusive")
    p.add_argument("--until", help="YYYY-MM-DD (UTC), exclusive; default now")
    p.add_argument("--csv", action="store_true", help="print CSV (section,key,value)")
    p.add_argument("--tracker-store-url", default=None, help="default: $TRACKER_STORE_URL or var/trackers.db")
    p.set_defaults(run=cmd_report)
    p = sub.add_parser("token", help="print a signed token for development")
    p.add_argument("--sub", required=True)
    p.add_argument("--role", choices=("merchant", "agent"), required=True)
    p.add_argument("--hours", type=float, default=12.0)
    p.set_defaults(run=cmd_token)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
