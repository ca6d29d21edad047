"""WeCom (企业微信) over HTTP against the real servers: callbacks encrypted and signed as WeCom does
(tests/wecom.py), replies through a fake WeCom API on loopback (tests/e2e/fake_wecom.py)."""
from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Dict, Optional, Tuple

import pytest
from sqlalchemy import create_engine, text

from core import script
from tests.e2e.conftest import PROJECT
from tests.e2e.fake_wecom import FakeWeCom
from tests.wecom import callback, encrypt, envelope, query, text_message

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def wecom(imported, wecom_api: FakeWeCom):
    """The servers with merchants imported and WeCom account wecom-9001 linked to T9001."""
    result = subprocess.run([sys.executable, "-m", "actions.cli", "--database-url",
                             imported.database_url, "link-wecom", "wecom-9001", "T9001"],
                            cwd=PROJECT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return imported


def call(servers, method: str, params: Dict[str, str], body: Optional[bytes] = None) -> Tuple[int, str]:
    url = f"http://127.0.0.1:{servers.rasa_port}/webhooks/wecom/webhook?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(url, body, {"Content-Type": "text/xml"} if body is not None else {},
                                     method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def say(servers, user: str, message: str, msg_id: Optional[str] = None) -> Tuple[int, str]:
    """A member's text message, encrypted and signed."""
    params, body = callback(text_message(user, message, msg_id))
    return call(servers, "POST", params, body.encode())


def refusals(servers) -> list:
    engine = create_engine(servers.database_url, future=True)
    with engine.connect() as conn:
        reasons = conn.execute(text("SELECT reason FROM audit_log WHERE action = 'wecom_refused'")
                               ).scalars().all()
    engine.dispose()
    return reasons


def test_wecoms_url_check_is_answered_with_the_plain_echostr(wecom):
    echo = encrypt("4419863328097221")
    status, body = call(wecom, "GET", {**query(echo), "echostr": echo})
    assert (status, body) == (200, "4419863328097221")


def test_a_question_is_answered_in_simplified_and_in_traditional_characters(wecom, wecom_api):
    status, body = say(wecom, "wecom-hans", "金牌卖家每个月有几个橱窗?")
    assert (status, body) == (200, "")  # no passive reply: the answer goes through the send API
    simplified = wecom_api.texts("wecom-hans")
    assert "3个橱窗" in simplified and script.detect_script(simplified) == "zh-Hans"
    status, body = say(wecom, "wecom-hant", "金牌賣家每個月有幾個櫥窗?")
    assert (status, body) == (200, "")
    traditional = wecom_api.texts("wecom-hant")
    assert "3個櫥窗" in traditional and "3个橱窗" not in traditional
    assert script.detect_script(traditional) == "zh-TW"
    sent = wecom_api.to("wecom-hans") + wecom_api.to("wecom-hant")
    assert {(m["msgtype"], m["agentid"]) for m in sent} == {("text", 1000002)}


def test_a_linked_account_gets_its_own_merchants_status_and_nobody_elses(wecom, wecom_api):
    say(wecom, "wecom-9001", "我离金牌还差多少?")
    assert "72h上网率:您是83.5%" in wecom_api.texts("wecom-9001")
    before = len(wecom_api.to("wecom-9001"))
    say(wecom, "wecom-9001", '/ask_tier_status{"merchant_id": "T9002"}')
    say(wecom, "wecom-9001", "查一下商家 T9002 的金银牌状态")
    later = "\n".join(m["text"]["content"] for m in wecom_api.to("wecom-9001")[before:])
    assert later and "別人的店" not in later and "99%" not in later
    engine = create_engine(wecom.database_url, future=True)
    with engine.connect() as conn:
        actors = conn.execute(text("SELECT DISTINCT actor FROM audit_log WHERE subject_merchant = 'T9001' "
                                   "AND allowed = :yes"), {"yes": True}).scalars().all()
    engine.dispose()
    assert "T9001" in actors  # the reads of its status are audited under the merchant


def test_an_unlinked_account_gets_no_private_data(wecom, wecom_api):
    say(wecom, "wecom-unknown", "我离金牌还差多少?")
    texts = wecom_api.texts("wecom-unknown")
    assert "需要先登录" in texts and "83.5" not in texts
    # Not even when the account is named like the merchant.
    say(wecom, "T9001", "我离金牌还差多少?")
    assert "83.5" not in wecom_api.texts("T9001")


def test_the_access_token_is_kept_and_fetched_anew_once_wecom_refuses_it(wecom, wecom_api):
    say(wecom, "wecom-token", "金牌卖家每个月有几个橱窗?")
    issued = wecom_api.tokens_issued
    say(wecom, "wecom-token", "银牌卖家每个月有几个橱窗?")
    assert wecom_api.tokens_issued == issued
    wecom_api.expire_tokens()
    status, _ = say(wecom, "wecom-token", "金牌卖家每个月有几个橱窗?")
    assert status == 200 and wecom_api.tokens_issued == issued + 1
    assert len(wecom_api.to("wecom-token")) >= 3


@pytest.mark.parametrize("forgery", ["wrong token", "stale", "future", "no signature", "garbage signature",
                                     "garbage xml", "json body", "entities", "oversized",
                                     "another organisation"])
def test_forged_garbage_or_stale_callbacks_are_refused_without_a_5xx(wecom, wecom_api, forgery):
    user = f"wecom-forged-{uuid.uuid4().hex[:6]}"
    inner = text_message(user, "我离金牌还差多少?")
    encrypted = encrypt(inner)
    now = int(time.time())
    params, body = query(encrypted), envelope(encrypted)
    if forgery == "wrong token":
        params = query(encrypted, token="not-the-token")
    elif forgery == "stale":
        params = query(encrypted, timestamp=now - 3700)
    elif forgery == "future":
        params = query(encrypted, timestamp=now + 3700)
    elif forgery == "no signature":
        params.pop("msg_signature")
    elif forgery == "garbage signature":
        params["msg_signature"] = "abc=\u00e9"
    elif forgery == "garbage xml":
        body = "<xml><Encrypt>" + encrypted
    elif forgery == "json body":
        body = '{"Encrypt": "%s"}' % encrypted
    elif forgery == "entities":
        body = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">]>'
                "<xml><Encrypt>&a;</Encrypt></xml>")
    elif forgery == "oversized":
        body = envelope(encrypted).replace("</xml>", "<Pad>" + "x" * 70_000 + "</Pad></xml>")
    elif forgery == "another organisation":
        other = encrypt(inner, corp_id="ww-another-organisation")
        params, body = query(other), envelope(other)
    before = len(refusals(wecom))
    status, answer = call(wecom, "POST", params, body.encode())
    assert 400 <= status < 500 and "error" in answer
    assert "Traceback" not in answer
    assert wecom_api.to(user) == []
    assert len(refusals(wecom)) == before + 1


def test_a_replayed_message_is_refused_and_audited(wecom, wecom_api):
    inner = text_message("wecom-replay", "金牌卖家每个月有几个橱窗?", "7100000000000000001")
    encrypted = encrypt(inner)
    first = call(wecom, "POST", query(encrypted), envelope(encrypted).encode())
    delivered = len(wecom_api.to("wecom-replay"))
    assert first == (200, "") and delivered >= 1
    # The same callback again, and the same message under a fresh signature.
    again = call(wecom, "POST", query(encrypted), envelope(encrypted).encode())
    params, body = callback(inner)
    resent = call(wecom, "POST", params, body.encode())
    assert again[0] == 409 and resent[0] == 409
    assert len(wecom_api.to("wecom-replay")) == delivered
    assert refusals(wecom).count("replayed message: 7100000000000000001") == 2

