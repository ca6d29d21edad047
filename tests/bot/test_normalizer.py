"""The OpenCC normaliser as a Rasa component, at training and at prediction time."""
from __future__ import annotations

from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.normalizer import SCRIPT, TEXT_ORIGINAL, OpenCCNormalizer
from core import script


def _component(**config) -> OpenCCNormalizer:
    return OpenCCNormalizer({**OpenCCNormalizer.get_default_config(), **config})


def test_prediction_normalises_text_and_keeps_original_and_script():
    message = Message(data={TEXT: "金牌店鋪每個月有幾個櫥窗?"})
    [processed] = _component().process([message])
    assert processed.get(TEXT) == "金牌店铺每个月有几个橱窗?"
    assert processed.get(TEXT_ORIGINAL) == "金牌店鋪每個月有幾個櫥窗?"
    assert processed.get(SCRIPT) == script.TAIWAN
    # Both keys reach the parse data (and so the tracker and the action server).
    output = processed.as_dict(only_output_properties=True)
    assert output[TEXT_ORIGINAL] == "金牌店鋪每個月有幾個櫥窗?"
    assert output[SCRIPT] == script.TAIWAN


def test_training_data_is_normalised_too():
    data = TrainingData([
        Message(data={TEXT: "銀牌貸款打幾折?", "intent": "ask_tier_benefit"}),
        Message(data={TEXT: "银牌贷款打几折?", "intent": "ask_tier_benefit"}),
    ])
    processed = _component().process_training_data(data)
    texts = [m.get(TEXT) for m in processed.training_examples]
    assert texts == ["银牌贷款打几折?", "银牌贷款打几折?"]


def test_entity_offsets_follow_the_normalised_text():
    text = "ＧＯＬＤ  Seller的櫥窗幾個"
    entities = [
        {"entity": "tier", "value": "gold seller", "start": 0, "end": 12},
        {"entity": "benefit", "value": "橱窗", "start": 13, "end": 15},
    ]
    assert text[0:12] == "ＧＯＬＤ  Seller" and text[13:15] == "櫥窗"
    message = Message(data={TEXT: text, ENTITIES: entities, "intent": "ask_tier_benefit"})
    _component().process_training_data(TrainingData([message]))
    normalised = message.get(TEXT)
    for entity in message.get(ENTITIES):
        assert normalised[entity["start"]:entity["end"]] in ("gold  seller", "橱窗")
    assert normalised == "gold  seller的橱窗几个"


def test_lowercase_can_be_switched_off():
    [processed] = _component(lowercase=False).process([Message(data={TEXT: "Gold Seller 櫥窗"})])
    assert processed.get(TEXT) == "Gold Seller 橱窗"


def test_messages_without_text_are_left_alone():
    message = Message(data={"intent": "greet"})
    [processed] = _component().process([message])
    assert processed.get(TEXT) is None and processed.get(SCRIPT) is None


def test_empty_message_gets_empty_text_and_no_script():
    [processed] = _component().process([Message(data={TEXT: " \u200b "})])
    assert processed.get(TEXT) == ""
    assert processed.get(SCRIPT) is None
    assert processed.get(TEXT_ORIGINAL) == " \u200b "


def test_text_starting_with_a_slash_stays_text_for_the_whole_pipeline():
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.normalizer import OpenCCNormalizer

    message = Message({TEXT: '\uff0fask_tier_status{"merchant_id": "T9002"}'})
    OpenCCNormalizer({}).process([message])
    # Rasa's RegexMessageHandler reads text that starts with "/" as an intent with entities.
    assert not message.get(TEXT).lstrip().startswith("/")
    assert message.get(TEXT) == '\uff0fask_tier_status{"merchant_id": "t9002"}'


def test_a_payload_the_channel_let_through_is_left_for_rasa_to_unpack():
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.normalizer import OpenCCNormalizer

    message = Message({TEXT: '/ask_programme{"tier": "gold"}'})
    OpenCCNormalizer({}).process([message])
    assert message.get(TEXT).startswith("/ask_programme")


def test_the_nlu_reads_the_beginning_and_the_end_of_a_long_message():
    # A rambling message puts its question last; what the NLU reads is bounded either way.
    long = "我们是做女装的" + "好" * 5000 + "请问金牌要多少好评率?"
    message = Message(data={"text": long})
    _component(max_chars=99).process([message])
    text = message.get("text")
    assert len(text) == 99 and text.startswith("我们是做女装的") and text.endswith("请问金牌要多少好评率?")
    assert len(message.get(TEXT_ORIGINAL)) == 99 and message.get("truncated") is True
    short = Message(data={"text": "金牌每个月有几个橱窗?"})
    _component(max_chars=99).process([short])
    assert short.get("truncated") is None and short.get("text") == "金牌每个月有几个橱窗?"
