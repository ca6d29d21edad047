"""Real servers for end-to-end tests: a freshly trained model, both servers on free ports."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

import pytest

from bot import train
from bot.serve import Servers, free_port
from core.limits import UNLIMITED
from tests import wecom
from tests.e2e.fake_wecom import FakeWeCom

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> Path:
    """The model of the current inputs: models/ when its fingerprint matches, else trained now."""
    if not (PROJECT / "build" / "jieba" / "userdict.txt").exists():
        pytest.fail("generated artefacts missing: run `make test` (it builds them first)")
    built = PROJECT / "models" / f"{train.MODEL_NAME}.tar.gz"
    stamp = PROJECT / "models" / f"{train.MODEL_NAME}.fingerprint"
    if built.exists() and stamp.exists() and stamp.read_text().strip() == train.fingerprint():
        return built
    return train.train(tmp_path_factory.mktemp("model"), force=True)


class Client:
    """Talks to the Rasa REST channel."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"

    def send(self, sender: str, message: str) -> List[Dict[str, Any]]:
        body = json.dumps({"sender": sender, "message": message}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
            return json.loads(response.read())

    def text(self, sender: str, message: str) -> str:
        replies = self.send(sender, message)
        assert replies, f"no reply to {message!r}"
        return "\n".join(r.get("text", "") for r in replies)


# Figures the end-to-end tests report at the end of the run (name -> line).
REPORT: Dict[str, str] = {}
TODAY = "2026-11-22"
JWT_SECRET = "e2e-secret"
ACTION_TOKEN = "e2e-action-token"
DINGTALK_SECRET = "e2e-dingtalk-app-secret"


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the figures measured by the end-to-end tests."""
    if REPORT:
        terminalreporter.section("end-to-end figures")
        for line in REPORT.values():
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def knowledge_dir(tmp_path_factory) -> Path:
    """A copy of knowledge/ served by the action server, so tests may break and fix it."""
    target = tmp_path_factory.mktemp("served") / "knowledge"
    shutil.copytree(PROJECT / "knowledge", target)
    return target


# Every client of the suite calls from 127.0.0.1, many times a second: rate limits (actions/
# limits.py) high enough for the suite's own load. tests/reliability/test_flood.py runs its
# servers with limits low enough to reach.
SUITE_LIMITS = UNLIMITED


def start_servers(model: Path, state: Path, env: Dict[str, str], timeout: float) -> Servers:
    """Both servers on free ports, ready; the test fails with their logs if they do not start."""
    srv = Servers(model, free_port(), free_port(), env=env, log_dir=state / "logs", own_session=True)
    srv.start()
    try:
        srv.wait_ready(timeout=timeout)
    except Exception:  # noqa: BLE001 - whatever went wrong: stop both, fail with their logs
        srv.stop()
        logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in (state / "logs").glob("*.log"))
        pytest.fail(f"servers did not start:\n{logs}")
    srv.database_url = env["DATABASE_URL"]
    srv.state = state
    return srv


@pytest.fixture(scope="session")
def wecom_api():
    """The fake WeCom API (tests/e2e/fake_wecom.py) the servers send WeCom replies to."""
    fake = FakeWeCom()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def servers(trained_model, knowledge_dir, tmp_path_factory, wecom_api):
    state = tmp_path_factory.mktemp("servers")
    # The embedded defaults, whatever the calling shell has configured.
    env = {k: v for k, v in os.environ.items()
           if k not in ("ACTION_ENDPOINT_URL", "TRACKER_STORE_URL", "LOCK_STORE_TYPE", "RASA_API_TOKEN")}
    # One clock for the whole run: answers about deadlines do not depend on the real date.
    env.update({"TRACKER_STORE_DB": str(state / "trackers.db"), "KNOWLEDGE_DIR": str(knowledge_dir),
                "ASSISTANT_TODAY": TODAY, "ASSISTANT_JWT_SECRET": JWT_SECRET,
                "ACTION_SERVER_TOKEN": ACTION_TOKEN,
                # DingTalk replies go to the fake DingTalk server of the tests, on loopback.
                "DINGTALK_APP_SECRET": DINGTALK_SECRET, "DINGTALK_WEBHOOK_HOSTS": "127.0.0.1",
                # WeCom replies go to the fake WeCom API of the tests, on loopback.
                "WECOM_CORP_ID": wecom.CORP_ID, "WECOM_TOKEN": wecom.TOKEN,
                "WECOM_ENCODING_AES_KEY": wecom.AES_KEY, "WECOM_SECRET": wecom.APP_SECRET,
                "WECOM_AGENT_ID": wecom.AGENT_ID, "WECOM_API_BASE": wecom_api.base,
                "DATABASE_URL": f"sqlite:///{state / 'merchants.db'}", **SUITE_LIMITS})
    srv = start_servers(trained_model, state, env, timeout=240)
    yield srv
    srv.stop()


HEADER = ("merchant_id,merchant_name,l2_category,as_of,has_trade_90d,payment_rank_top_pct,"
          "online_72h_rate,snad_dispute_rate,positive_feedback_rate,dingtalk_active_days_90d,"
          "ip_severe_infringements,ip_prohibited_points,trade_violation_points,banned_or_frozen,"
          "industry_conditions_met,china_good_seller_since,current_tier")


@pytest.fixture(scope="module")
def imported(servers, tmp_path_factory):
    """Merchants T9001 and T9002 imported into the servers' database."""
    folder = tmp_path_factory.mktemp("import")
    (folder / "cat.csv").write_text("l2_category,snad_dispute_avg\n女装,1.2\n", encoding="utf-8")
    (folder / "m.csv").write_text(
        HEADER + "\nT9001,台北好物,女装,2026-11-21,1,8,83.5,0.9,91.0,70,0,0,0,0,1,,silver\n"
        "T9002,別人的店,女装,2026-11-21,1,2,99,0.1,99,90,0,0,0,0,1,,gold\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "actions.cli", "--database-url", servers.database_url,
                             "import-metrics", str(folder / "m.csv"),
                             "--categories", str(folder / "cat.csv")],
                            cwd=PROJECT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "2 of 2 rows imported" in result.stdout
    return servers


@pytest.fixture(scope="session")
def client(servers) -> Client:
    return Client(servers.rasa_port)
