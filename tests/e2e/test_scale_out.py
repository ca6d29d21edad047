"""Scale-out: two Rasa servers behind nginx, sharing a PostgreSQL tracker store and a Redis lock
store. Many conversations at once and bursts to one conversation, spread over both servers:
every message answered, each conversation's events in order, nothing lost or duplicated."""
from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Tuple

import pytest
from sqlalchemy import create_engine, text

from bench.layout import NGINX, fresh_database, production_layout
from tests.e2e.conftest import ACTION_TOKEN, JWT_SECRET, PROJECT, REPORT, SUITE_LIMITS, TODAY
from tests.e2e.services import PG_ADMIN, REDIS, require_postgres_and_redis

pytestmark = pytest.mark.e2e

CONVERSATIONS, TURNS, BURST, BURSTS = 24, 5, 10, 3
QUESTIONS = ["金牌每个月有几个橱窗?", "第15条是什么?", "银牌贷款打几折?", "你好",
             "询价单订阅V2和V3有什么区别?"]


def _require_services() -> None:
    missing = [] if NGINX.exists() else [f"{NGINX} missing (make test installs Debian's nginx-light)"]
    require_postgres_and_redis("the scale-out test", missing)


@pytest.fixture(scope="module")
def database():
    """A fresh PostgreSQL database for trackers and merchant data, dropped afterwards."""
    _require_services()
    with fresh_database(PG_ADMIN, "scale") as url:
        yield url


@pytest.fixture(scope="module")
def cluster(trained_model, database, tmp_path_factory):
    state = tmp_path_factory.mktemp("scale")
    env = dict(os.environ)
    env.update({"DATABASE_URL": database, "ASSISTANT_TODAY": TODAY,
                "ASSISTANT_JWT_SECRET": JWT_SECRET, "ACTION_SERVER_TOKEN": ACTION_TOKEN, **SUITE_LIMITS,
                "KNOWLEDGE_DIR": str(PROJECT / "knowledge")})
    with production_layout(trained_model, env, database, REDIS, state) as layout:
        yield dict(layout, database=database)


def send(port: int, sender: str, message: str) -> Tuple[int, List[Dict]]:
    body = json.dumps({"sender": sender, "message": message}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/rest/webhook", body,
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except Exception as e:  # noqa: BLE001 - counted as an error below
        return 0, [{"error": repr(e)}]


def stored_events(database: str, sender: str) -> List[Tuple[str, Dict]]:
    engine = create_engine(database, future=True)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT type_name, data FROM events WHERE sender_id = :s ORDER BY id"),
                            {"s": sender}).fetchall()
    engine.dispose()
    return [(r[0], json.loads(r[1])) for r in rows]


def check_conversation(database: str, sender: str, expected: List[str], ordered: bool) -> List[str]:
    """Problems with one stored conversation: lost, duplicated, interleaved or unanswered turns."""
    events = stored_events(database, sender)
    said = [d.get("text") for t, d in events if t == "user"]
    problems = []
    if ordered and said != expected:
        problems.append(f"{sender}: user messages {said} != sent {expected}")
    if Counter(said) != Counter(expected):
        problems.append(f"{sender}: lost or duplicated messages: {Counter(said) - Counter(expected)} "
                        f"/ {Counter(expected) - Counter(said)}")
    # Each turn is whole: after a user message, a reply and action_listen before the next one.
    turn: List[Tuple[str, Dict]] = []
    for kind, data in events + [("user", {})]:
        if kind == "user" and turn:
            names = [d.get("name") for k, d in turn if k == "action"]
            if not any(k == "bot" for k, _ in turn) or names[-1:] != ["action_listen"]:
                problems.append(f"{sender}: turn {turn[0][1].get('text')!r} not answered in order")
            turn = []
        if kind == "user" or turn:
            turn.append((kind, data))
    return problems


def test_many_conversations_at_once_over_both_servers(cluster):
    port, database = cluster["port"], cluster["database"]
    senders = [f"scale-{uuid.uuid4().hex[:8]}" for _ in range(CONVERSATIONS)]
    plan = {s: [QUESTIONS[(i + t) % len(QUESTIONS)] for t in range(TURNS)]
            for i, s in enumerate(senders)}

    def converse(sender: str) -> List[int]:
        statuses = []
        for message in plan[sender]:
            status, replies = send(port, sender, message)
            statuses.append(status if replies and all(r.get("text") for r in replies) else -status)
        return statuses

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = [s for r in pool.map(converse, senders) for s in r]
    took = time.monotonic() - started
    errors = sum(1 for s in statuses if s != 200)
    problems = [p for s in senders for p in check_conversation(database, s, plan[s], ordered=True)]
    served = Counter(line.split()[0] for line in
                     (cluster["state"] / "nginx-access.log").read_text().splitlines() if line)
    REPORT["scale-out"] = (f"scale-out: {len(statuses)} messages in {CONVERSATIONS} conversations over "
                           f"nginx to 2 Rasa servers (PostgreSQL tracker store, Redis lock store) in "
                           f"{took:.1f} s, {errors} errors, per server {dict(served)}, "
                           f"{len(problems)} conversations with lost/duplicated/out-of-order events")
    assert errors == 0, statuses
    assert not problems, "\n".join(problems)
    assert len(served) == 2 and min(served.values()) >= len(statuses) // 4, served


def test_bursts_to_one_conversation_over_both_servers(cluster):
    """BURSTS conversations each get BURST messages at once, spread over both servers by nginx:
    the lock store (bot/lock_store.py) runs them one at a time, so every turn is stored whole."""
    port, database = cluster["port"], cluster["database"]
    senders = [f"burst-{uuid.uuid4().hex[:8]}" for _ in range(BURSTS)]
    burst = [QUESTIONS[i % len(QUESTIONS)] + f" ({i + 1})" for i in range(BURST)]
    jobs = [(s, m) for m in burst for s in senders]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(lambda job: send(port, *job), jobs))
    errors = sum(1 for status, replies in results
                 if status != 200 or not replies or not all(r.get("text") for r in replies))
    problems = [p for s in senders for p in check_conversation(database, s, burst, ordered=False)]
    REPORT["scale-out burst"] = (f"{BURSTS} bursts of {BURST} messages, each to one conversation, "
                                 f"over both servers at once: {len(results)} answered with "
                                 f"{errors} errors, {len(problems)} lost/duplicated/interleaved turns")
    assert errors == 0 and not problems, "\n".join(problems)
