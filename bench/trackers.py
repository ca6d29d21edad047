"""A conversation's turns alternating between two Rasa servers (two tracker stores on one
database): the time to get the tracker at the start of a turn when a server catches its kept
copy up with the other's new events, beside reading the session whole each time.

`python -m bench.trackers [URL]` (a SQLite file in a temporary folder by default; e.g.
postgresql://postgres@127.0.0.1:5432/test) prints both, three rounds each, interleaved.
"""
from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from typing import List

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

from bot.tracker_store import SQLConversationStore

# A programme question's parse data, about the size the NLU gives (ten intents ranked).
PARSE = {"intent": {"name": "ask_programme", "confidence": 0.93},
         "entities": [{"entity": "tier", "value": "gold", "start": 0, "end": 2}],
         "intent_ranking": [{"name": f"intent_{k}", "confidence": 0.01} for k in range(10)],
         "text": "金牌每个月有几个橱窗"}


async def per_retrieve(url: str, catch_up: bool, conversations: int = 60, turns: int = 10) -> float:
    """Milliseconds per tracker fetched, over `conversations` conversations of `turns` turns,
    turn by turn on one store and the other."""
    stores = [SQLConversationStore(Domain.empty(), host=url) for _ in range(2)]
    if not catch_up:
        for store in stores:
            store._caught_up = lambda *args: None  # type: ignore[method-assign]
    spent, fetched = 0.0, 0
    for _ in range(conversations):
        sender = f"bench-trackers-{uuid.uuid4().hex[:10]}"
        for turn in range(turns):
            store = stores[turn % 2]
            started = time.perf_counter()
            tracker = await store.get_or_create_tracker(sender)
            spent += time.perf_counter() - started
            fetched += 1
            for e in (ActionExecuted("action_listen"),
                      UserUttered(PARSE["text"], PARSE["intent"], PARSE["entities"], PARSE),
                      ActionExecuted("action_answer_programme"), BotUttered("每月10个橱窗。"),
                      SlotSet("topic", "gold"), ActionExecuted("action_listen")):
                tracker.update(e)
            await store.save(tracker)
    for store in stores:
        store.engine.dispose()
    return spent * 1000 / fetched


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-trackers-") as tmp:
        url = args.url or f"sqlite:///{tmp}/trackers.db"
        for _ in range(3):
            for catch_up in (False, True):
                ms = asyncio.run(per_retrieve(url, catch_up))
                print(f"{'caught up' if catch_up else 'read whole'}: {ms:.3f} ms per tracker fetched",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
