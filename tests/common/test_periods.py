import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbon_inclusion.common.periods import date_bounds, day_range, instant_bounds, programme_day
from carbon_inclusion.errors import InvalidInput

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("period", "day", "start", "end"), [
    ("day", "2026-12-31", "2026-12-31", "2027-01-01"),
    ("week", "2026-12-31", "2026-12-28", "2027-01-04"),  # a Thursday; weeks from Monday
    ("month", "2026-12-31", "2026-12-01", "2027-01-01"),
    ("month", "2028-02-29", "2028-02-01", "2028-03-01"),
    ("week", "2026-12-28", "2026-12-28", "2027-01-04"),
])
def test_bounds_of_a_period(period, day, start, end):
    assert date_bounds(period, dt.date.fromisoformat(day)) == (
        dt.date.fromisoformat(start), dt.date.fromisoformat(end))


def test_all_time_has_no_bounds():
    assert date_bounds("all", dt.date(2026, 1, 1)) == (None, None)


def test_an_unknown_period_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown period"):
        date_bounds("fortnight", dt.date(2026, 1, 1))


def test_days_are_programme_days_not_utc_days():
    at = dt.datetime(2026, 12, 31, 16, 30, tzinfo=dt.UTC)  # 00:30 on New Year's Day in Shanghai
    assert programme_day(at, SHANGHAI) == dt.date(2027, 1, 1)
    start, end = instant_bounds("day", at, SHANGHAI)
    assert start == dt.datetime(2027, 1, 1, tzinfo=SHANGHAI)
    assert end - start == dt.timedelta(days=1)


@given(at=st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                       timezones=st.just(dt.UTC)),
       period=st.sampled_from(["day", "week", "month"]))
def test_a_moment_lies_in_its_own_period(at, period):
    start, end = instant_bounds(period, at, SHANGHAI)
    assert start <= at < end


# --- the ranges of the programme's statistics ----------------------------------------------

D = dt.date


@pytest.mark.parametrize(("first", "last", "today", "want"), [
    (None, None, D(2026, 3, 30), (D(2026, 3, 1), D(2026, 3, 30))),  # the last 30 days
    (None, D(2026, 1, 10), D(2026, 3, 30), (D(2025, 12, 12), D(2026, 1, 10))),
    (D(2026, 3, 29), None, D(2026, 3, 30), (D(2026, 3, 29), D(2026, 3, 30))),
    (D(2026, 3, 30), D(2026, 3, 30), D(2026, 3, 30), (D(2026, 3, 30), D(2026, 3, 30))),
    (D(2025, 1, 1), D(2026, 1, 1), D(2026, 3, 30), (D(2025, 1, 1), D(2026, 1, 1))),  # 366
])
def test_a_statistic_s_range(first, last, today, want):
    assert day_range(first, last, today) == want


@pytest.mark.parametrize(("first", "last", "field"), [
    (D(2026, 3, 2), D(2026, 3, 1), "from"),  # after to
    (D(2025, 1, 1), D(2026, 1, 2), "from"),  # 367 days
    (D(1999, 12, 31), D(2000, 1, 1), "from"),
    (D(2100, 12, 31), D(2101, 1, 1), "to"),
])
def test_a_range_it_will_not_read_names_the_field(first, last, field):
    with pytest.raises(InvalidInput) as refused:
        day_range(first, last, D(2026, 3, 30))
    assert [e.field for e in refused.value.errors] == [field]
