"""Log lines that a client's text cannot forge.

A message with a newline and a fake log line in it ("hi\n2026-01-01 ERROR payment failed") would
appear in the server log as a well-formed line of its own once logged. Every log record's
message and arguments have their control characters (newlines included) and bidirectional
overrides escaped ("\\n", "\\u202e") before any handler formats them: `install()` sets the record
factory, so it holds for every logger and handler, including ones configured later.
"""
from __future__ import annotations

import logging
import re
import traceback
from typing import Any

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escaped(value: str) -> str:
    """The text with control characters and direction overrides written as escapes."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), value)


def _safe(value: Any) -> Any:
    return escaped(value) if isinstance(value, str) else value


def install() -> None:
    """Escape every record's message and string arguments from now on (idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "escapes_control_characters", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.msg = _safe(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_safe(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _safe(v) for k, v in record.args.items()}
        return record

    factory.escapes_control_characters = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def failure(error: BaseException, limit: int = 300, frames: int = 8) -> str:
    """What failed, for one log line: the exception's class, its message and its traceback as
    the chain of calls that raised it, outermost first ("OperationalError: connection refused
    (traceback: agent_desk.py:98 in wrapped > tickets.py:96 in claim > base.py:1410 in execute)";
    the last `frames` calls). For a database error the driver's own message is used:
    SQLAlchemy's text would add the statement and its parameters, which can hold a merchant's
    data; a traceback's frames carry only file, line and function."""
    shown = getattr(error, "orig", None) or error
    message = " ".join(str(shown).split())[:limit]
    calls = [f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} in {frame.name}"
             for frame in traceback.extract_tb(error.__traceback__)[-frames:]]
    where = f" (traceback: {' > '.join(calls)})" if calls else ""
    return escaped(f"{error.__class__.__name__}: {message}{where}" if message
                   else f"{error.__class__.__name__}{where}")
