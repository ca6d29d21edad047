"""One long message must not stall everyone: what a message at the 4,000-character cap costs the
Rasa server (CPU, what it stores, memory over many), measured against a normal question, and
another user's latency while three clients send such messages.

The NLU reads at most 200 characters of a message (bot/nlu/normalizer.py); the conversation
keeps the whole text. Writes FIGURES["long messages"].
"""
from __future__ import annotations

import os
import random
import threading
import time
from typing import List

import pytest
from sqlalchemy import create_engine, text

from bench.http import rss_mib
from tests.reliability.conftest import FIGURES, http

pytestmark = pytest.mark.e2e

REST = "/webhooks/rest/webhook"
CAP = 4000
QUESTION = "金牌每个月有几个橱窗?"
# Answers timed per phase (idle, loaded) for the p95.
SAMPLES = 60


def garbage(kind: int, seed: int) -> str:
    """Capped garbage of the kinds a careless or hostile client sends."""
    rng = random.Random(seed)
    if kind == 0:
        return "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(CAP))
    if kind == 1:
        return "1 " * (CAP // 2)
    if kind == 2:
        return "\U0001F600" * CAP
    return "a" + "\u0301" * (CAP - 1)


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def send(port: int, sender: str, message: str) -> float:
    started = time.perf_counter()
    status, raw, _ = http(port, "POST", REST, {"sender": sender, "message": message})
    assert status == 200, raw[:300]
    return time.perf_counter() - started


def p95(values: List[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def stored_bytes(state, sender: str) -> int:
    engine = create_engine(f"sqlite:///{state / 'trackers.db'}", future=True)
    with engine.connect() as conn:
        size = conn.execute(text("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM events WHERE sender_id = :s"),
                            {"s": sender}).scalar_one()
    engine.dispose()
    return int(size)


def test_a_capped_message_costs_in_proportion_and_others_keep_answering(reliable):
    port, pid = reliable.rasa_port, reliable.rasa.pid
    send(port, "long-warm-up", QUESTION)

    # CPU of the Rasa server per message: normal questions, then capped garbage of each kind.
    before = cpu_seconds(pid)
    for n in range(20):
        send(port, f"long-normal-{n % 4}", QUESTION)
    normal = (cpu_seconds(pid) - before) / 20
    before = cpu_seconds(pid)
    for n in range(20):
        send(port, f"long-garbage-{n % 4}", garbage(n % 4, n))
    capped = (cpu_seconds(pid) - before) / 20
    stored = max(stored_bytes(reliable.state, f"long-garbage-{k}") for k in range(4)) / 5
    assert capped <= 8 * max(normal, 0.01), (capped, normal)
    assert stored <= 64 * 1024, stored

    # Another user's latency, idle and while three clients each send about 0.7 capped messages
    # a second (as a flood from three anonymous clients did). Each question opens a fresh
    # conversation, so that neither phase is slowed by a longer conversation of its own.
    # 60 of each: with 20, the "p95" was the second-slowest answer, one unlucky wait.
    idle = [send(port, f"long-idle-{n}", QUESTION) for n in range(SAMPLES)]
    stop = threading.Event()

    def flood(client: int) -> None:
        n = 0
        while not stop.is_set():
            send(port, f"long-flood-{client}-{n % 3}", garbage(n % 4, client * 1000 + n))
            n += 1
            stop.wait(1 / 0.7)

    clients = [threading.Thread(target=flood, args=(c,), daemon=True) for c in range(3)]
    for client in clients:
        client.start()
    time.sleep(2)
    loaded = []
    for _ in range(SAMPLES):
        loaded.append(send(port, f"long-loaded-{len(loaded)}", QUESTION))
        time.sleep(0.3)
    stop.set()
    for client in clients:
        client.join(timeout=60)
    # Timings on a shared machine are reported, not asserted to a target (the target is 2x,
    # printed below); this bound only catches a return to seconds of stall per message.
    assert p95(loaded) < 1.0, (p95(loaded), p95(idle))

    # Memory after 1,000 capped messages (four clients at once).
    start_mib = rss_mib(pid)

    def many(client: int) -> None:
        for n in range(250):
            send(port, f"long-many-{client}-{n % 10}", garbage(n % 4, client * 10000 + n))

    workers = [threading.Thread(target=many, args=(c,)) for c in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    end_mib = rss_mib(pid)
    growth = (end_mib - start_mib) / start_mib
    FIGURES["long messages"] = (
        f"long messages: Rasa CPU {capped * 1000:.0f} ms per capped ({CAP}-character) message vs "
        f"{normal * 1000:.0f} ms per question ({capped / max(normal, 1e-3):.1f}x), at most "
        f"{stored / 1024:.0f} KB stored per capped message; another user's p95 {p95(idle) * 1000:.0f} ms "
        f"idle, {p95(loaded) * 1000:.0f} ms ({p95(loaded) / p95(idle):.1f}x; target 2x) while 3 clients "
        f"sent 0.7 capped messages/s each; Rasa "
        f"memory {start_mib:.0f} -> {end_mib:.0f} MiB after 1,000 capped messages ({growth:+.1%})")
    assert growth <= 0.05, FIGURES["long messages"]
