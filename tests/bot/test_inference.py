"""The classifier's work around TensorFlow in the Rasa server (bot/nlu/inference.py): the same
matrices and outputs as Rasa's own. The trained model's parses with and without these are
compared in tests/e2e/test_graph_runner_model.py."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import tensorflow as tf
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.utils.tensorflow.models import RasaModel

from bot.nlu import inference


def _same(got: scipy.sparse.coo_matrix, expected: scipy.sparse.coo_matrix) -> None:
    assert type(got) is type(expected) and got.shape == expected.shape
    for name in ("data", "row", "col"):
        mine, theirs = getattr(got, name), getattr(expected, name)
        assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs), name


@pytest.mark.parametrize("left_dtype, right_dtype", [
    (np.float64, np.int64), (np.int64, np.int64), (np.float32, np.float64), (np.int64, np.float32),
    (np.bool_, np.int64)])
def test_two_coo_matrices_join_as_scipys_hstack_joins_them(left_dtype, right_dtype):
    rng = np.random.default_rng(3)
    for rows, left_cols, right_cols, density in ((7, 42, 926, 0.1), (1, 18, 4768, 0.01),
                                                  (3, 5, 0, 0.5), (4, 1, 3, 0.0), (2, 70000, 9, 0.3)):
        left = scipy.sparse.random(rows, left_cols, density, format="coo", random_state=rng)
        right = scipy.sparse.random(rows, right_cols, density, format="coo", random_state=rng)
        left, right = left.astype(left_dtype), right.astype(right_dtype)
        _same(inference.join_sparse(left, right), scipy.sparse.hstack([left, right]))


def as_rasa_has_it(monkeypatch) -> None:
    """Rasa's own functions in place (a store built earlier in this process installs ours:
    bot/tracker_store.py installs the Rasa server's changes), restored after the test."""
    monkeypatch.setattr(Features, "_combine_sparse_features",
                        inference._rasa_combine_sparse or Features._combine_sparse_features)
    monkeypatch.setattr(RasaModel, "_rasa_predict", inference._rasa_predict or RasaModel._rasa_predict)
    monkeypatch.setattr(CountVectorsFeaturizer, "_create_features",
                        inference._rasa_create_features or CountVectorsFeaturizer._create_features)
    monkeypatch.setattr(RasaModel, "load", classmethod(inference._rasa_load) if inference._rasa_load
                        else RasaModel.__dict__["load"])
    monkeypatch.setattr(inference, "_rasa_combine_sparse", None)
    monkeypatch.setattr(inference, "_rasa_predict", None)
    monkeypatch.setattr(inference, "_rasa_create_features", None)
    monkeypatch.setattr(inference, "_rasa_load", None)


@pytest.fixture
def installed(monkeypatch):
    as_rasa_has_it(monkeypatch)
    assert Features._combine_sparse_features is not inference._combine_sparse_features
    inference.install()


def _message() -> Message:
    rng = np.random.default_rng(5)
    message = Message({"text": "金牌卖家要什么条件"})
    for origin, cols, dtype in (("regex", 42, np.float64), ("lexical", 18, np.float64),
                                ("words", 926, np.int64), ("chars", 4768, np.int64)):
        for kind, rows in (("sequence", 7), ("sentence", 1)):
            matrix = scipy.sparse.random(rows, cols, 0.05, format="coo", random_state=rng).astype(dtype)
            message.add_features(Features(matrix, kind, "text", origin))
    message.add_features(Features(scipy.sparse.random(7, 3, 0.5, format="csr", random_state=rng),
                                  "sequence", "text", "a csr featurizer"))
    return message


def test_a_messages_features_combine_as_in_rasa(installed):
    ours = _message().get_sparse_features("text", [])
    rasa_combine = inference._rasa_combine_sparse
    assert rasa_combine is not None
    Features._combine_sparse_features = rasa_combine  # type: ignore[method-assign]
    theirs = _message().get_sparse_features("text", [])
    for mine, expected in zip(ours, theirs, strict=True):
        assert mine.origin == expected.origin and mine.type == expected.type
        _same(mine.features.tocoo(), expected.features.tocoo())
        assert type(mine.features) is type(expected.features)


def test_features_of_different_lengths_are_refused_as_in_rasa(installed):
    rows7 = Features(scipy.sparse.coo_matrix(np.ones((7, 2))), "sequence", "text", "a")
    rows6 = Features(scipy.sparse.coo_matrix(np.ones((6, 2))), "sequence", "text", "b")
    with pytest.raises(ValueError, match="sequence dimensions do not match"):
        rows7.combine_with_features(rows6)


