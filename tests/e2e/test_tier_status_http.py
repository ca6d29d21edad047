"""Live tier status over HTTP: imported metrics, a token, the question in both scripts."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from actions.identity import issue_token
from bot.nlu import script
from tests.e2e.conftest import JWT_SECRET, PROJECT

pytestmark = pytest.mark.e2e

HEADER = ("merchant_id,merchant_name,l2_category,as_of,has_trade_90d,payment_rank_top_pct,"
          "online_72h_rate,snad_dispute_rate,positive_feedback_rate,dingtalk_active_days_90d,"
          "ip_severe_infringements,ip_prohibited_points,trade_violation_points,banned_or_frozen,"
          "industry_conditions_met,china_good_seller_since,current_tier")


@pytest.fixture(scope="module")
def imported(servers, tmp_path_factory):
    folder = tmp_path_factory.mktemp("import")
    (folder / "cat.csv").write_text("l2_category,snad_dispute_avg\n女装,1.2\n", encoding="utf-8")
    (folder / "m.csv").write_text(
        HEADER + "\nT9001,台北好物,女装,2026-11-21,1,8,83.5,0.9,91.0,70,0,0,0,0,1,,silver\n"
        "T9002,別人的店,女装,2026-11-21,1,2,99,0.1,99,90,0,0,0,0,1,,gold\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "actions.cli", "--database-url", servers.database_url,
                             "import-metrics", str(folder / "m.csv"), "--categories", str(folder / "cat.csv")],
                            cwd=PROJECT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "2 of 2 rows imported" in result.stdout
    return servers


def post(servers, body, token=None):
    url = f"http://127.0.0.1:{servers.rasa_port}/webhooks/merchant/webhook"
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def token(sub, role="merchant", hours=1.0, key=JWT_SECRET):
    return issue_token(key, sub, role, dt.timedelta(hours=hours))


def test_merchant_gets_own_gaps_in_both_scripts(imported):
    status, replies = post(imported, {"sender": "T9002", "message": "我离金牌还差多少?"}, token("T9001"))
    assert status == 200
    text = "\n".join(r["text"] for r in replies)
    assert "72h上网率:您是83.5%,要求≥85%,差1.5%" in text
    assert "店铺好评率:您是91%,要求≥92%,差1%" in text
    assert "下一次考核在2027年1月" in text
    assert "99" not in text  # nothing of T9002, whatever the body's sender says
    status, replies = post(imported, {"message": "我離金牌還差多少?"}, token("T9001"))
    text = "\n".join(r["text"] for r in replies)
    assert script.detect_script(text) in (script.TAIWAN, script.HONG_KONG)
    assert "72h上網率:您是83.5%,要求≥85%,差1.5%" in text


@pytest.mark.parametrize("bad", [None, "not-a-token", "expired", "wrong-key"])
def test_bad_tokens_get_401(imported, bad):
    value = {None: None, "not-a-token": "abc.def.ghi", "expired": token("T9001", hours=-1),
             "wrong-key": token("T9001", key="another-secret")}[bad]
    status, body = post(imported, {"message": "我现在是什么等级"}, value)
    assert status == 401 and "error" in body


def test_plain_rest_channel_never_reaches_private_data(imported, client):
    reply = client.text("T9001", "我离金牌还差多少?")
    assert "需要先登录" in reply and "83.5" not in reply
    # Conversation ids of the signed-in channels cannot be named on the anonymous channel.
    with pytest.raises(urllib.error.HTTPError) as refused:
        client.text("merchant:T9001", "我离金牌还差多少?")
    assert refused.value.code == 403
