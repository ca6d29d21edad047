"""Log records a client's text cannot forge (core/logsafe.py)."""
from __future__ import annotations

import io
import logging

from core import logsafe


def test_a_forged_line_stays_inside_its_record():
    before = logging.getLogRecordFactory()
    logsafe.install()
    logsafe.install()  # idempotent: one escaping, not two
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("tests.logsafe")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("refused: %s", "hi\n2026-01-01 ERROR payment failed\r\x1b[31m")
        log.info(f"text: {'a' + chr(0x202e) + 'b'}")
        log.info("mapping: %(text)s", {"text": "x\ny"})
    finally:
        log.removeHandler(handler)
        logging.setLogRecordFactory(before)  # the rest of the test run logs as it did
    lines = stream.getvalue().splitlines()
    assert lines == ["INFO refused: hi\\n2026-01-01 ERROR payment failed\\r\\x1b[31m",
                     "INFO text: a\\u202eb", "INFO mapping: x\\ny"]
    # Han text and ordinary punctuation are untouched.
    assert logsafe.escaped("金牌有几个橱窗?(速卖通)") == "金牌有几个橱窗?(速卖通)"
