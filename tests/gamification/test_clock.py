"""Gamification reads "now" from the injected clock, in programme time: a test can stand on
New Year's Eve in UTC, which is already New Year's Day in Shanghai."""

from __future__ import annotations

import datetime as dt

from carbon_inclusion.common.clock import FixedClock
from carbon_inclusion.gamification.challenges import ChallengeService
from carbon_inclusion.gamification.leaderboards import Leaderboards

# 2026-12-31 16:30 UTC is 2027-01-01 00:30 in Shanghai, a Friday.
NEW_YEAR = dt.datetime(2026, 12, 31, 16, 30, tzinfo=dt.UTC)


async def test_boards_and_challenges_take_their_day_from_the_clock_in_programme_time(
        app, settings):
    clock = FixedClock(NEW_YEAR)
    boards = Leaderboards(app.state.db, app.state.redis, settings, clock)
    month = boards.board("city", "month", None)
    week = boards.board("city", "week", None)
    assert (month.start, month.end) == (dt.date(2027, 1, 1), dt.date(2027, 2, 1))
    assert (week.start, week.end) == (dt.date(2026, 12, 28), dt.date(2027, 1, 4))
    assert ChallengeService(app.state.db, settings, None, clock).today() == dt.date(2027, 1, 1)
    clock.advance(dt.timedelta(days=3))
    assert boards.board("city", "week", None).start == dt.date(2027, 1, 4)

