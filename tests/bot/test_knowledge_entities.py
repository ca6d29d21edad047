import pytest

from bot.nlu.knowledge_entities import measure_numbers


@pytest.mark.parametrize("text, numbers", [
    ("第15条是什么", ["15"]),
    ("第十五项讲啥", ["15"]),
    ("措施15", ["15"]),
    ("措施十一是什么", ["11"]),
    ("measure 3", ["3"]),
    ("措施3和措施4有什么不同", ["3", "4"]),
    # Digits are a number whatever follows; 同 ("and") before another measure keeps it.
    ("措施2同措施3有咩分别", ["2", "3"]),
    ("措施一同措施二有咩唔同", ["1", "2"]),
    ("措施3一样吗", ["3"]),
    ("措施12下来是什么", ["12"]),
    ("措施二同三", ["2"]),
    # 一 beginning a word after 措施 is no measure number.
    ("1688疫情期间推出的保障措施一共有几多条", []),
    ("这些措施一些已经结束了吗", []),
    ("措施一样吗", []),
    ("措施一下子说不清", []),
    ("这些措施一同推出的吗", []),
    ("措施十分有用吗", []),
    ("措施三个月内有效吗", []),
    ("措施一年有几次", []),
])
def test_measure_numbers_are_read_where_a_measure_is_numbered(text, numbers):
    assert [e["value"] for e in measure_numbers(text)] == numbers
