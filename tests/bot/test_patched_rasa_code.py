"""The Rasa code the project replaces at run time, or relies on in detail, is the code it was
written against (Rasa 3.6.21). These functions have no extension point: bot/rasa_server.py
replaces RemoteAction.run, _validate_action_result and _action_call_format
(bot/action_calls.py), Event.resolve_by_type (the event-type cache), Domain.is_empty (kept
per domain), an endpoint's session,
the graph runner a served model is loaded with (bot/graph_runner.py), and how the classifier
joins sparse features, calls its compiled prediction step and counts a message's words
(bot/nlu/inference.py, with the sklearn, scipy and TensorFlow code it reproduces), how
Sanic closes an HTTP connection and checks its timeouts (bot/rasa_server.py), how the lock
store takes and waits for a conversation's lock (bot/lock_store.py); the
classifier's intent is DIET's network computed with numpy (bot/nlu/classifier.py);
the channels rely on the processor taking a message's parse data as given
(bot/channels/understanding.py); the rule policy (bot/policies.py) and the conversations'
trackers (bot/tracker_store.py) rely on how RulePolicy matches rules, how states are made and
how a tracker applies, replays and copies its events. After a Rasa upgrade this test
fails until each replacement has been checked against the new code and its digest updated."""
from __future__ import annotations

import ast
import hashlib
import importlib.util
from pathlib import Path

import pytest

