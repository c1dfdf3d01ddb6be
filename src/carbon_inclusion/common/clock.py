"""The one source of "now".

Services take a ``Clock`` and never call ``datetime.now()`` themselves, so a test can stand
on New Year's Eve or at 23:59 Shanghai time (``FixedClock``) instead of skipping itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that stands still until told to move (tests)."""

    def __init__(self, at: dt.datetime) -> None:
        self.set(at)

    def set(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a FixedClock needs an aware datetime")
        self._at = at.astimezone(dt.UTC)

    def advance(self, delta: dt.timedelta) -> None:
        self._at += delta

    def now(self) -> dt.datetime:
        return self._at


SYSTEM_CLOCK: Clock = SystemClock()
