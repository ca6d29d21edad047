"""The classifier's Python work around TensorFlow, for one message at a time, made smaller.

In the Rasa server's profile about half of the NLU's CPU for a message was Python around the
classifier (DIETClassifier), not TensorFlow's arithmetic:

- the message's sparse features, one matrix per featurizer, are joined by
  `scipy.sparse.hstack` (five joins a message), which builds a block matrix through a general
  path (object arrays, a COO matrix made and checked per block); here two COO matrices are
  joined directly, into the same matrix: the same values, indices, dtypes and shape
  (`join_sparse`), and anything else goes Rasa's way;
- the compiled prediction step (a `tf.function` with a fixed input signature, so exactly one
  compiled graph) was called through `tf.function`'s dispatch, which works out the signature
  of the arguments on every call; here its one concrete function is called, with the batch's
  arrays made into tensors directly when they match its signature;
- each CountVectorsFeaturizer counted a message's words (or characters) through sklearn's
  `transform`, which builds and checks a CSR matrix that Rasa then sorts and turns into a COO
  matrix, four times a message; here the same counts go into the same COO matrix directly
  (`counts`), with sklearn's own analyzer and the featurizer's vocabulary, made without
  scipy's checks of indices made here (`unchecked_coo`).

- loading the classifier, Rasa trains it for one step on an example (to make its variables)
  before reading its weights over them: tracing the training step is most of the model's
  loading time. Here one prediction makes the variables prediction reads, the weights are
  read over them, and the labels' embeddings and the prediction step are made again from the
  weights (`_load`); fine-tuning, eager runs, a load without an example and weights that do
  not hold every variable the prediction made go Rasa's way.

All are in place in the Rasa server only (bot/rasa_server.py installs them), so training is
Rasa's as it is; tests/bot/test_inference.py compares each with Rasa's own results, and
tests/bot/test_patched_rasa_code.py fails when the code replaced here changes.
"""
from __future__ import annotations

import weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

import numpy as np
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES
from rasa.shared.nlu.training_data.features import Features
from rasa.utils.tensorflow.constants import RUN_EAGERLY
from rasa.utils.tensorflow.models import RasaModel
from scipy.sparse import coo_matrix
from scipy.sparse._data import _data_matrix
from scipy.sparse._sputils import get_index_dtype, upcast
from sklearn.feature_extraction.text import CountVectorizer
from tensorflow.python.eager import context
from tensorflow.python.framework.constant_op import convert_to_eager_tensor
from tensorflow.python.util import nest

_rasa_combine_sparse: Optional[Callable[[Features, Features], None]] = None
_rasa_predict: Optional[Callable[..., Dict[str, Any]]] = None
_rasa_create_features: Optional[Callable[..., Tuple[List[Any], List[Any]]]] = None
_rasa_load: Optional[Callable[..., RasaModel]] = None
# Each loaded vectorizer's analyzer, made once (sklearn makes it again on every transform).
_analyzers: "weakref.WeakKeyDictionary[CountVectorizer, Callable[[str], List[str]]]" = \
    weakref.WeakKeyDictionary()


def join_sparse(left: coo_matrix, right: coo_matrix) -> coo_matrix:
    """`scipy.sparse.hstack([left, right])` for two COO matrices with as many rows, made as
    scipy's `bmat` makes it."""
    shape = (left.shape[0], left.shape[1] + right.shape[1])
    index = get_index_dtype(maxval=max(shape))
    data = np.empty(left.nnz + right.nnz, dtype=upcast(left.dtype, right.dtype))
    row = np.empty(left.nnz + right.nnz, dtype=index)
    col = np.empty(left.nnz + right.nnz, dtype=index)
    data[:left.nnz], data[left.nnz:] = left.data, right.data
    np.add(left.row, 0, out=row[:left.nnz], dtype=index)
    np.add(right.row, 0, out=row[left.nnz:], dtype=index)
    np.add(left.col, 0, out=col[:left.nnz], dtype=index)
    np.add(right.col, left.shape[1], out=col[left.nnz:], dtype=index)
    return coo_matrix((data, (row, col)), shape=shape)


def _combine_sparse_features(self: Features, additional_features: Features) -> None:
    left, right = self.features, additional_features.features
    if (type(left) is not coo_matrix or type(right) is not coo_matrix
            or left.shape[0] != right.shape[0]):
        assert _rasa_combine_sparse is not None
        _rasa_combine_sparse(self, additional_features)  # Rasa's, with its error
        return
    self.features = join_sparse(left, right)
    self._cached_fingerprint = None


class ConcreteStep:
    """A `tf.function` with an input signature, called as its one concrete function. A batch of
    numpy arrays that matches the signature (same number, dtypes, ranks and fixed sizes) is
    turned into tensors as TensorFlow's own conversion does (`convert_to_eager_tensor`) and
    passed to the concrete function's flat call; TensorFlow's general path, which binds the
    arguments to the signature and checks them again on every call, is left for anything
    else."""

    def __init__(self, function: Any) -> None:
        self.function = function
        self.concrete = function.get_concrete_function()
        self.specs = nest.flatten(function.input_signature, expand_composites=True)
        self.expected = [(np.dtype(spec.dtype.as_numpy_dtype), spec.shape.rank,
                          [(axis, size) for axis, size in enumerate(
                              spec.shape.as_list() if spec.shape.rank is not None else [])
                           if size is not None])
                         for spec in self.specs]

    def matches(self, flat: List[Any]) -> bool:
        """Whether `flat` (the batch's arrays) fits the signature exactly."""
        if len(flat) != len(self.expected):
            return False
        for array, (dtype, rank, fixed) in zip(flat, self.expected):
            if not isinstance(array, np.ndarray) or array.dtype != dtype or \
                    (rank is not None and array.ndim != rank) or \
                    any(array.shape[axis] != size for axis, size in fixed):
                return False
        return True

    def __call__(self, batch_in: Any) -> Any:
        flat = nest.flatten(batch_in)
        if not self.matches(flat):
            return self.concrete(batch_in)
        ctx = context.context()
        ctx.ensure_initialized()
        tensors = [convert_to_eager_tensor(array, ctx, spec.dtype) for array, spec in zip(flat, self.specs)]
        return self.concrete._call_flat(tensors, self.concrete.captured_inputs)


