"""The Rasa server's garbage collector, set for a process that holds a large model and answers
many short turns.

- **The model frozen.** A loaded model is some 600,000 Python objects (TensorFlow, spaCy,
  jieba, the domain) that live as long as the process. CPython's full collection walks all of
  them: 260–400 ms with everything else stopped, several times a minute under load, and every
  turn in flight on the event loop waits for it. When the model is first run (the first
  message it reads), `settle()` collects what loading it left behind and freezes the rest
  (`gc.freeze()`): full collections then walk only what was made since (the conversations
  kept in memory, ...). A model that replaces another is settled the same way, the frozen
  objects first unfrozen, and once more a thousand runs later, so that nothing of the model
  it replaced stays frozen (a turn still under way on it may hold it at the first).
- **Young objects.** A turn makes thousands of short-lived containers (parse data, events,
  dialogue states); with CPython's default of a collection every 700 new objects, those of
  the turns in flight were collected again and again while still in use, and promoted
  towards the full collections. `tune()` collects the youngest generation every
  `YOUNG_OBJECTS` new objects instead (memory freed by reference counting is freed at once
  either way; only reference cycles wait longer).

`bot/rasa_server.py` calls `tune()` when it installs the project's changes; the model's graph
runner (bot/graph_runner.py) calls `settle()` when it first runs.
"""
from __future__ import annotations

import gc

YOUNG_OBJECTS = 10_000


def tune() -> None:
    """The youngest generation collected every YOUNG_OBJECTS new objects; the older ones as
    CPython sets them."""
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, middle, oldest)


def settle() -> None:
    """Collect everything, then freeze what survives (the loaded model): later collections
    leave it alone."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
