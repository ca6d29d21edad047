"""Reliability and security suite (`make test-reliability`; also part of `make test`).

Its own servers (never the ones of tests/e2e, since faults are injected into them), its own
merchants, and figures printed at the end under "reliability figures".
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import pytest
from sqlalchemy import create_engine, text

from bot.serve import Servers
from core.identity import issue_token
from tests.e2e import conftest as e2e
from tests.e2e.conftest import trained_model  # noqa: F401 - trained_model: fixture

PROJECT = Path(__file__).resolve().parents[2]
TODAY = "2026-11-22"
JWT_SECRET = "reliability-jwt-secret-of-32-bytes!"
ACTION_TOKEN = "reliability-action-token"
DINGTALK_SECRET = "reliability-dingtalk-app-secret"
HEADER = ("merchant_id,merchant_name,l2_category,as_of,has_trade_90d,payment_rank_top_pct,"
          "online_72h_rate,snad_dispute_rate,positive_feedback_rate,dingtalk_active_days_90d,"
          "ip_severe_infringements,ip_prohibited_points,trade_violation_points,banned_or_frozen,"
          "industry_conditions_met,china_good_seller_since,current_tier")
# Two merchants. Their private figures must never reach anyone else: PRIVATE lists strings of
# each merchant's data that would show a leak in a reply to someone else.
MERCHANTS = ("R7001,可靠小店,女装,2026-11-21,1,8,83.5,0.9,91.0,70,0,0,0,0,1,,silver\n"
             "R7002,秘密旗舰店,女装,2026-11-21,1,2,97.25,0.1,99,90,0,0,0,0,1,,gold\n")
PRIVATE = {"R7001": ["可靠小店", "83.5"], "R7002": ["秘密旗舰店", "秘密旗艦店", "97.25", "97.3"]}

# Figures the suite measures (name -> line), printed at the end of the run.
FIGURES: Dict[str, str] = {}


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("reliability figures")
        for line in FIGURES.values():
            terminalreporter.write_line(line)


def token(sub: str, role: str = "merchant", hours: float = 1.0, key: str = JWT_SECRET) -> str:
    return issue_token(key, sub, role, dt.timedelta(hours=hours))


def server_env(state: Path, **overrides: str) -> Dict[str, str]:
    """The embedded defaults (SQLite everywhere, in-process lock store) with the suite's secrets."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("ACTION_ENDPOINT_URL", "TRACKER_STORE_URL", "LOCK_STORE_TYPE", "RASA_API_TOKEN",
                        "DATABASE_URL")}
    env.update({"TRACKER_STORE_DB": str(state / "trackers.db"), "ASSISTANT_TODAY": TODAY,
                "ASSISTANT_JWT_SECRET": JWT_SECRET, "ACTION_SERVER_TOKEN": ACTION_TOKEN,
                "DINGTALK_APP_SECRET": DINGTALK_SECRET, "DINGTALK_WEBHOOK_HOSTS": "127.0.0.1",
                "KNOWLEDGE_DIR": str(PROJECT / "knowledge"),
                "DATABASE_URL": f"sqlite:///{state / 'merchants.db'}", **e2e.SUITE_LIMITS})
    env.update(overrides)
    return env


def start_servers(model: Path, state: Path, **overrides: str) -> Servers:
    return e2e.start_servers(model, state, server_env(state, **overrides), timeout=300)


def import_merchants(database_url: str, folder: Path) -> None:
    (folder / "cat.csv").write_text("l2_category,snad_dispute_avg\n女装,1.2\n", encoding="utf-8")
    (folder / "m.csv").write_text(HEADER + "\n" + MERCHANTS, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "actions.cli", "--database-url", database_url,
                             "import-metrics", str(folder / "m.csv"), "--categories",
                             str(folder / "cat.csv")], cwd=PROJECT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "2 of 2 rows imported" in result.stdout


@pytest.fixture(scope="session")
def reliable(trained_model, tmp_path_factory):  # noqa: F811 - trained_model is the fixture
    """A server pair with the two merchants imported and a DingTalk account linked to R7001.
    Tests that break servers start their own."""
    state = tmp_path_factory.mktemp("reliable")
    srv = start_servers(trained_model, state)
    try:
        import_merchants(srv.database_url, state)
        linked = subprocess.run([sys.executable, "-m", "actions.cli", "--database-url",
                                 srv.database_url, "link-dingtalk", "staff-r7001", "R7001"],
                                cwd=PROJECT, capture_output=True, text=True)
        assert linked.returncode == 0, linked.stderr
        yield srv
    finally:
        srv.stop()


Body = Union[None, bytes, str, Dict[str, Any], list]


def http(port: int, method: str, path: str, body: Body = None,
         headers: Optional[Dict[str, str]] = None, timeout: float = 60) -> Tuple[int, str, Any]:
    """(status, raw body text, parsed JSON or None). `body`: raw bytes/str are sent as they are."""
    if isinstance(body, (dict, list)):
        data: Optional[bytes] = json.dumps(body, ensure_ascii=False).encode()
    elif isinstance(body, str):
        data = body.encode("utf-8", "surrogatepass")
    else:
        data = body
    sent = {"Content-Type": "application/json"}
    sent.update(headers or {})
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data, sent, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read() or b""
    text = raw.decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return status, text, parsed


def reply_text(parsed: Any) -> str:
    """The texts of a channel's replies (a list of {"text": ...})."""
    if not isinstance(parsed, list):
        return ""
    return "\n".join(str(r.get("text") or "") for r in parsed if isinstance(r, dict))


def leaked(text: str, allowed: Optional[str] = None) -> list:
    """Private strings of merchants other than `allowed` found in `text`."""
    return [s for merchant, strings in PRIVATE.items() if merchant != allowed
            for s in strings if s in text]


STACK_TRACE_MARKERS = ("Traceback (most recent call last)", 'File "/', "sqlalchemy.exc",
                       "Exception:", "Error:\n")


def say_signed(port: int, bearer: str, message: str) -> str:
    """A message on the authenticated merchant channel; the replies' texts (200 expected)."""
    status, raw, parsed = http(port, "POST", "/webhooks/merchant/webhook", {"message": message},
                               {"Authorization": f"Bearer {bearer}"})
    assert status == 200, raw
    return reply_text(parsed)


def query(database_url: str, sql: str, **params: Any) -> List[Dict[str, Any]]:
    """Rows of a query against a server's database, as the servers wrote them."""
    engine = create_engine(database_url, future=True)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(text(sql), params).mappings()]
    finally:
        engine.dispose()


def last_audit_id(database_url: str) -> int:
    return query(database_url, "SELECT COALESCE(MAX(id), 0) AS n FROM audit_log")[0]["n"]


def audit_since(database_url: str, after: int) -> List[Dict[str, Any]]:
    """The audit rows written after row `after`, oldest first."""
    return query(database_url,
                 "SELECT id, actor, actor_role, subject_merchant, action, allowed, reason, source "
                 "FROM audit_log WHERE id > :after ORDER BY id", after=after)
