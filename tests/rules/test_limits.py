"""Daily caps pay the remainder up to the cap; days are counted in the programme's zone."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from carbon_inclusion import rules

SHANGHAI = ZoneInfo("Asia/Shanghai")
D = Decimal


def points_for(grams: Decimal) -> int:
    return int(grams // 10)


def test_the_remainder_up_to_the_points_cap_is_paid():
    limits = rules.DailyLimits(count=10, points=300)
    paid = rules.apply_daily_limits(limits, rules.DayUsage(2, D("2808"), 280), D("1404"), 140,
                                    points_for)
    assert (paid.reduction_g, paid.points, paid.capped_by) == (D("1404"), 20, ("points",))


def test_a_gram_cap_recomputes_the_points_from_the_grams_credited():
    limits = rules.DailyLimits(grams=D("1000"))
    paid = rules.apply_daily_limits(limits, rules.DayUsage(1, D("950.5"), 95), D("585.0"), 58,
                                    points_for)
    assert (paid.reduction_g, paid.points, paid.capped_by) == (D("49.5"), 4, ("grams",))


def test_nothing_is_paid_after_the_count_cap():
    limits = rules.DailyLimits(count=3, points=300)
    paid = rules.apply_daily_limits(limits, rules.DayUsage(3, D(0), 0), D("120"), 12, points_for)
    assert (paid.reduction_g, paid.points, paid.capped_by) == (D(0), 0, ("count",))


def test_no_limits_pay_in_full():
    paid = rules.apply_daily_limits(None, rules.DayUsage(99, D(10**6), 10**5), D("1"), 0,
                                    points_for)
    assert (paid.reduction_g, paid.points, paid.capped_by) == (D("1"), 0, ())


@pytest.mark.parametrize(("utc", "day"), [
    (dt.datetime(2026, 9, 30, 15, 59, 59, tzinfo=dt.UTC), dt.date(2026, 9, 30)),
    (dt.datetime(2026, 9, 30, 16, 0, 0, tzinfo=dt.UTC), dt.date(2026, 10, 1)),
])
def test_programme_days_turn_at_midnight_in_chongqing(utc, day):
    assert rules.programme_day(utc, SHANGHAI) == day


def test_day_bounds_are_half_open_in_utc():
    start, end = rules.day_bounds(dt.date(2026, 10, 1), SHANGHAI)
    assert start == dt.datetime(2026, 9, 30, 16, tzinfo=dt.UTC)
    assert end == dt.datetime(2026, 10, 1, 16, tzinfo=dt.UTC)


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        rules.programme_day(dt.datetime(2026, 10, 1), SHANGHAI)