def test_the_prediction_step_is_called_as_its_one_concrete_function(installed, monkeypatch):
    signature = [[tf.TensorSpec([None, 3], tf.float32), tf.TensorSpec([None], tf.int32)]]
    step = tf.function(
        lambda batch: {"sum": tf.reduce_sum(batch[0], axis=-1) + tf.cast(batch[1], tf.float32)},
        input_signature=signature)
    batch = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], dtype=np.int32))
    concrete = inference.ConcreteStep(step)
    assert np.array_equal(concrete(batch)["sum"].numpy(), step(batch)["sum"].numpy())
    longer = (np.ones((5, 3), dtype=np.float32), np.arange(5, dtype=np.int32))  # any length
    assert np.array_equal(concrete(longer)["sum"].numpy(), step(longer)["sum"].numpy())
    assert concrete.matches(list(batch)) and concrete.matches(list(longer))

    # A batch that does not fit the signature exactly goes TensorFlow's way, with its result
    # or its error.
    general = []
    structured = concrete.concrete._call_with_structured_signature
    monkeypatch.setattr(concrete.concrete, "_call_with_structured_signature",
                        lambda *a, **k: general.append(1) or structured(*a, **k))
    concrete(batch)
    assert general == [], "a batch that fits is not bound to the signature again"
    as_float64 = (batch[0].astype(np.float64), batch[1])
    wrong_rank = (np.ones((2, 3, 1), dtype=np.float32), batch[1])
    wrong_size = (np.ones((2, 4), dtype=np.float32), batch[1])
    for odd in (as_float64, wrong_rank, wrong_size, (batch[0],), [list(batch[0]), batch[1]]):
        assert not concrete.matches(list(odd) if isinstance(odd, tuple) else odd)
        try:
            expected = step(odd)
        except (TypeError, ValueError) as e:
            with pytest.raises(type(e)):
                concrete(odd)
        else:
            assert np.array_equal(concrete(odd)["sum"].numpy(), expected["sum"].numpy())
    assert len(general) == 5

    # A signature of unknown rank: any rank fits.
    unknown = tf.function(lambda batch: {"sum": tf.reduce_sum(batch[0])},
                          input_signature=[[tf.TensorSpec(None, tf.float32)]])
    loose = inference.ConcreteStep(unknown)
    for array in (np.ones(3, dtype=np.float32), np.ones((2, 2, 2), dtype=np.float32)):
        assert loose.matches([array])
        assert loose((array,))["sum"].numpy() == unknown((array,))["sum"].numpy()

    calls = []
    monkeypatch.setattr(inference, "_rasa_predict", lambda model, b: calls.append(model._tf_predict_step))

    class Model:
        _run_eagerly = False
        _tf_predict_step = None

    model = Model()
    RasaModel._rasa_predict(model, batch)  # first call: Rasa makes the step
    model._tf_predict_step = step
    RasaModel._rasa_predict(model, batch)
    RasaModel._rasa_predict(model, batch)
    assert calls[0] is None and isinstance(calls[1], inference.ConcreteStep) and calls[2] is calls[1]
    eager = Model()
    eager._run_eagerly, eager._tf_predict_step = True, step
    RasaModel._rasa_predict(eager, batch)
    assert calls[-1] is step, "a model run eagerly is left as it is"


COUNTED = ["金牌卖家要什么条件", "金牌 卖家 要 什么 条件", "備貨貸 最高 多少",
           "AliExpress gold seller 怎么 评", "", "   ", "未见过的字眼 qwerty", "条件 条件 条件",
           "1688 扶持 计划 第 3 条"]


@pytest.mark.parametrize("analyzer, ngrams, binary", [
    ("word", (1, 1), False), ("char_wb", (1, 3), False), ("char", (2, 4), False), ("word", (1, 2), True)])
def test_a_messages_counts_are_sklearns_transform_as_rasa_makes_them(analyzer, ngrams, binary):
    from sklearn.feature_extraction.text import CountVectorizer

    fitted = CountVectorizer(analyzer=analyzer, ngram_range=ngrams, binary=binary,
                             token_pattern=r"(?u)\b\w+\b" if analyzer == "word" else None)
    fitted.fit(COUNTED[:4] + COUNTED[6:])
    # Rasa loads a vocabulary with numpy integers as its values.
    loaded = CountVectorizer(analyzer=analyzer, ngram_range=ngrams, binary=binary,
                             token_pattern=r"(?u)\b\w+\b" if analyzer == "word" else None,
                             vocabulary={k: np.int64(v) for k, v in fitted.vocabulary_.items()})
    loaded._validate_vocabulary()
    for vectorizer in (fitted, loaded):
        for documents in ([text] for text in COUNTED):
            expected = vectorizer.transform(documents)
            expected.sort_indices()
            expected = expected.tocoo()
            got = inference.counts(vectorizer, documents)
            _same(got, expected)
            assert got.dtype == expected.dtype and got.has_canonical_format == expected.has_canonical_format
        _same(inference.counts(vectorizer, COUNTED[0].split() + COUNTED[3].split()),
              vectorizer.transform(COUNTED[0].split() + COUNTED[3].split()).tocoo())


