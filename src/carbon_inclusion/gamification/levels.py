"""Levels and day streaks, from a citizen's totals: plain functions over plain values.

Days are programme days (local dates in ``Settings.tz``); grams are ``Decimal`` grams of
CO2e as credited, compared exactly (no rounding).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from carbon_inclusion.gamification.schemas import LevelOut, StreakOut


def streaks(days: Sequence[dt.date], today: dt.date) -> StreakOut:
    """Current and best runs of consecutive ``days`` (sorted, distinct). The current run
    is alive while its last day is today or yesterday: today is not over yet."""
    best = run = 0
    previous: dt.date | None = None
    for day in days:
        run = run + 1 if previous is not None and day - previous == dt.timedelta(days=1) else 1
        best = max(best, run)
        previous = day
    alive = previous is not None and today - previous <= dt.timedelta(days=1)
    return StreakOut(current=run if alive else 0, best=best, last_day=previous)


def level_of(levels: Sequence[LevelOut], reduction_g: Decimal) -> tuple[LevelOut, LevelOut | None]:
    """The level reached with ``reduction_g`` and the next one (None at the top)."""
    reached = [lv for lv in levels if lv.min_reduction_g <= reduction_g]
    current = reached[-1] if reached else levels[0]
    later = [lv for lv in levels if lv.min_reduction_g > reduction_g]
    return current, (later[0] if later else None)