# (module, class, function): first 16 hex digits of the sha256 of the function's source text.
PINNED = {
    ("rasa.core.actions.action", "RemoteAction", "run"): "b530fc5a6789c82f",
    ("rasa.core.actions.action", "RemoteAction", "_validate_action_result"): "24da0f6bdeb2d44f",
    ("rasa.core.actions.action", "RemoteAction", "_action_call_format"): "b8da18ca9f78d3ae",
    ("rasa.shared.core.events", "Event", "resolve_by_type"): "ffabe9999fc8f7f3",
    # bot/rasa_server.py keeps a domain's emptiness: a pure function of a domain not changed once made.
    ("rasa.shared.core.domain", "Domain", "is_empty"): "95485f444497dba7",
    ("rasa.utils.endpoints", "EndpointConfig", "session"): "f6136492eac7ede3",
    ("rasa.utils.endpoints", "EndpointConfig", "request"): "bc49eb77a158ac1e",
    ("rasa.core.processor", "MessageProcessor", "_handle_message_with_tracker"): "52ddf94017c2cb84",
    # bot/graph_runner.py takes DaskGraphRunner's place where a served model is loaded, and
    # runs the graph as its run() does.
    ("rasa.core.processor", "MessageProcessor", "_load_model"): "dc5cda8c01f32977",
    ("rasa.engine.runner.dask", "DaskGraphRunner", "run"): "ce0438b9b8e79330",
    ("rasa.engine.runner.dask", "DaskGraphRunner", "_add_inputs_to_graph"): "b07006aa1a09bb5b",
    # bot/nlu/inference.py: sparse features joined directly, the prediction step called as
    # its concrete function.
    ("rasa.shared.nlu.training_data.features", "Features", "_combine_sparse_features"): "d49bea93b0068b17",
    ("rasa.utils.tensorflow.models", "RasaModel", "_rasa_predict"): "643e8a005cbfb66b",
    # ... the classifier loaded without its training step: one prediction makes the variables,
    # then the labels' embeddings and the step are made again from the weights.
    ("rasa.utils.tensorflow.models", "RasaModel", "load"): "1d0203f026ffd599",
    ("rasa.utils.tensorflow.models", "RasaModel", "run_inference"): "b4190d6f52a6510c",
    ("rasa.nlu.classifiers.diet_classifier", "DIET", "prepare_for_predict"): "58aeea18a0589284",
    # ... and a message's counts made into the COO matrix Rasa makes of sklearn's CSR matrix.
    ("rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer", "CountVectorsFeaturizer",
     "_create_features"): "b89208c097ba7576",
    ("sklearn.feature_extraction.text", "CountVectorizer", "transform"): "3f92a004c11f512c",
    ("sklearn.feature_extraction.text", "CountVectorizer", "_count_vocab"): "b1b0af22013a64b8",
    ("scipy.sparse._compressed", "_cs_matrix", "tocoo"): "4edfeb4d63d3056c",
    # ... made without scipy's checks of indices made there (`unchecked_coo`).
    ("scipy.sparse._coo", "coo_matrix", "__init__"): "479eea0625be72ec",
    ("scipy.sparse._coo", "coo_matrix", "_check"): "41b271ad9e5d55f5",
    # ... and the concrete prediction step called flat, as TensorFlow calls it after
    # binding and converting the arguments.
    ("tensorflow.python.eager.polymorphic_function.monomorphic_function", "ConcreteFunction",
     "_call_with_structured_signature"): "6374ec6f4111be96",
    ("tensorflow.python.eager.polymorphic_function.monomorphic_function", "ConcreteFunction",
     "_call_flat"): "ed9a163d28c6c672",
    ("tensorflow.python.eager.polymorphic_function.function_spec", "FunctionSpec",
     "canonicalize_function_inputs"): "a79060a2eed6ab2f",
    # bot/nlu/classifier.py computes DIET's intent with numpy: the network as DIET predicts
    # with it, from the message's features to the intents' confidences.
    ("rasa.nlu.classifiers.diet_classifier", "DIETClassifier", "_predict"): "373dcdae0d06c249",
    ("rasa.nlu.classifiers.diet_classifier", "DIETClassifier", "process"): "698a44931e7c6c55",
    ("rasa.nlu.classifiers.diet_classifier", "DIET", "batch_predict"): "c1c9274a69297e5d",
    ("rasa.nlu.classifiers.diet_classifier", "DIET", "_batch_predict_intents"): "5f1270b840e60c80",
    ("rasa.utils.tensorflow.rasa_layers", "RasaSequenceLayer", "call"): "9a1b83f742f96976",
    ("rasa.utils.tensorflow.rasa_layers", "RasaFeatureCombiningLayer", "call"): "f38268ff3a82259c",
    ("rasa.utils.tensorflow.rasa_layers", "ConcatenateSparseDenseFeatures", "call"): "4727c988496b3543",
    ("rasa.utils.tensorflow.layers", "DenseForSparse", "call"): "f389a01a1c28d3b4",
    ("rasa.utils.tensorflow.layers", "DotProductLoss",
     "get_similarities_and_confidences_from_embeddings"): "1ed85f4ed7bab587",
    ("rasa.utils.tensorflow.layers", "DotProductLoss", "sim"): "c76a7d055234cb9b",
    # bot/policies.py hands RulePolicy the last states only: rules match as on the whole session.
    ("rasa.core.policies.rule_policy", "RulePolicy", "_is_rule_applicable"): "c60740c10d00a4cf",
    ("rasa.core.policies.rule_policy", "RulePolicy", "_get_possible_keys"): "ae2257980a444fb0",
    ("rasa.core.policies.rule_policy", "RulePolicy", "_find_action_from_rules"): "9a6c28d7af23def6",
    ("rasa.core.policies.policy", "Policy", "_prediction_states"): "44545353b1ac5b87",
    ("rasa.core.featurizers.tracker_featurizers", "MaxHistoryTrackerFeaturizer",
     "prediction_states"): "27fac93ddb32db34",
    ("rasa.shared.core.domain", "Domain", "states_for_tracker_history"): "9d6f120379ee768e",
    # bot/tracker_store.py: snapshots instead of replayed copies, applied events carried forward.
    ("rasa.shared.core.trackers", "DialogueStateTracker", "applied_events"): "78464fb46cdecd20",
    ("rasa.shared.core.trackers", "DialogueStateTracker", "generate_all_prior_trackers"): "a8ee3547f7588887",
    ("rasa.shared.core.trackers", "DialogueStateTracker", "travel_back_in_time"): "ac5dbfd3e3bc2df3",
    ("rasa.shared.core.trackers", "DialogueStateTracker", "__init__"): "174966138a5c0aa0",
    # bot/rasa_server.py: how Sanic closes an HTTP connection and checks its timeouts, with the
    # timers let go of when the connection is lost.
    ("sanic.server.protocols.base_protocol", "SanicProtocol", "close"): "891c011b31cf4f55",
    ("sanic.server.protocols.base_protocol", "SanicProtocol", "connection_lost"): "470a0a2bb0d0b62d",
    ("sanic.server.protocols.base_protocol", "SanicProtocol", "abort"): "bfda13af466fa0e9",
    ("sanic.server.protocols.http_protocol", "HttpProtocol", "check_timeouts"): "62f688392f8eea35",
    ("sanic.server.protocols.http_protocol", "HttpProtocol", "connection_task"): "04eb038eaa735869",
    # bot/lock_store.py takes Rasa's lock as LockStore.lock does, waiting for a queued ticket
    # with its _acquire_lock.
    ("rasa.core.lock_store", "LockStore", "lock"): "d84cf99f0517cbc1",
    ("rasa.core.lock_store", "LockStore", "_acquire_lock"): "7accecf388022dd4",
}


def source_digest(module: str, cls: str, function: str) -> str:
    """The digest of the function as written in the installed file (whatever is patched in
    memory at the time)."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, module
    text = Path(spec.origin).read_text(encoding="utf-8")
    tree = ast.parse(text)
    owner = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    node = next(n for n in owner.body
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == function)
    segment = ast.get_source_segment(text, node) or ""
    return hashlib.sha256(segment.encode("utf-8")).hexdigest()[:16]


@pytest.mark.parametrize("where, digest", PINNED.items(), ids=[".".join(k[1:]) for k in PINNED])
def test_the_replaced_rasa_code_is_the_code_the_replacement_was_written_for(where, digest):
    assert source_digest(*where) == digest, (
        f"{'.'.join(where)} changed in this Rasa version: check the project's replacement "
        "against the new code, then update its digest here")
