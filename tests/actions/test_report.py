"""The operations report (actions/report.py) over a conversations table as Rasa's SQL tracker
store writes it, and tickets on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import create_engine, text

from actions import cli
from actions.report import build, parse_day
from core.db import tickets
from tests.conftest import knowledge_store

DAY = dt.datetime(2026, 11, 20, 9, 0)


@pytest.fixture
def conversations(tmp_path):
    """An `events` table with the columns Rasa's SQLTrackerStore gives it."""
    url = f"sqlite:///{tmp_path / 'trackers.db'}"
    engine = create_engine(url, future=True)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, sender_id VARCHAR(255), "
                       "type_name VARCHAR(255), timestamp FLOAT, intent_name VARCHAR(255), "
                       "action_name VARCHAR(255), data TEXT)"))
    yield engine
    engine.dispose()


def add(engine, sender, at, kind, **data):
    with engine.begin() as c:
        c.execute(text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, :k, :t, :d)"),
                  {"s": sender, "k": kind, "t": at.replace(tzinfo=dt.timezone.utc).timestamp(),
                   "d": json.dumps({"event": kind, **data}, ensure_ascii=False)})


def user(engine, sender, at, said, intent="ask_programme", **extra):
    add(engine, sender, at, "user", text=said.lower(),
        parse_data={"intent": {"name": intent}, "text_original": said}, **extra)


def bot(engine, sender, at, said, action="utter_answer", outcome=None):
    add(engine, sender, at, "bot", text=said, metadata={"utter_action": action, "outcome": outcome})


def topic(engine, sender, at, value):
    add(engine, sender, at, "slot", name="topic", value=value)


def fill(engine, factory):
    t = DAY
    # A: two answered questions about the tiers, one clarification, a greeting (not a question).
    user(engine, "A", t, "你好", intent="greet")
    bot(engine, "A", t, "您好!", action="utter_greet")
    user(engine, "A", t, "金牌每个月有几个橱窗?")
    bot(engine, "A", t, "金牌每个月有3个橱窗。")
    topic(engine, "A", t, "showcase")
    user(engine, "A", t, "银牌呢")
    bot(engine, "A", t, "银牌每个月有2个橱窗。")
    topic(engine, "A", t, "showcase")
    user(engine, "A", t, "客服")
    bot(engine, "A", t, "两份资料里都有相关内容,您问的是哪一个?")
    # B: the same unanswered question twice (in both scripts), then a person; an agent's
    # delegated question is not the merchant's.
    user(engine, "B", t, "怎么开发票?")
    bot(engine, "B", t, "这个问题不在我能回答的范围内。", action="utter_out_of_scope")
    user(engine, "B", t, "怎麼開發票")
    bot(engine, "B", t, "这个问题不在我能回答的范围内。", action="utter_out_of_scope")
    user(engine, "B", t, "转人工", intent="request_human")
    user(engine, "B", t, "第8条是什么", metadata={"delegated_by": "agent-li"})
    bot(engine, "B", t, "第8条:续费补贴100元。")
    # C: outside the period.
    user(engine, "C", DAY - dt.timedelta(days=3), "备货贷最高多少")
    bot(engine, "C", DAY - dt.timedelta(days=3), "最高100万。")
    with factory.begin() as session:
        ticket = tickets.open_ticket(session, "B", "webchat", None, "requested", None, {})
        ticket.created_at = DAY


def test_the_report_counts_questions_answers_clarifications_handoffs_and_programmes(conversations, factory):
    fill(conversations, factory)
    kb = knowledge_store().get()
    tickets_engine = factory.kw["bind"]
    report = build(kb, conversations, tickets_engine, DAY - dt.timedelta(hours=1), DAY + dt.timedelta(days=1))
    figures = report.as_dict()
    counted = (figures["conversations"], figures["questions"], figures["answered"], figures["clarified"])
    assert counted == (2, 5, 2, 1)
    assert figures["answered_rate"] == 0.4 and figures["clarification_rate"] == 0.2
    assert figures["handed_off"] == 1 and figures["handoff_rate"] == 0.5
    assert figures["handoff_reasons"] == {"requested": 1}
    # Grouped whatever the script and punctuation; shown as first written.
    assert figures["unanswered"] == [{"question": "怎么开发票?", "count": 2}]
    assert figures["programmes"] == {kb.programmes[kb.tier_programme].name: 2}
    csv = report.csv()
    assert "total,questions,5" in csv and "unanswered,怎么开发票?,2" in csv
    # Nothing in another period.
    empty = build(kb, conversations, tickets_engine, DAY + dt.timedelta(days=2), DAY + dt.timedelta(days=3))
    assert empty.as_dict()["questions"] == 0 and empty.as_dict()["answered_rate"] == 0.0


def test_the_command_prints_the_same_figures(conversations, factory, db_url, capsys):
    fill(conversations, factory)
    url = str(conversations.url)
    assert cli.main(["--database-url", db_url, "report", "--since", "2026-11-20", "--until", "2026-11-21",
                     "--tracker-store-url", url]) == 0
    printed = capsys.readouterr().out
    assert "questions: 5" in printed and "answered: 2 (40.0%)" in printed and "2 × 怎么开发票?" in printed
    assert cli.main(["--database-url", db_url, "report", "--since", "2026-11-20", "--until", "2026-11-21",
                     "--tracker-store-url", url, "--csv"]) == 0
    assert "total,answered_rate,0.4" in capsys.readouterr().out
    assert cli.main(["--database-url", db_url, "report", "--since", "yesterday",
                     "--tracker-store-url", url]) == 2
    assert cli.main(["--database-url", db_url, "report", "--since", "2026-11-21", "--until", "2026-11-20",
                     "--tracker-store-url", url]) == 2


def test_days_and_moments_are_read_as_utc():
    assert parse_day("2026-11-20") == dt.datetime(2026, 11, 20)
    assert parse_day("2026-11-20T08:00:00+08:00") == dt.datetime(2026, 11, 20, 0, 0)
    with pytest.raises(ValueError):
        parse_day("next week")



def test_button_questions_count_and_a_formula_never_reaches_a_spreadsheet(conversations, factory):
    t = DAY
    user(conversations, "D", t, "/ask_tier_status", intent="ask_tier_status")
    bot(conversations, "D", t, "请先登录", action="utter_plain", outcome="refused")
    user(conversations, "D", t, "=HYPERLINK(\"http://x\")")
    bot(conversations, "D", t, "这个问题不在我能回答的范围内。", action="utter_out_of_scope")
    report = build(knowledge_store().get(), conversations, factory.kw["bind"], DAY - dt.timedelta(hours=1),
                   DAY + dt.timedelta(hours=1))
    assert report.questions == 2 and report.answered == 0
    assert "unanswered,\"'=HYPERLINK" in report.csv()


def test_a_date_out_of_range_is_a_clear_error():
    with pytest.raises(ValueError, match="not a date"):
        parse_day("0001-01-01T00:00+01:00")
