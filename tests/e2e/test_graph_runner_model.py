"""The trained model run node after node (bot/graph_runner.py, what the Rasa server uses) reads
every held-out question and predicts every next action exactly as Rasa's DaskGraphRunner does."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.graph_runner import SequentialGraphRunner

pytestmark = pytest.mark.e2e
QUESTIONS = Path(__file__).with_name("questions.yml")


@pytest.fixture(scope="module")
def agents(trained_model):
    import rasa.core.processor

    loaded = []
    for runner in (DaskGraphRunner, SequentialGraphRunner):
        original = rasa.core.processor.DaskGraphRunner
        rasa.core.processor.DaskGraphRunner = runner  # type: ignore[misc]
        try:
            loaded.append(Agent.load(str(trained_model)))
        finally:
            rasa.core.processor.DaskGraphRunner = original  # type: ignore[misc]
    assert [type(a.processor.graph_runner) for a in loaded] == [DaskGraphRunner, SequentialGraphRunner]
    return loaded


async def test_parses_and_predictions_are_rasas(agents):
    dask, sequential = agents
    texts = [q["q"] for q in yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))["questions"]]
    texts += ["你好", "转人工", "我的店能评上金牌吗", "asdfgh"]
    for text in texts:
        parsed = await dask.processor.parse_message(UserMessage(text))
        assert await sequential.processor.parse_message(UserMessage(text)) == parsed, text
        predictions = []
        for agent in agents:
            tracker = DialogueStateTracker.from_events("c", [
                ActionExecuted("action_session_start"), SessionStarted(),
                ActionExecuted(ACTION_LISTEN_NAME), UserUttered(text, parsed["intent"], parsed["entities"],
                                                                 parse_data=parsed)],
                slots=agent.domain.slots)
            prediction = agent.processor.predict_next_with_tracker_if_should(tracker)
            predictions.append((prediction[0].name(), prediction[1].max_confidence,
                                prediction[1].policy_name))
        assert predictions[0] == predictions[1], text


async def test_parses_with_less_python_around_the_classifier_are_rasas(agents, monkeypatch):
    """bot/nlu/inference.py, as the Rasa server runs it: the same intents, confidences and
    entities for every held-out question."""
    from rasa.nlu.classifiers.diet_classifier import DIETClassifier

    from bot.nlu import inference
    from tests.bot.test_inference import as_rasa_has_it

    agent = agents[0]
    # Rasa's own way first, also where an earlier test of this process installed ours; the
    # classifier predicting with TensorFlow, whose Python around it is what is compared.
    as_rasa_has_it(monkeypatch)
    with_tensorflow(agent, monkeypatch)
    for node in agent.processor.graph_runner._instantiated_nodes.values():
        component = node._component
        if isinstance(component, DIETClassifier) and component.model is not None:
            step = component.model._tf_predict_step
            if isinstance(step, inference.ConcreteStep):
                monkeypatch.setattr(component.model, "_tf_predict_step", step.function)
    texts = [q["q"] for q in yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))["questions"]]
    expected = [await agent.processor.parse_message(UserMessage(text)) for text in texts]
    inference.install()
    for _ in range(2):  # the first call after install swaps the step, the second uses it
        assert [await agent.processor.parse_message(UserMessage(text)) for text in texts] == expected


def with_tensorflow(agent: Agent, monkeypatch) -> int:
    """The agent's classifiers predict as DIET does (TensorFlow), not with numpy; how many."""
    from bot.nlu.classifier import SentenceDIETClassifier

    found = 0
    for node in agent.processor.graph_runner._instantiated_nodes.values():
        component = node._component
        if isinstance(component, SentenceDIETClassifier):
            monkeypatch.setattr(component, "_network_of", component.model)
            monkeypatch.setattr(component, "_network", None)
            found += 1
    return found


async def test_the_classifiers_numpy_prediction_is_diets(trained_model, monkeypatch):
    """bot/nlu/classifier.py: for every training example and held-out question, the same intent
    and ranking as DIET's own prediction with TensorFlow, confidences equal up to float32
    rounding."""
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.nlu.classifier import SentenceDIETClassifier, SentenceNetwork

    numpy_agent, tensorflow_agent = Agent.load(str(trained_model)), Agent.load(str(trained_model))
    computed = []  # the messages numpy computed (not left to TensorFlow)
    scores = SentenceNetwork.scores
    monkeypatch.setattr(SentenceNetwork, "scores",
                        lambda self, features: computed.append(scores(self, features)) or computed[-1])
    assert with_tensorflow(tensorflow_agent, monkeypatch) == 1
    nodes = numpy_agent.processor.graph_runner._instantiated_nodes.values()
    classifier = next(n._component for n in nodes if isinstance(n._component, SentenceDIETClassifier))
    texts = [q["q"] for q in yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))["questions"]]
    examples = load_data(str(Path(__file__).parents[2] / "data" / "nlu")).intent_examples
    texts += [m.get("text") for m in examples]
    texts += ["你好", "转人工", "asdfgh", "", "！！！", "🙂"]
    largest = 0.0
    for text in texts:
        ours = await numpy_agent.processor.parse_message(UserMessage(text))
        diets = await tensorflow_agent.processor.parse_message(UserMessage(text))
        assert ours["intent"]["name"] == diets["intent"]["name"], text
        names = [[r["name"] for r in parse["intent_ranking"]] for parse in (ours, diets)]
        assert names[0] == names[1], text
        for mine, theirs in zip(ours["intent_ranking"], diets["intent_ranking"], strict=True):
            assert mine["confidence"] == pytest.approx(theirs["confidence"], abs=2e-6), text
            largest = max(largest, abs(mine["confidence"] - theirs["confidence"]))
        assert {k: v for k, v in ours.items() if k not in ("intent", "intent_ranking")} == \
            {k: v for k, v in diets.items() if k not in ("intent", "intent_ranking")}, text
    assert classifier._network is not None and len(texts) > 1000
    # Every message with words went the numpy way (only the empty one has no features).
    assert all(c is not None for c in computed) and len(computed) >= len(texts) - 1
    print(f"\n{len(texts)} messages, largest confidence difference {largest:.2e}")


def _classifier_model(agent: Agent):
    from rasa.nlu.classifiers.diet_classifier import DIETClassifier

    return next(node._component.model for node in agent.processor.graph_runner._instantiated_nodes.values()
                if isinstance(node._component, DIETClassifier))


async def test_the_classifier_loaded_without_its_training_step_parses_as_rasas(trained_model, monkeypatch):
    """bot/nlu/inference.py's load: the same intents, confidences and entities for every
    held-out question as the model loaded Rasa's way, which trains it one step first."""
    from bot.nlu import inference
    from tests.bot.test_inference import as_rasa_has_it

    as_rasa_has_it(monkeypatch)
    rasas = Agent.load(str(trained_model))
    assert _classifier_model(rasas)._is_compiled  # Rasa's load compiles and fits it
    inference.install()
    ours = Agent.load(str(trained_model))
    assert not _classifier_model(ours)._is_compiled
    texts = [q["q"] for q in yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))["questions"]]
    texts += ["你好", "转人工", "asdfgh", ""]
    for text in texts:
        expected = await rasas.processor.parse_message(UserMessage(text))
        assert await ours.processor.parse_message(UserMessage(text)) == expected, text
