"""The classifier's numpy prediction (bot/nlu/classifier.py) on small hand-made networks; the
trained model's predictions are compared with DIET's own in tests/e2e/test_graph_runner_model.py."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from rasa.shared.nlu.training_data.features import Features
from rasa.utils.tensorflow.model_data import FeatureSignature
from scipy.sparse import coo_matrix, csr_matrix

from bot.nlu.classifier import SentenceNetwork, sentence_network


def _network(units=7, dense=4, embed=3, labels=5, seed=3) -> SentenceNetwork:
    rng = np.random.default_rng(seed)
    return SentenceNetwork(
        units=units,
        sparse_kernel=rng.normal(size=(units, dense)).astype(np.float32),
        sparse_bias=rng.normal(size=dense).astype(np.float32),
        embed_kernel=rng.normal(size=(dense, embed)).astype(np.float32),
        embed_bias=rng.normal(size=embed).astype(np.float32),
        labels=rng.normal(size=(labels, embed)).astype(np.float32))


def _sentence(columns, values, width, origin="f") -> Features:
    matrix = coo_matrix((np.array(values, dtype=np.float32), ([0] * len(columns), columns)), shape=(1, width))
    return Features(matrix, "sentence", "text", origin)


def _reference(network: SentenceNetwork, dense_input: np.ndarray) -> np.ndarray:
    """The same network, dense and in float64."""
    hidden = dense_input @ network.sparse_kernel.astype(np.float64) + network.sparse_bias
    embedded = hidden @ network.embed_kernel.astype(np.float64) + network.embed_bias
    similarities = network.labels.astype(np.float64) @ embedded
    exponent = np.exp(similarities - similarities.max())
    return exponent / exponent.sum()


def test_the_featurizers_features_side_by_side_through_the_network():
    network = _network()
    # Two featurizers' sentence features (widths 3 and 4), as the message holds them.
    scores = network.scores([_sentence([0, 2], [1, 2], 3), _sentence([1, 3], [1, 1], 4)])
    dense = np.array([1, 0, 2, 0, 1, 0, 1], dtype=np.float64)
    assert scores.shape == (1, 5) and scores.dtype == np.float32
    np.testing.assert_allclose(scores[0], _reference(network, dense), rtol=1e-5, atol=1e-7)
    assert scores.sum() == pytest.approx(1.0, abs=1e-6)
    # In the other order the columns are others: another answer.
    swapped = network.scores([_sentence([1, 3], [1, 1], 4), _sentence([0, 2], [1, 2], 3)])
    assert not np.allclose(swapped, scores)


def test_a_message_without_words_the_network_knows_still_gets_the_biases_answer():
    network = _network()
    scores = network.scores([_sentence([], [], 7)])
    np.testing.assert_allclose(scores[0], _reference(network, np.zeros(7)), rtol=1e-5, atol=1e-7)


def test_confidences_too_small_for_float32_are_zero_as_tensorflow_has_them():
    network = _network()
    # The embedding is the hidden layer's first three values; label 1 lies opposite label 0.
    far = SentenceNetwork(7, network.sparse_kernel, np.zeros(4, np.float32), np.eye(4, 3, dtype=np.float32),
                          np.zeros(3, np.float32), np.array([[0, 0, 0], [-1, 0, 0]], dtype=np.float32))
    # Similarities 0 and -90: exp(-90) is below float32's smallest normal number.
    scores = far.scores([_sentence([0], [90 / network.sparse_kernel[0, 0]], 7)])[0]
    assert scores.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("features", [
    [_sentence([0], [1], 6)],  # narrower than the network was trained on
    [Features(csr_matrix(np.ones((1, 7), dtype=np.float32)), "sentence", "text", "f")],  # not COO
    [Features(coo_matrix(np.ones((2, 7), dtype=np.float32)), "sentence", "text", "f")],  # two rows
])
def test_features_not_as_trained_are_left_to_tensorflow(features):
    assert _network().scores(features) is None


def _classifier(network: SentenceNetwork, **change):
    """A trained DIETClassifier as sentence_network reads it: its config and its layers."""
    def layer(kernel, bias):
        return SimpleNamespace(activation=SimpleNamespace(__name__="linear"), use_bias=True,
                               kernel=SimpleNamespace(numpy=lambda: kernel),
                               bias=SimpleNamespace(numpy=lambda: bias))

    signature = FeatureSignature(is_sparse=True, units=network.units, number_of_dimensions=3)
    model = SimpleNamespace(
        all_labels_embed=network.labels,
        predict_data_signature={"text": {"sentence": [signature], "sequence": [signature]}},
        _tf_layers={
            "sequence_layer.text": SimpleNamespace(_tf_layers={
                "feature_combining": SimpleNamespace(_tf_layers={"sparse_dense.sentence": SimpleNamespace(
                    _tf_layers={"sparse_to_dense": layer(network.sparse_kernel, network.sparse_bias)})}),
                "ffnn": SimpleNamespace(weights=[])}),
            "embed.text": SimpleNamespace(_dense=layer(network.embed_kernel, network.embed_bias)),
            "loss.label": SimpleNamespace(similarity_type="inner")})
    config = {"number_of_transformer_layers": 0, "entity_recognition": False, "intent_classification": True,
              "use_masked_language_model": False, "hidden_layers_sizes": {"text": [], "label": []},
              "model_confidence": "softmax", **change}
    return SimpleNamespace(component_config=config, model=model)


def test_the_trained_networks_weights_are_read():
    network = _network()
    read = sentence_network(_classifier(network))
    assert read is not None and read.units == 7
    features = [_sentence([0, 5], [1, 3], 7)]
    np.testing.assert_array_equal(read.scores(features), network.scores(features))


@pytest.mark.parametrize("change", [
    {"number_of_transformer_layers": 2}, {"entity_recognition": True}, {"intent_classification": False},
    {"use_masked_language_model": True}, {"hidden_layers_sizes": {"text": [64], "label": []}},
    {"model_confidence": "linear_norm"},
])
def test_a_network_whose_intent_reads_more_than_the_sentence_is_not_taken(change):
    assert sentence_network(_classifier(_network(), **change)) is None


def test_layers_other_than_the_expected_ones_are_not_taken(caplog):
    classifier = _classifier(_network())
    classifier.model._tf_layers["loss.label"].similarity_type = "cosine"
    assert sentence_network(classifier) is None
    classifier = _classifier(_network())
    del classifier.model._tf_layers["embed.text"]
    assert sentence_network(classifier) is None
    assert "predicts with TensorFlow" in caplog.text
    classifier.model = None
    assert sentence_network(classifier) is None
