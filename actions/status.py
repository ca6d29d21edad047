"""Whether a programme, measure or deadline is still open today, phrased from knowledge/."""
from __future__ import annotations

import datetime as dt
from typing import Mapping, Optional

from core.knowledge.model import Entry, KnowledgeBase, Programme, Window


def format_date(kb: KnowledgeBase, day: Optional[dt.date]) -> str:
    """A date in the merchants' usual form (from the `date` reply template)."""
    if day is None:
        return ""
    return kb.replies["date"].format(year=day.year, month=day.month, day=day.day)


def _window_status(kb: KnowledgeBase, window: Window, today: dt.date) -> str:
    r: Mapping[str, str] = kb.replies
    fields = dict(today=format_date(kb, today), deadline=format_date(kb, window.deadline),
                  valid_from=format_date(kb, window.valid_from),
                  valid_until=format_date(kb, window.valid_until))
    if window.deadline:
        key = "deadline_closed" if today > window.deadline else "deadline_open"
        return r[key].format(**fields)
    if window.valid_from and today < window.valid_from:
        return r["window_not_started"].format(**fields)
    if window.valid_until and today > window.valid_until:
        key = "window_ended" if window.valid_from else "window_ended_open_start"
        return r[key].format(**fields)
    if window.valid_until:
        return r["window_open"].format(**fields)
    return r["window_open_no_end"].format(**fields)


def programme_status(kb: KnowledgeBase, programme: Programme, today: dt.date) -> str:
    """Whether a programme as a whole is still in force today."""
    window = programme.window
    if not window.dated:
        return kb.replies["undated"].format(validity_note=programme.validity_note)
    if window.valid_until and today > window.valid_until:
        return kb.replies["programme_ended"].format(
            programme=programme.name, today=format_date(kb, today),
            valid_from=format_date(kb, window.valid_from),
            valid_until=format_date(kb, window.valid_until),
            validity_note=programme.validity_note)
    return _window_status(kb, window, today)


def entry_status(kb: KnowledgeBase, entry: Entry, today: dt.date) -> str:
    """The entry's own deadline or window if it has one, else its programme's."""
    if entry.window.dated:
        return _window_status(kb, entry.window, today)
    return programme_status(kb, kb.programmes[entry.programme], today)


def next_assessment_phrase(kb: KnowledgeBase, today: dt.date, day: dt.date) -> str:
    """'下一次考核在2027年1月' (the assessment month `day`, from the tier rules) from the
    knowledge base's template."""
    month = kb.replies["month"].format(year=day.year, month=day.month)
    return kb.replies["next_assessment"].format(month=month, today=format_date(kb, today))
