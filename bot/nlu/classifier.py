"""DIETClassifier, predicting a message's intent without TensorFlow when its network reads the
sentence alone.

Configured as in config.yml (no transformer layers, no hidden layers for the text, no entity
recognition, sparse features only), DIET's intent for a message is five small steps on the
message's sentence-level features: the featurizers' sparse features side by side, times the
sparse-to-dense kernel plus its bias, times the text embedding's kernel plus its bias, the
inner product with each intent's embedding, and softmax. The token-level features go through
the network as well, but with no transformer nothing mixes one position with another, and the
intent is read at the sentence's own position: they do not change it.

Here those steps are done with numpy on the trained weights, without building a batch of
model data (token-level features included) and calling TensorFlow for one message: the same
intents and rankings, confidences equal up to float32 rounding (tests/e2e/
test_graph_runner_model.py compares them with DIET's own on every training example and
held-out question). Any other configuration, a model whose weights are not laid out as
expected, and diagnostic runs (`rasa test`, which read the network's intermediate tensors) go
DIET's way. Training is DIET's, unchanged.
tests/bot/test_patched_rasa_code.py fails when the Rasa code of DIET's prediction changes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.utils.tensorflow.constants import (
    ENTITY_RECOGNITION,
    FEATURIZERS,
    HIDDEN_LAYERS_SIZES,
    INNER,
    INTENT_CLASSIFICATION,
    MASKED_LM,
    MODEL_CONFIDENCE,
    NUM_TRANSFORMER_LAYERS,
    SENTENCE,
    SEQUENCE,
    SOFTMAX,
)
from scipy.sparse import coo_matrix

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentenceNetwork:
    """The trained weights the intent depends on, as float32 numpy arrays."""

    units: int  # width of the combined sentence features
    sparse_kernel: np.ndarray  # units x dense dimension
    sparse_bias: np.ndarray
    embed_kernel: np.ndarray  # dense dimension x embedding dimension
    embed_bias: np.ndarray
    labels: np.ndarray  # intents x embedding dimension

    def scores(self, features: List[Features]) -> Optional[np.ndarray]:
        """The intents' confidences (1 x intents) for a message's sentence-level sparse
        features, in the order the message holds them; None where they are not what the
        network was trained on."""
        rows: List[np.ndarray] = []
        values: List[np.ndarray] = []
        offset = 0
        for feature in features:
            matrix = feature.features
            if not isinstance(matrix, coo_matrix) or matrix.shape[0] != 1:
                return None
            rows.append(matrix.col.astype(np.int64) + offset)
            values.append(matrix.data)
            offset += matrix.shape[1]
        if offset != self.units:
            return None
        index = np.concatenate(rows)
        weight = np.concatenate(values).astype(np.float32)
        hidden = (self.sparse_kernel[index] * weight[:, np.newaxis]).sum(axis=0, dtype=np.float32)
        hidden += self.sparse_bias
        embedded = hidden @ self.embed_kernel + self.embed_bias
        similarities = self.labels @ embedded
        exponent = np.exp(similarities - similarities.max())
        confidences = (exponent / exponent.sum()).astype(np.float32)
        # TensorFlow's CPU kernels flush subnormal floats to zero: so do these.
        confidences[confidences < np.finfo(np.float32).tiny] = 0.0
        return confidences[np.newaxis, :]


def sentence_network(classifier: DIETClassifier) -> Optional[SentenceNetwork]:
    """The classifier's network as a SentenceNetwork, or None where its intent depends on more
    than the sentence-level sparse features (or its layers are not the ones expected)."""
    config = classifier.component_config
    model = classifier.model
    if (model is None or config[NUM_TRANSFORMER_LAYERS] != 0 or config[ENTITY_RECOGNITION]
            or not config[INTENT_CLASSIFICATION] or config[MASKED_LM]
            or config[HIDDEN_LAYERS_SIZES].get(TEXT) or config[MODEL_CONFIDENCE] != SOFTMAX
            or getattr(model, "all_labels_embed", None) is None):
        return None
    try:
        signature = model.predict_data_signature[TEXT]
        sentence = list(signature[SENTENCE])
        if len(sentence) != 1 or not sentence[0].is_sparse or \
                any(not f.is_sparse for f in signature.get(SEQUENCE, [])):
            return None
        sequence_layer = model._tf_layers[f"sequence_layer.{TEXT}"]
        combining = sequence_layer._tf_layers["feature_combining"]._tf_layers
        if any(name.startswith("unify_dims") for name in combining) or \
                sequence_layer._tf_layers["ffnn"].weights:
            return None
        dense = combining[f"sparse_dense.{SENTENCE}"]._tf_layers["sparse_to_dense"]
        embed = model._tf_layers[f"embed.{TEXT}"]._dense
        loss = model._tf_layers["loss.label"]
        if dense.activation.__name__ != "linear" or embed.activation.__name__ != "linear" \
                or loss.similarity_type != INNER or not dense.use_bias or not embed.use_bias:
            return None
        return SentenceNetwork(
            units=int(sentence[0].units),
            sparse_kernel=np.asarray(dense.kernel.numpy(), dtype=np.float32),
            sparse_bias=np.asarray(dense.bias.numpy(), dtype=np.float32),
            embed_kernel=np.asarray(embed.kernel.numpy(), dtype=np.float32),
            embed_bias=np.asarray(embed.bias.numpy(), dtype=np.float32),
            labels=np.asarray(model.all_labels_embed, dtype=np.float32))
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        logger.warning("The classifier's network is not the expected one (%s): it predicts "
                       "with TensorFlow.", e)
        return None


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR],
    is_trainable=True,
)
class SentenceDIETClassifier(DIETClassifier):
    """DIET, whose prediction is numpy's where the intent depends on the sentence alone."""

    _network: Optional[SentenceNetwork] = None
    _network_of: Any = None  # the model _network was read from

    def _predict(self, message: Message) -> Optional[Dict[str, Any]]:
        if self._network_of is not self.model:  # loaded, or trained, since
            self._network, self._network_of = sentence_network(self), self.model
        network = self._network
        if network is None or self._execution_context.should_add_diagnostic_data:
            return super()._predict(message)
        featurizers = self.component_config.get(FEATURIZERS) or []
        if not message.features_present(attribute=TEXT, featurizers=featurizers):
            return None  # as DIET: no features, no intent
        features = [f for f in message.features if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE
                    and (f.origin in featurizers or not featurizers)]
        if any(f.is_dense() for f in features):
            return super()._predict(message)
        scores = network.scores(features)
        if scores is None:
            return super()._predict(message)
        return {"i_scores": scores}
