"""Programme days: caps, streaks and weekly boards count days in the programme's time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def programme_day(moment: dt.datetime, tz: ZoneInfo) -> dt.date:
    """The calendar day ``moment`` falls on in the programme's time zone."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    return moment.astimezone(tz).date()


def day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The half-open UTC interval [start, end) of ``day`` in the programme's time zone."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def period_bounds(unit: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """The [first, end) programme days of the ``day`` or ``month`` containing ``day``."""
    if unit == "day":
        return day, day + dt.timedelta(days=1)
    if unit == "month":
        first = day.replace(day=1)
        return first, (first + dt.timedelta(days=32)).replace(day=1)
    raise ValueError(f"unknown period {unit!r}")


def period_start(unit: str, day: dt.date) -> dt.date:
    """The first programme day of the period (``day``/``month``) containing ``day``: the
    key a period behaviour is held under."""
    return period_bounds(unit, day)[0]