def test_a_featurizers_features_are_rasas(installed):
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
    from rasa.shared.nlu.training_data.training_data import TrainingData

    def featurizer(tmp, config):
        storage = LocalModelStorage(tmp)
        return CountVectorsFeaturizer.create({**CountVectorsFeaturizer.get_default_config(), **config},
                                             storage, Resource(f"cvf{len(config)}"), ExecutionContext(None))

    import tempfile
    from pathlib import Path

    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    examples = [Message({"text": t, "intent": "ask"}) for t in COUNTED if t.strip()]
    data = TrainingData(examples)
    tokenizer.process_training_data(data)
    with tempfile.TemporaryDirectory() as tmp:
        for config in ({}, {"analyzer": "char_wb", "min_ngram": 1, "max_ngram": 3}):
            trained = featurizer(Path(tmp), config)
            trained.train(data)
            rasa_create = inference._rasa_create_features
            assert rasa_create is not None and CountVectorsFeaturizer._create_features is not rasa_create
            for attribute in ("text", "intent"):
                tokens = [trained._get_processed_message_tokens_by_attribute(m, attribute) for m in examples]
                tokens.append([])
                ours = trained._create_features(attribute, tokens)
                theirs = rasa_create(trained, attribute, tokens)
                for mine, expected in zip([*ours[0], *ours[1]], [*theirs[0], *theirs[1]], strict=True):
                    assert (mine is None) == (expected is None)
                    if mine is not None:
                        _same(mine, expected)
            assert trained._create_features("no such attribute", [["x"]]) == ([None], [None])


@pytest.mark.parametrize("case", ["finetune", "no example", "eager"])
def test_a_load_ours_does_not_cover_goes_rasas_way(installed, monkeypatch, case):
    calls = []

    def rasas(cls, *args, **kwargs):
        calls.append((cls, args, kwargs))
        return "rasa's model"

    monkeypatch.setattr(inference, "_rasa_load", rasas)
    config = {"run_eagerly": case == "eager"}
    example = None if case == "no example" else "an example"
    got = RasaModel.load("weights", "data", example, case == "finetune", config=config)
    assert got == "rasa's model"
    assert calls == [(RasaModel, ("weights", "data", example, case == "finetune"), {"config": config})]


class _Status:
    def __init__(self, matched: bool) -> None:
        self.matched, self.partial = matched, False

    def expect_partial(self) -> None:
        self.partial = True

    def assert_existing_objects_matched(self) -> None:
        if not self.matched:
            raise AssertionError("a variable the weights do not hold")


class _Model:
    """Records what the load asks of a model: predictions (with the state they saw) and weights."""

    def __init__(self, matched: bool, **kwargs) -> None:
        self.kwargs, self.seen, self.status = kwargs, [], _Status(matched)
        self.prepared_for_prediction, self._tf_predict_step = False, None

    def run_inference(self, example) -> None:
        self.seen.append(("predict", example, self.prepared_for_prediction, self._tf_predict_step))
        self.prepared_for_prediction, self._tf_predict_step = True, "step traced"

    def load_weights(self, name) -> _Status:
        self.seen.append(("weights", name))
        return self.status


@pytest.mark.parametrize("matched", [True, False])
def test_the_classifier_is_loaded_by_a_prediction_then_its_weights(installed, monkeypatch, matched):
    monkeypatch.setattr(inference, "_rasa_load", lambda cls, *args, **kwargs: ("rasa's", args, kwargs))
    made = []

    def model(**kwargs):
        made.append(_Model(matched, **kwargs))
        return made[-1]

    got = inference._load(model, "weights", "data", "example", config={"epochs": 1})
    assert made[0].kwargs == {"config": {"epochs": 1}}
    # variables made, trained values read (the optimizer's left), then the labels' embeddings
    # and the step made again from them
    assert made[0].status.partial
    if matched:
        assert got is made[0]
        assert made[0].seen == [("predict", "example", False, None), ("weights", "weights"),
                                ("predict", "example", False, None)]
    else:
        assert got == ("rasa's", ("weights", "data", "example", False), {"config": {"epochs": 1}})
        assert made[0].seen == [("predict", "example", False, None), ("weights", "weights")]


@pytest.mark.parametrize("shape, dtype", [
    ((1, 7), np.int64), ((3, 70000), np.float32), ((1, 2**31 + 5), np.int64)])
def test_a_coo_matrix_made_without_checks_is_the_one_scipy_makes(shape, dtype):
    from scipy.sparse._sputils import get_index_dtype

    index = get_index_dtype(maxval=max(shape))
    row = np.array([0, 0, shape[0] - 1], dtype=index)
    col = np.array([shape[1] - 1, 0, 3], dtype=index)
    data = np.array([2, 1, 5], dtype=dtype)
    expected = scipy.sparse.coo_matrix((data, (row, col)), shape=shape)
    got = inference.unchecked_coo(data, row, col, shape)
    # Every attribute scipy sets, with the same values: a new one in another scipy fails here.
    assert sorted(vars(got)) == sorted(vars(expected))
    for name, value in vars(expected).items():
        mine = vars(got)[name]
        if isinstance(value, np.ndarray):
            assert mine.dtype == value.dtype and np.array_equal(mine, value), name
        else:
            assert mine == value, name
    assert (got.tocsr() != expected.tocsr()).nnz == 0 and got.sum() == expected.sum()
