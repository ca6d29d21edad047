"""Log lines of failures name the class, the message and where it was raised, never the SQL
parameters (which can hold a merchant's data), and cannot forge a line."""
from __future__ import annotations

import sqlite3

from sqlalchemy.exc import OperationalError

from core.logsafe import failure


def _raise(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:  # noqa: BLE001 - the test wants the raised object
        return caught


def _deeper(error: BaseException) -> BaseException:
    def inner() -> None:
        raise error
    try:
        inner()
    except BaseException as caught:  # noqa: BLE001 - the test wants the raised object
        return caught
    raise AssertionError("unreachable")


def test_a_failure_names_class_message_and_its_traceback():
    text = failure(_raise(ValueError("no metrics for M1001")))
    assert text.startswith("ValueError: no metrics for M1001 (traceback: test_logsafe_failure.py:")
    assert text.endswith(" in _raise)")
    calls = failure(_deeper(KeyError("x"))).split("(traceback: ")[1].rstrip(")").split(" > ")
    assert [c.split(" in ")[1] for c in calls] == ["_deeper", "inner"]


def test_a_database_failure_shows_the_drivers_message_not_the_statement_or_parameters():
    error = OperationalError("SELECT * FROM merchant_metrics WHERE merchant_id = ?", ("M1001",),
                             sqlite3.OperationalError("database is locked"))
    text = failure(_raise(error))
    assert text.startswith("OperationalError: database is locked")
    assert "M1001" not in text and "SELECT" not in text


def test_a_message_with_a_newline_stays_one_line():
    text = failure(_raise(RuntimeError("bad\n2026-01-01 ERROR payment failed")))
    assert "\n" not in text and "bad 2026-01-01" in text
