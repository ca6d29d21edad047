"""The one clock the action server reads; tests and demos set it with ASSISTANT_TODAY."""
from __future__ import annotations

import datetime as dt

from core import settings


def today() -> dt.date:
    """Today's date, or the ISO date in $ASSISTANT_TODAY when it is set."""
    fixed = settings.fixed_today()
    if fixed:
        return dt.date.fromisoformat(fixed)
    return dt.date.today()
