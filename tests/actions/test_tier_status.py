"""Tier status (actions/tier_status.py): lookup with authorisation and audit, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from rasa_sdk import Tracker
from sqlalchemy import select

from actions.tier_status import ActionTierStatus
from core.db.demo import seed_demo
from core.db.models import AuditRecord, MerchantPreference
from core.db.session import make_engine
from core.identity import Identity, seal, seal_delegation
from tests.actions.helpers import run
from tests.conftest import knowledge_store

SECRET = "test-secret"
TODAY = dt.date(2026, 11, 22)


def status_tracker(sender: str, metadata=None, entities=(), channel="merchant",
                   text: str = "我离金牌还差多少") -> Tracker:
    events = [{"event": "user", "text": "…", "input_channel": channel}]
    return Tracker(sender, {}, {"text": text, "intent": {"name": "ask_tier_status"},
                                "entities": list(entities), "metadata": metadata or {}},
                   events, False, None, {}, "action_listen")


def merchant(sub: str, role: str = "merchant", hours: int = 1) -> Identity:
    return Identity(sub, role, int(time.time()) + hours * 3600)


@pytest.fixture
def action(factory, monkeypatch):
    monkeypatch.setenv("ASSISTANT_JWT_SECRET", SECRET)
    seed_demo(factory, TODAY)
    return ActionTierStatus(factory, knowledge_store(), today=lambda: TODAY)


def audit(factory):
    with factory() as s:
        return [(a.actor, a.actor_role, a.subject_merchant, a.allowed, a.reason)
                for a in s.execute(select(AuditRecord).order_by(AuditRecord.id)).scalars()]


async def test_merchant_sees_own_gaps_with_values(action, factory):
    me = merchant("M1003")
    [message], _ = await run(action, status_tracker("merchant:M1003", seal(SECRET, "merchant:M1003", me)))
    text = message["text_body"]
    assert "当前的等级:银牌" in text and "暂不满足银牌条件" in text
    assert "近90天72h上网率:您是81.5%,要求≥85%,差3.5%" in text
    assert "近90天店铺好评率:您是90.2%,要求≥92%,差1.8%" in text
    # Rank and DingTalk thresholds are the platform's setting, quoted as tier_rules.yml words them.
    assert "原文只写“排名靠前”,由平台设定" in text or "原文只写“高频使用钉钉”,由平台设定" in text
    assert "下一次考核在2027年1月,使用2026年10月1日至2026年12月31日的经营数据" in text
    assert "将失去银牌的" in text
    assert audit(factory) == [("M1003", "merchant", "M1003", True, "")]


async def test_a_delegated_read_is_audited_under_the_delegating_agent(action, factory):
    me = merchant("M1003")
    metadata = {**seal(SECRET, "merchant:M1003", me), "client_address": "203.0.113.9"}
    [message], _ = await run(action, status_tracker("merchant:M1003", metadata))
    assert "当前的等级:银牌" in message["text_body"]
    metadata.update(seal_delegation(SECRET, "merchant:M1003", merchant("agent-b", "agent")))
    [message], _ = await run(action, status_tracker("merchant:M1003", metadata))
    assert "当前的等级:银牌" in message["text_body"]  # what may be read: the merchant's own
    with factory() as s:
        rows = [(a.actor, a.actor_role, a.subject_merchant, a.allowed, a.reason, a.source)
                for a in s.execute(select(AuditRecord).order_by(AuditRecord.id)).scalars()]
    assert rows == [
        ("M1003", "merchant", "M1003", True, "", "203.0.113.9"),
        ("agent-b", "agent", "M1003", True,
         "delegated by agent agent-b in the conversation of merchant M1003", None)]


async def test_gold_silver_disqualified_protected_no_trade(action):
    expected = {"M1001": "可评为金牌", "M1002": "可评为银牌", "M1004": "因违规不予准入",
                "M1005": "处于中国好卖家保护期", "M1006": "没有交易记录"}
    for m_id, phrase in expected.items():
        who = merchant(m_id)
        [message], _ = await run(action, status_tracker(f"merchant:{m_id}",
                                                        seal(SECRET, f"merchant:{m_id}", who)))
        assert phrase in message["text_body"], (m_id, message["text_body"])
    [m], _ = await run(action, status_tracker("merchant:M1004",
                                              seal(SECRET, "merchant:M1004", merchant("M1004"))))
    assert "交易违规扣分:26分" in m["text_body"]


@pytest.mark.parametrize("sender, metadata", [
    ("merchant:M1001", {}),                                                     # no identity
    ("merchant:M1001", {"identity": {"sub": "M1001", "role": "merchant", "seal": "forged"}}),
    ("rest-user", None),
    # A seal made for another conversation does not transfer.
    ("merchant:M1001", seal(SECRET, "merchant:M1003", merchant("M1001"))),
    ("merchant:M1001", seal("other-secret", "merchant:M1001", merchant("M1001"))),
    # An expired seal, and a non-ASCII forged one (must not crash before the audit).
    ("merchant:M1001", seal(SECRET, "merchant:M1001", merchant("M1001", hours=-1))),
    ("merchant:M1001", {"identity": {"sub": "M1001", "role": "merchant", "exp": 4102444800, "seal": "密"}}),
])
async def test_unauthenticated_callers_get_no_private_data(action, factory, sender, metadata):
    [message], _ = await run(action, status_tracker(sender, metadata))
    assert "需要先登录" in message["text_body"] and "%" not in message["text_body"]
    assert audit(factory) == [(None, None, None, False, "not authenticated")]


async def test_a_valid_seal_replayed_through_another_channel_is_refused(action, factory):
    # Metadata is passed through by Rasa's REST channel; only the merchant channel counts.
    sealed = seal(SECRET, "merchant:M1001", merchant("M1001"))
    [message], _ = await run(action, status_tracker("merchant:M1001", sealed, channel="rest"))
    assert "需要先登录" in message["text_body"]
    assert audit(factory) == [(None, None, None, False, "not authenticated")]


async def test_merchant_cannot_read_another_merchant(action, factory):
    me = merchant("M1003")
    [message], _ = await run(action, status_tracker(
        "merchant:M1003", seal(SECRET, "merchant:M1003", me),
        [{"entity": "merchant_id", "value": "M1001"}]))
    assert "只能查询自己店铺" in message["text_body"] and "93" not in message["text_body"]
    assert audit(factory) == [("M1003", "merchant", "M1001", False, "merchant asked about another merchant")]


async def test_a_merchant_id_that_differs_only_in_letter_case_is_another_merchant(action, factory):
    # Ids match exactly as issued: a token for "m1001" reads nothing of M1001's.
    lower = merchant("m1001")
    [own], _ = await run(action, status_tracker("merchant:m1001", seal(SECRET, "merchant:m1001", lower)))
    assert "杭州锦绣服饰" not in own["text_body"] and "%" not in own["text_body"]
    [named], _ = await run(action, status_tracker(
        "merchant:m1001", seal(SECRET, "merchant:m1001", lower),
        [{"entity": "merchant_id", "value": "M1001"}]))
    assert "只能查询自己店铺" in named["text_body"] and "%" not in named["text_body"]
    assert audit(factory) == [("m1001", "merchant", "m1001", True, "no such merchant or no metrics"),
                              ("m1001", "merchant", "M1001", False, "merchant asked about another merchant")]
    # The merchant the id was issued to still reads their own figures.
    [mine], _ = await run(action, status_tracker("merchant:M1001",
                                                 seal(SECRET, "merchant:M1001", merchant("M1001"))))
    assert "您的店铺(M1001)" in mine["text_body"] and "金牌" in mine["text_body"]


async def test_agent_reads_any_merchant_and_is_audited(action, factory):
    agent = merchant("agent-7", role="agent")
    sender = "agent:agent-7"
    [message], _ = await run(action, status_tracker(sender, seal(SECRET, sender, agent),
                                                    [{"entity": "merchant_id", "value": "m1001"}]))
    assert "杭州锦绣服饰(M1001)" in message["text_body"] and "可评为金牌" in message["text_body"]
    [ask_id], _ = await run(action, status_tracker(sender, seal(SECRET, sender, agent)))
    assert "请告诉我要查询的商家ID" in ask_id["text_body"]
    assert audit(factory) == [("agent-7", "agent", "M1001", True, ""),
                              ("agent-7", "agent", None, False, "agent named no merchant")]


def _copy_merchant(factory, source: str, new_id: str, name: str) -> None:
    from core.db.models import Merchant, MerchantMetrics

    with factory.begin() as session:
        old, row = session.get(Merchant, source), session.get(MerchantMetrics, source)
        session.add(Merchant(id=new_id, name=name, l2_category=old.l2_category,
                             current_tier=old.current_tier))
        session.flush()
        values = {c.name: getattr(row, c.name) for c in MerchantMetrics.__table__.columns}
        session.add(MerchantMetrics(**dict(values, merchant_id=new_id)))


@pytest.mark.parametrize("merchant_id", ["AB12", "ab-7", "shop.zj.001", "88231"])
async def test_an_agent_looks_up_any_id_the_database_has(action, factory, merchant_id):
    # Ids of any format, which the NLU's id pattern does not recognise: the database decides.
    _copy_merchant(factory, "M1001", merchant_id, "格式不同的店")
    agent = merchant("agent-7", role="agent")
    sender = "agent:agent-7"
    [message], _ = await run(action, status_tracker(sender, seal(SECRET, sender, agent),
                                                    text=f"查一下商家 {merchant_id} 的金银牌状态"))
    assert f"格式不同的店({merchant_id})" in message["text_body"]
    assert audit(factory) == [("agent-7", "agent", merchant_id, True, "")]


async def test_an_agent_is_told_when_an_id_is_not_a_merchant(action, factory):
    agent = merchant("agent-7", role="agent")
    sender = "agent:agent-7"
    [message], _ = await run(action, status_tracker(sender, seal(SECRET, sender, agent),
                                                    text="查一下商家 ZZ99 的金银牌状态"))
    assert message["text_body"] == "没有找到商家 ZZ99 的指标数据。"
    # Words that are not merchants ("1688", "V3") are not taken for one.
    [ask_id], _ = await run(action, status_tracker(sender, seal(SECRET, sender, agent),
                                                   text="1688 V3 那个商家的状态"))
    assert "请告诉我要查询的商家ID" in ask_id["text_body"]


async def test_a_merchant_cannot_name_another_id_in_the_text(action, factory):
    # Only agents' messages are searched for ids; a merchant always gets their own store.
    me = merchant("M1003")
    [message], _ = await run(action, status_tracker("merchant:M1003", seal(SECRET, "merchant:M1003", me),
                                                    text="查一下商家 M1001 的金银牌状态"))
    assert "M1001" not in message["text_body"]
    assert audit(factory) == [("M1003", "merchant", "M1003", True, "")]


async def test_only_the_asked_metric(action):
    me = merchant("M1003")
    [message], _ = await run(action, status_tracker(
        "merchant:M1003", seal(SECRET, "merchant:M1003", me),
        [{"entity": "metric", "value": "metric_positive_feedback"}]))
    text = message["text_body"]
    assert "好评率" in text and "上网率" not in text


async def test_database_down_says_temporarily_unavailable(monkeypatch, tmp_path):
    from core.db.session import make_session_factory
    monkeypatch.setenv("ASSISTANT_JWT_SECRET", SECRET)
    broken = make_session_factory(make_engine("postgresql://nobody@127.0.0.1:1/none"))
    action = ActionTierStatus(broken, knowledge_store(), today=lambda: TODAY)
    me = merchant("M1001")
    [message], _ = await run(action, status_tracker("merchant:M1001", seal(SECRET, "merchant:M1001", me)))
    assert "暂时无法查询" in message["text_body"]



async def test_a_rule_question_in_the_first_person_gets_the_rule_without_signing_in(action, factory):
    tracker = status_tracker("rest-user", None, [{"entity": "metric", "value": "metric_positive_feedback"},
                                                 {"entity": "tier", "value": "silver"}])
    tracker.latest_message["text"] = "我家好评率才90%,评得上银牌不"
    messages, _ = await run(action, tracker)
    assert messages[0]["response"] == "utter_answer" and "92%" in messages[0]["answer"]
    assert "需要先登录" in messages[1]["text_body"]
    # Nobody's data was read: the attempt is audited as refused.
    assert audit(factory) == [(None, None, None, False, "not authenticated")]


async def test_a_pure_status_question_still_asks_to_sign_in(action):
    tracker = status_tracker("rest-user", None)
    tracker.latest_message["text"] = "我现在啥等级"
    [message], _ = await run(action, tracker)
    assert "需要先登录" in message["text_body"]


async def test_a_first_person_message_about_no_store_status_is_not_asked_to_sign_in(action):
    # The classifier reads the first person as a status question; nothing here is about one.
    tracker = status_tracker("rest-user", None)
    tracker.latest_message["text"] = "我下个月结婚,请客吃什么好"
    [message], _ = await run(action, tracker)
    assert message["response"] == "utter_out_of_scope"
    plan = status_tracker("rest-user", None, [{"entity": "programme", "value": "new_merchant_1688"}])
    plan.latest_message["text"] = "我听说新商家有5大资源,我只找到4样"
    [answer], _ = await run(action, plan)
    assert answer["response"] == "utter_answer" and "4项" in answer["answer"]


async def test_a_status_question_naming_a_1688_measure_is_a_programme_question(action, factory):
    tracker = status_tracker("rest-user", None, [{"entity": "measure", "value": "measure_1"}])
    tracker.latest_message["text"] = "我在广东,免费极速到账我能用吗"
    [message], _ = await run(action, tracker)
    assert message["response"] == "utter_answer" and "湖北" in message["answer"]
    # Nobody's data was asked for: nothing to audit.
    assert audit(factory) == []


async def test_a_store_question_about_another_platform_is_declined_not_asked_to_sign_in(action, factory):
    tracker = status_tracker("rest-user", None, [{"entity": "platform", "value": "other"}])
    tracker.latest_message["text"] = "美团外卖怎么提高店铺评分"
    [message], _ = await run(action, tracker)
    assert message["response"] == "utter_other_platform"
    assert audit(factory) == []


async def test_a_measure_named_beside_another_merchant_id_is_still_refused_and_audited(action, factory):
    me = merchant("M1003")
    tracker = status_tracker("merchant:M1003", seal(SECRET, "merchant:M1003", me),
                             [{"entity": "measure", "value": "measure_17"},
                              {"entity": "merchant_id", "value": "M1001"}])
    tracker.latest_message["text"] = "我是M1001的客服,查一下M1001的指标"
    [message], _ = await run(action, tracker)
    assert "只能查询自己" in message["text_body"]
    assert audit(factory) == [("M1003", "merchant", "M1001", False, "merchant asked about another merchant")]


async def test_each_missing_condition_is_said_once_for_both_tiers(action):
    # M1003 misses silver; gold shares silver's conditions except a higher rank: the shared
    # ones are said once, and gold lists only what it needs beyond them.
    me = merchant("M1003")
    [message], _ = await run(action, status_tracker("merchant:M1003", seal(SECRET, "merchant:M1003", me)))
    text = message["text_body"]
    assert text.count("近90天店铺好评率:您是90.2%") == 1 and text.count("近90天72h上网率:您是81.5%") == 1
    silver, _, gold = text.partition("离金牌还要再满足:\n")
    assert "离银牌还差以下条件:" in silver and gold
    assert gold.startswith("· 近90天月均支付金额类目排名:您是前35%,要求前10%")
    assert "好评率" not in gold and "上网率" not in gold
    [asked], _ = await run(action, status_tracker(
        "merchant:M1003", seal(SECRET, "merchant:M1003", me),
        [{"entity": "metric", "value": "metric_positive_feedback"}]))
    line = "· 近90天店铺好评率:您是90.2%,要求≥92%,差1.8%(银牌、金牌要求相同)"
    assert line in asked["text_body"] and asked["text_body"].count("好评率") == 1


def test_a_tickets_merchant_is_read_exactly_as_stored(factory):
    # "m1001" is not "M1001": the agent console's card reads the ticket's merchant exactly.
    from actions.tier_status import lookup

    seed_demo(factory, TODAY)
    agent = merchant("agent-7", role="agent")
    assert lookup(factory, agent, "m1001", exact=True).missing
    assert lookup(factory, agent, "m1001").metrics.merchant_id == "M1001"  # an id typed by an agent


async def test_a_merchants_script_is_kept_for_their_alerts(action, factory):
    tracker = status_tracker("merchant:M1003", seal(SECRET, "merchant:M1003", merchant("M1003")))
    tracker.latest_message["script"] = "zh-HK"
    await run(action, tracker)
    with factory() as s:
        assert s.get(MerchantPreference, "M1003").script == "zh-HK"
