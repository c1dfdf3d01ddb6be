"""Programme-time periods: the day, week (from Monday) and month a moment falls in.

Day boundaries are in the programme's time zone (``Settings.tz``, Asia/Shanghai by default),
never UTC: a metro ride at 07:30 Shanghai time on the 2nd is on the 2nd, though UTC says
the 1st.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal
from zoneinfo import ZoneInfo

from carbon_inclusion.errors import InvalidInput

Period = Literal["day", "week", "month", "all"]
PERIODS: tuple[str, ...] = ("day", "week", "month", "all")


def programme_day(at: dt.datetime, tz: dt.tzinfo) -> dt.date:
    """The programme day (a local date) on which the instant ``at`` falls."""
    return at.astimezone(tz).date()


def date_bounds(period: str, day: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """The [start, end) local dates of the ``period`` containing ``day``; (None, None) for
    ``all`` (no bounds)."""
    if period == "day":
        return day, day + dt.timedelta(days=1)
    if period == "week":
        start = day - dt.timedelta(days=day.weekday())
        return start, start + dt.timedelta(days=7)
    if period == "month":
        start = day.replace(day=1)
        return start, (start + dt.timedelta(days=32)).replace(day=1)
    if period == "all":
        return None, None
    raise ValueError(f"unknown period {period!r}")


def local_midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=tz)


def instant_bounds(period: str, at: dt.datetime, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """The [start, end) instants of the day, week or month (programme time) containing ``at``."""
    start, end = date_bounds(period, programme_day(at, tz))
    if start is None or end is None:
        raise ValueError("'all' has no instant bounds")
    return local_midnight(start, tz), local_midnight(end, tz)


DEFAULT_RANGE_DAYS = 30
MAX_RANGE_DAYS = 366
# The days a statistic may ask about: far wider than the programme, and far from the ends of
# the calendar (a day's end past 9999-12-31 is no instant).
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2100, 12, 31)


def day_range(first: dt.date | None, last: dt.date | None, today: dt.date, *,
              default_days: int = DEFAULT_RANGE_DAYS,
              max_days: int = MAX_RANGE_DAYS) -> tuple[dt.date, dt.date]:
    """The programme days ``first``..``last`` (both included) a statistic covers: ``last``
    defaults to ``today``, ``first`` to ``default_days`` days up to ``last``. 422 naming
    ``from`` when it is after ``to`` or the range is longer than ``max_days`` days, and
    naming either when it lies outside ``FIRST_DAY``..``LAST_DAY``."""
    for name, value in (("from", first), ("to", last)):
        if value is not None and not FIRST_DAY <= value <= LAST_DAY:
            raise InvalidInput.field(name, f"must be between {FIRST_DAY.isoformat()} and "
                                           f"{LAST_DAY.isoformat()}")
    last = last or today
    first = first or last - dt.timedelta(days=default_days - 1)
    if first > last:
        raise InvalidInput.field("from", f"must not be after to ({last.isoformat()})")
    if (last - first).days + 1 > max_days:
        raise InvalidInput.field("from", f"at most {max_days} days up to to "
                                         f"({last.isoformat()}), both included")
    return first, last


__all__ = ["DEFAULT_RANGE_DAYS", "MAX_RANGE_DAYS", "PERIODS", "Period", "ZoneInfo", "date_bounds",
           "day_range", "instant_bounds", "local_midnight", "programme_day"]
