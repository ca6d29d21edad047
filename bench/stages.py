"""Where the time of one turn goes, measured in process (the floor under the HTTP figures)."""
from __future__ import annotations

import asyncio
import json
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict

PROJECT = Path(__file__).resolve().parents[1]
QUESTIONS = ["金牌每个月有几个橱窗?", "銀牌貸款打幾折?", "第15条是什么?", "询价单订阅V2和V3有什么区别?",
             "我离金牌还差多少?", "你好", "備貨貸最高多少?", "gold seller 橱窗几个"]


def _per_call_ms(fn: Callable[[], Any], calls: int) -> float:
    """Median of `calls` timings, ms."""
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 3)


async def _per_call_ms_async(fn: Callable[[], Any], calls: int) -> float:
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        await fn()
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 3)


def run(model: Path, action_url: str, action_token: str, database_url: str) -> Dict[str, Any]:
    """Median milliseconds per message for each stage of a turn."""
    return asyncio.run(_run(model, action_url, action_token, database_url))


async def _run(model: Path, action_url: str, action_token: str, database_url: str) -> Dict[str, Any]:
    import logging

    import jieba
    from rasa.core.agent import Agent
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.log_utils import configure_structlog

    from actions.tier_status import lookup
    from core import script
    from core.db.session import make_engine, make_session_factory
    from core.identity import Identity

    # Rasa's debug logging would be timed along with the stages.
    configure_structlog(logging.WARNING)
    logging.getLogger("rasa").setLevel(logging.WARNING)
    results: Dict[str, Any] = {}
    cycle = iter(range(10 ** 9))

    def text() -> str:
        return QUESTIONS[next(cycle) % len(QUESTIONS)]

    results["normalise_ms"] = _per_call_ms(lambda: script.normalize(text()), 2000)
    tokenizer = jieba.Tokenizer()
    tokenizer.load_userdict(str(PROJECT / "build" / "jieba" / "userdict.txt"))
    normalised = [script.normalize(q)[0] for q in QUESTIONS]
    tokenizer.lcut(normalised[0])  # loads the dictionary
    results["tokenise_ms"] = _per_call_ms(
        lambda: tokenizer.lcut(normalised[next(cycle) % len(normalised)]), 2000)
    results["normalise_plus_tokenise_ms"] = round(results["normalise_ms"] + results["tokenise_ms"], 3)

    # The action server's retrieval stage: ranking every knowledge passage for the question.
    from core.knowledge import load_knowledge
    from core.knowledge.retrieval import Retriever

    retriever = Retriever(load_knowledge(PROJECT / "knowledge"))
    results["retrieval_rank_ms"] = _per_call_ms(
        lambda: retriever.rank(normalised[next(cycle) % len(normalised)]), 2000)

    # The model as the served Rasa server runs it: its graph in sequence, the classifier's
    # changes of bot/nlu/inference.py (bot/rasa_server.py installs them before serving).
    from bot import rasa_server

    rasa_server.install()
    agent = Agent.load(str(model))
    await agent.parse_message(QUESTIONS[0])
    results["nlu_parse_ms"] = await _per_call_ms_async(lambda: agent.parse_message(text()), 200)
    results["featurise_classify_extract_ms"] = round(
        results["nlu_parse_ms"] - results["normalise_plus_tokenise_ms"], 3)

    parse = await agent.parse_message(QUESTIONS[0])
    tracker = DialogueStateTracker.from_events(
        "bench", [ActionExecuted("action_listen"),
                  UserUttered(QUESTIONS[0], parse["intent"], parse["entities"], parse)],
        slots=agent.domain.slots)
    results["policies_ms"] = _per_call_ms(lambda: agent.processor.predict_next_with_tracker(tracker), 300)

    body = json.dumps({"next_action": "action_answer_programme", "sender_id": "bench",
                       "tracker": tracker.current_state(), "domain": agent.domain.as_dict(),
                       "version": "3.6.2"}).encode()

    def call_action() -> None:
        request = urllib.request.Request(action_url, body, {"Content-Type": "application/json",
                                                            "X-Action-Token": action_token})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
    call_action()
    results["action_call_ms"] = _per_call_ms(call_action, 200)

    factory = make_session_factory(make_engine(database_url))
    identity = Identity("M1003", "merchant", int(time.time()) + 3600)
    results["sql_lookup_ms"] = _per_call_ms(lambda: lookup(factory, identity, None), 500)
    return results
