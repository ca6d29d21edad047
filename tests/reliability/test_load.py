"""Load on one Rasa server with the embedded defaults (SQLite tracker store, in-process lock
store): 50 conversations x 20 turns at once, then bursts of 10 messages to one conversation.
Every message answered, each conversation's turns stored whole, in order, none lost or doubled."""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import List, Tuple

import pytest

from tests.e2e.test_scale_out import check_conversation
from tests.reliability.conftest import FIGURES, http, reply_text

pytestmark = pytest.mark.e2e

CONVERSATIONS, TURNS, BURST, BURSTS = 50, 20, 10, 3
QUESTIONS = ["金牌每个月有几个橱窗?", "第15条是什么?", "银牌贷款打几折?", "你好", "那银牌呢?",
             "詢價單訂閱V2和V3有什麼區別?", "金牌有什么权益?", "谢谢"]


def send(port: int, sender: str, message: str) -> Tuple[int, str]:
    status, raw, parsed = http(port, "POST", "/webhooks/rest/webhook",
                               {"sender": sender, "message": message}, timeout=300)
    answered = status == 200 and isinstance(parsed, list) and parsed and all(
        r.get("text") for r in parsed)
    return (200 if answered else status or -1), reply_text(parsed)


def test_fifty_conversations_of_twenty_turns_and_bursts(reliable):
    port = reliable.rasa_port
    database = f"sqlite:///{reliable.state / 'trackers.db'}"
    run = uuid.uuid4().hex[:6]
    senders = [f"load-{run}-{i}" for i in range(CONVERSATIONS)]
    plan = {s: [f"{QUESTIONS[(i + t) % len(QUESTIONS)]} ({t + 1})" for t in range(TURNS)]
            for i, s in enumerate(senders)}

    def converse(sender: str) -> List[int]:
        return [send(port, sender, message)[0] for message in plan[sender]]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CONVERSATIONS) as pool:
        statuses = [s for r in pool.map(converse, senders) for s in r]
    took = time.monotonic() - started

    bursts = [f"burst-{run}-{i}" for i in range(BURSTS)]
    burst = [f"{QUESTIONS[i % len(QUESTIONS)]} ({i + 1})" for i in range(BURST)]
    jobs = [(s, m) for m in burst for s in bursts]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        burst_statuses = list(pool.map(lambda job: send(port, *job)[0], jobs))

    errors = sum(1 for s in statuses + burst_statuses if s != 200)
    problems = [p for s in senders for p in check_conversation(database, s, plan[s], ordered=True)]
    problems += [p for s in bursts for p in check_conversation(database, s, burst, ordered=False)]
    total = len(statuses) + len(burst_statuses)
    FIGURES["load"] = (f"load: {len(statuses)} messages in {CONVERSATIONS} conversations x {TURNS} turns "
                       f"at once in {took:.0f} s ({len(statuses) / took:.1f}/s on one Rasa server), "
                       f"plus {BURSTS} bursts of {BURST} to one conversation: {total} messages, "
                       f"{errors} errors, {len(problems)} lost/duplicated/out-of-order turns")
    assert errors == 0, f"{errors} of {total} messages not answered"
    assert not problems, "\n".join(problems[:20])
    # The server still serves after the load.
    assert "橱窗" in send(port, f"after-{run}", QUESTIONS[0])[1]