def _predict(self: RasaModel, batch_in: Any) -> Dict[str, Any]:
    step = self._tf_predict_step
    if step is not None and not isinstance(step, ConcreteStep) and not self._run_eagerly \
            and getattr(step, "input_signature", None) is not None:
        self._tf_predict_step = ConcreteStep(step)
    assert _rasa_predict is not None
    return _rasa_predict(self, batch_in)


def counts(vectorizer: CountVectorizer, documents: Sequence[str]) -> coo_matrix:
    """`vectorizer.transform(documents)`, its indices sorted, as `tocoo()` makes it: what
    Rasa's CountVectorsFeaturizer makes of a message, for a fitted vectorizer."""
    analyze = _analyzers.get(vectorizer)
    if analyze is None:
        analyze = _analyzers[vectorizer] = vectorizer.build_analyzer()
    vocabulary = vectorizer.vocabulary_
    rows: List[int] = []
    cols: List[int] = []
    values: List[int] = []
    for number, document in enumerate(documents):
        counted: Dict[int, int] = {}
        for feature in analyze(document):
            index = vocabulary.get(feature)
            if index is not None:
                counted[index] = counted.get(index, 0) + 1
        for index in sorted(counted):
            rows.append(number)
            cols.append(index)
            values.append(counted[index])
    shape = (len(documents), len(vocabulary))
    index_dtype = get_index_dtype(maxval=max(shape))
    data = np.array(values, dtype=vectorizer.dtype)
    if vectorizer.binary:
        data.fill(1)
    return unchecked_coo(data, np.array(rows, dtype=index_dtype), np.array(cols, dtype=index_dtype), shape)


def unchecked_coo(data: np.ndarray, row: np.ndarray, col: np.ndarray, shape: Tuple[int, int]) -> coo_matrix:
    """`coo_matrix((data, (row, col)), shape=shape)` for index arrays already of the dtype scipy
    picks for the shape and indices known to lie within it, made without scipy's checks of
    them (most of the cost of a one-row matrix)."""
    matrix = coo_matrix.__new__(coo_matrix)
    _data_matrix.__init__(matrix)
    matrix._shape = shape
    matrix.row, matrix.col, matrix.data = row, col, data
    matrix.has_canonical_format = False
    return matrix


def _create_features(self: CountVectorsFeaturizer, attribute: str,
                     all_tokens: List[List[str]]) -> Tuple[List[Any], List[Any]]:
    vectorizer = self.vectorizers.get(attribute)
    if (type(vectorizer) is not CountVectorizer or not getattr(vectorizer, "vocabulary_", None)
            or not all(isinstance(tokens, list) for tokens in all_tokens)):
        assert _rasa_create_features is not None
        return _rasa_create_features(self, attribute, all_tokens)  # Rasa's, with its errors
    sequence: List[Any] = []
    sentence: List[Any] = []
    for tokens in all_tokens:
        if not tokens:
            sequence.append(None)
            sentence.append(None)
            continue
        sequence.append(counts(vectorizer, tokens))
        sentence.append(counts(vectorizer, [" ".join(tokens)])
                        if attribute in DENSE_FEATURIZABLE_ATTRIBUTES else None)
    return sequence, sentence


def _load(cls: Type[RasaModel], model_file_name: str, model_data_example: Any,
          predict_data_example: Any = None, finetune_mode: bool = False,
          *args: Any, **kwargs: Any) -> RasaModel:
    def rasas() -> RasaModel:
        assert _rasa_load is not None
        return _rasa_load(cls, model_file_name, model_data_example, predict_data_example,
                          finetune_mode, *args, **kwargs)

    if finetune_mode or not predict_data_example or kwargs.get("config", {}).get(RUN_EAGERLY):
        return rasas()
    model = cls(*args, **kwargs)
    # Every variable prediction reads, made by one prediction with its initial value.
    model.run_inference(predict_data_example)
    # The trained values over them; what only training kept (the optimizer's) is not read,
    # and a variable made here that the weights do not hold sends the load Rasa's way.
    status = model.load_weights(model_file_name)
    status.expect_partial()
    try:
        status.assert_existing_objects_matched()
    except AssertionError:
        return rasas()
    # The labels' embeddings and the compiled step were made from the initial values.
    model.prepared_for_prediction = False
    model._tf_predict_step = None
    model.run_inference(predict_data_example)
    return model


def install() -> None:
    """Put them in place (once)."""
    global _rasa_combine_sparse, _rasa_predict, _rasa_create_features, _rasa_load
    if _rasa_combine_sparse is None:
        _rasa_combine_sparse = Features._combine_sparse_features
        Features._combine_sparse_features = _combine_sparse_features
    if _rasa_predict is None:
        _rasa_predict = RasaModel._rasa_predict
        RasaModel._rasa_predict = _predict
    if _rasa_create_features is None:
        _rasa_create_features = CountVectorsFeaturizer._create_features
        CountVectorsFeaturizer._create_features = _create_features
    if _rasa_load is None:
        _rasa_load = RasaModel.__dict__["load"].__func__
        RasaModel.load = classmethod(_load)
