"""The model's graph run node after node in an order worked out once per set of targets.

Rasa 3.6 runs the model's graph with dask on every call: three times a turn (the message's
parse, then a prediction before each action). Each run builds the target's minimal schema and
a dask graph again, has dask order it and steps through dask's synchronous scheduler (queues,
callbacks, a thread lock per task), which cost the Rasa server about as much CPU as the dialogue
policy itself. The nodes here are Rasa's own (`GraphNode`, instantiated as DaskGraphRunner does)
and receive the same inputs; only the bookkeeping around them is done once.

Rasa has no setting for the runner a served model uses (`MessageProcessor._load_model` names
DaskGraphRunner): bot/rasa_server.py puts this class in its place before the server starts, and
tests/bot/test_patched_rasa_code.py fails when that code changes. Training keeps dask.
Its first run freezes the loaded model for the garbage collector (bot/memory.py).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text, Tuple

from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import ExecutionContext, GraphNode, GraphNodeHook, GraphSchema
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.engine.storage.storage import ModelStorage

from bot import memory

# The run after which memory is settled a second time, for a model that replaced another
# (see `run`).
SETTLE_AGAIN_AT = 1000
# Models whose graph has run in this process.
_models_run = 0
# One step: the node's name, the node, and the names of the nodes (or inputs) it needs.
Step = Tuple[Text, GraphNode, Tuple[Text, ...]]


class SequentialGraphRunner(DaskGraphRunner):
    """DaskGraphRunner's nodes, run one after the other (dependencies first)."""

    def __init__(
        self,
        graph_schema: GraphSchema,
        model_storage: ModelStorage,
        execution_context: ExecutionContext,
        hooks: Optional[List[GraphNodeHook]] = None,
    ) -> None:
        super().__init__(graph_schema, model_storage, execution_context, hooks)
        self._plans: Dict[Tuple[Text, ...], List[Step]] = {}
        self._runs = 0
        self._replaced_another = False

    def plan(self, targets: Tuple[Text, ...]) -> List[Step]:
        """The nodes the targets need, each after the nodes it needs."""
        known = self._plans.get(targets)
        if known is not None:
            return known
        nodes = self._graph_schema.nodes
        steps: List[Step] = []
        placed: set = set()

        def place(name: Text, path: Tuple[Text, ...]) -> None:
            if name in placed or name not in nodes:
                return  # placed already, or an input given to run()
            if name in path:
                raise GraphRunError(f"The graph has a cycle through node '{name}'.")
            needs = tuple(nodes[name].needs.values())
            for need in needs:
                place(need, (*path, name))
            placed.add(name)
            steps.append((name, self._instantiated_nodes[name], needs))

        for target in targets:
            place(target, ())
        self._plans[targets] = steps
        return steps

    def run(
        self,
        inputs: Optional[Dict[Text, Any]] = None,
        targets: Optional[List[Text]] = None,
    ) -> Dict[Text, Any]:
        """Runs the graph (see the parent class): the same outputs as dask gives. The first run
        settles the process's memory with this model loaded (bot/memory.py). A model that
        replaced another is settled once more at its SETTLE_AGAIN_AT-th run: by then no turn
        still holds the model it replaced (the process's first model has none to wait for,
        and its turns are not held up by a second full collection)."""
        global _models_run
        self._runs += 1
        if self._runs == 1:
            _models_run += 1
            self._replaced_another = _models_run > 1
            memory.settle()
        elif self._runs == SETTLE_AGAIN_AT and self._replaced_another:
            memory.settle()
        run_targets = tuple(targets if targets else self._graph_schema.target_names)
        steps = self.plan(run_targets)
        results: Dict[Text, Any] = {}
        for name, value in (inputs or {}).items():
            # Refused as DaskGraphRunner refuses it (dask would read such a value as a node's).
            if isinstance(value, str) and any(value == step[0] for step in steps):
                raise GraphRunError(
                    f"Input value '{name}' clashes with a node name. Make sure "
                    f"that none of the input names passed to the `run` method are the "
                    f"same as node names in the graph schema."
                )
            results[name] = (name, value)
        try:
            for name, node, needs in steps:
                # A need nobody provides reaches the node as its bare name, as with dask (the
                # node then reports it missing).
                results[name] = node(*(results.get(need, need) for need in needs))
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e
        return dict(results[target] for target in run_targets)
