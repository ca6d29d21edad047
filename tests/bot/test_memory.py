"""bot/memory.py: the Rasa server's garbage collector, with the loaded model frozen once it
has answered and the youngest generation collected less often."""
from __future__ import annotations

import gc
import weakref

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage

from bot import graph_runner, memory, rasa_server
from bot.graph_runner import SequentialGraphRunner
from tests.bot.test_graph_runner import SCHEMA


@pytest.fixture(autouse=True)
def collector_as_it_was():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class Cycle:
    """An object in a reference cycle: only the garbage collector frees it."""

    def __init__(self) -> None:
        self.me = self


def _garbage_cycle() -> "weakref.ref[Cycle]":
    made = Cycle()
    return weakref.ref(made)


def test_the_server_collects_the_youngest_generation_less_often(monkeypatch):
    gc.set_threshold(700, 10, 10)
    memory.tune()
    assert gc.get_threshold() == (memory.YOUNG_OBJECTS, 10, 10)
    # ... when bot/rasa_server.py installs the project's changes (the others left out here).
    called = []
    monkeypatch.setattr(rasa_server, "_installed", False)
    monkeypatch.setattr(rasa_server.memory, "tune", lambda: called.append("tune"))
    for name in ("cache_event_types", "remember_domain_emptiness", "run_graphs_in_sequence",
                 "release_closed_connections"):
        monkeypatch.setattr(rasa_server, name, lambda: None)
    monkeypatch.setattr(rasa_server.logsafe, "install", lambda: None)
    monkeypatch.setattr(rasa_server.action_calls, "install_from_environment", lambda: None)
    monkeypatch.setattr(rasa_server.inference, "install", lambda: None)
    rasa_server.install()
    assert called == ["tune"]


def test_the_first_run_of_a_loaded_model_collects_then_freezes_and_only_once(tmp_path, monkeypatch):
    monkeypatch.setattr(graph_runner, "_models_run", 0)  # the process's first model
    runner = SequentialGraphRunner(SCHEMA, LocalModelStorage(tmp_path), ExecutionContext(SCHEMA, "model"))
    gone = _garbage_cycle()
    gc.disable()  # no collection of its own in between
    try:
        assert gone() is not None
        runner.run(inputs={"__message__": "hi"}, targets=["d"])
    finally:
        gc.enable()
    assert gone() is None, "what loading left behind is collected"
    assert gc.get_freeze_count() > 0, "what remains is frozen"
    settled = []
    monkeypatch.setattr(memory, "settle", lambda: settled.append(1))
    for _ in range(graph_runner.SETTLE_AGAIN_AT + 1):
        runner.run(inputs={"__message__": "hi"}, targets=["d"])
    assert settled == [], "the process's first model is settled on its first run only"


def test_a_model_that_replaced_another_is_settled_again_later(tmp_path, monkeypatch):
    monkeypatch.setattr(graph_runner, "_models_run", 0)
    settled = []
    monkeypatch.setattr(memory, "settle", lambda: settled.append(1))
    first = SequentialGraphRunner(SCHEMA, LocalModelStorage(tmp_path), ExecutionContext(SCHEMA, "model"))
    first.run(inputs={"__message__": "hi"}, targets=["d"])
    assert settled == [1]
    replacing = SequentialGraphRunner(SCHEMA, LocalModelStorage(tmp_path), ExecutionContext(SCHEMA, "model"))
    replacing.run(inputs={"__message__": "hi"}, targets=["d"])
    assert settled == [1, 1], "a model loaded later is settled on its own first run"
    for _ in range(graph_runner.SETTLE_AGAIN_AT - 2):
        replacing.run(inputs={"__message__": "hi"}, targets=["d"])
    assert settled == [1, 1]
    replacing.run(inputs={"__message__": "hi"}, targets=["d"])
    assert settled == [1, 1, 1], "... and once more at its SETTLE_AGAIN_AT-th run"
    replacing.run(inputs={"__message__": "hi"}, targets=["d"])
    assert settled == [1, 1, 1]


def test_what_was_frozen_and_became_garbage_since_is_collected_by_the_next_settling():
    kept = Cycle()
    gc.freeze()  # frozen while in use (a model about to be replaced)
    gone = weakref.ref(kept)
    del kept
    gc.collect()
    assert gone() is not None, "a frozen object is not collected"
    memory.settle()
    assert gone() is None
