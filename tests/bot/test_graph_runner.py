"""The model's graph run node after node (bot/graph_runner.py): the same outputs, order of
dependencies and errors as Rasa's DaskGraphRunner on the same graph. The served model's own
graph is compared in tests/e2e/test_graph_runner_model.py."""
from __future__ import annotations

from typing import Any, Dict, List, Text

import pytest
from rasa.engine.exceptions import GraphComponentException, GraphRunError
from rasa.engine.graph import ExecutionContext, GraphComponent, GraphSchema, SchemaNode
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage

from bot.graph_runner import SequentialGraphRunner

CALLS: List[Text] = []


class Join(GraphComponent):
    """Records its call and joins its inputs' outputs with its own name."""

    def __init__(self, name: Text) -> None:
        self.name = name

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "Join":
        return cls(config["name"])

    def run(self, **inputs: Any) -> Text:
        CALLS.append(self.name)
        if "boom" in inputs.values():
            raise ValueError("a component failed")
        return self.name + "(" + ",".join(str(inputs[k]) for k in sorted(inputs)) + ")"


def node(name: Text, **needs: Text) -> SchemaNode:
    return SchemaNode(needs=needs, uses=Join, constructor_name="create", fn="run",
                      config={"name": name}, eager=True)


# a diamond after an input, and a node no target below needs
SCHEMA = GraphSchema({
    "a": node("a", x="__message__"),
    "b": node("b", first="a"),
    "c": node("c", first="a"),
    "d": node("d", left="b", right="c"),
    "unused": node("unused", first="a"),
})


@pytest.fixture
def runners(tmp_path):
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(SCHEMA, "model")
    return (DaskGraphRunner(SCHEMA, storage, context), SequentialGraphRunner(SCHEMA, storage, context))


@pytest.mark.parametrize("targets", [["d"], ["b", "c"], ["a"], ["d", "a"]])
def test_the_outputs_are_dasks(runners, targets):
    dask, sequential = runners
    expected = dask.run(inputs={"__message__": "hi"}, targets=targets)
    CALLS.clear()
    assert sequential.run(inputs={"__message__": "hi"}, targets=targets) == expected
    # every node the targets need, once, each after what it needs; nothing else
    assert sorted(CALLS) == sorted(set(CALLS))
    assert "unused" not in CALLS
    for later, earlier in (("b", "a"), ("c", "a"), ("d", "b"), ("d", "c")):
        if later in CALLS:
            assert CALLS.index(earlier) < CALLS.index(later)
    # and the same again from the order worked out the first time
    assert sequential.run(inputs={"__message__": "hi"}, targets=targets) == expected


def test_an_input_may_be_a_target(runners):
    dask, sequential = runners
    assert sequential.run(inputs={"__message__": "hi"}, targets=["__message__"]) == \
        dask.run(inputs={"__message__": "hi"}, targets=["__message__"]) == {"__message__": "hi"}


def test_a_missing_input_and_a_clashing_one_are_refused_as_by_dask(runners):
    for runner in runners:
        with pytest.raises(GraphRunError, match="Missing input"):
            runner.run(inputs={}, targets=["a"])
        with pytest.raises(GraphRunError, match="clashes"):
            runner.run(inputs={"__message__": "b"}, targets=["d"])
        assert runner.run(inputs={"__message__": "b"}, targets=["a"]) == {"a": "a(b)"}


def test_a_failing_component_fails_the_run_as_with_dask(runners):
    for runner in runners:
        with pytest.raises(GraphComponentException) as raised:
            runner.run(inputs={"__message__": "boom"}, targets=["d"])
        assert isinstance(raised.value.__cause__, ValueError)


def test_a_cycle_is_refused(tmp_path):
    cyclic = GraphSchema({"a": node("a", first="b"), "b": node("b", first="a")})
    runner = SequentialGraphRunner(cyclic, LocalModelStorage(tmp_path), ExecutionContext(cyclic, "m"))
    with pytest.raises(GraphRunError, match="cycle"):
        runner.run(inputs={}, targets=["a"])


def test_the_rasa_server_loads_models_with_it(monkeypatch):
    import rasa.core.processor

    from bot.rasa_server import run_graphs_in_sequence

    monkeypatch.setattr(rasa.core.processor, "DaskGraphRunner", DaskGraphRunner)
    run_graphs_in_sequence()
    assert rasa.core.processor.DaskGraphRunner is SequentialGraphRunner
