"""Levels and streaks on GET /v1/me, counted in programme days (Asia/Shanghai)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from carbon_inclusion.gamification.schemas import LevelOut
from carbon_inclusion.gamification.service import level_of, streaks
from tests.behaviours.conftest import SHANGHAI, bind, card, claim, days_ago, partner, trip
from tests.rewards.conftest import make_reward, redeem

__all__ = ["partner"]  # the fixture, used by name

D = dt.date(2026, 11, 20)


def test_streaks_count_consecutive_days_and_stay_alive_until_tomorrow_ends():
    days = [D - dt.timedelta(days=n) for n in (9, 8, 7, 3, 2, 1)]
    before = list(days)
    s = streaks(days, D)
    assert days == before  # pure: reads the days, changes nothing
    assert streaks(tuple(days), D) == s  # and depends on nothing else
    assert (s.current, s.best, s.last_day) == (3, 3, D - dt.timedelta(days=1))
    assert streaks(days, D + dt.timedelta(days=1)).current == 0
    assert streaks([], D).current == streaks([], D).best == 0
    longest = streaks([D - dt.timedelta(days=n) for n in (5, 4, 3, 2, 0)], D)
    assert (longest.current, longest.best) == (1, 4)


def test_the_level_is_the_highest_threshold_reached():
    levels = [LevelOut(1, "绿芽", "Sprout", Decimal(0)), LevelOut(2, "绿叶", "Leaf", Decimal(10))]
    assert [x.level if x else None for x in level_of(levels, Decimal("9.9"))] == [1, 2]
    assert [x.level if x else None for x in level_of(levels, Decimal(10))] == [2, None]


async def test_a_streak_runs_across_shanghai_midnight_and_a_late_record_extends_it(
        client, citizen, partner):
    three_days_ago = days_ago(3, hour=23).replace(minute=50)
    just_after_midnight = days_ago(2, hour=0).replace(minute=10)
    # 23:50 and 00:10 in Shanghai are the same day in UTC: a UTC calendar would see one day.
    assert three_days_ago.astimezone(dt.UTC).date() == just_after_midnight.astimezone(
        dt.UTC).date()
    for at in (three_days_ago, just_after_midnight, dt.datetime.now(SHANGHAI)):
        r = await claim(client, citizen, "transit_trip", at, {"mode": "bus"})
        assert r.json()["status"] == "credited", r.text
    me = (await client.get("/v1/me/", headers=citizen.headers)).json()
    assert me["progress"]["streak"] == {"current": 1, "best": 2,
                                        "last_day": dt.datetime.now(SHANGHAI).date().isoformat()}
    ref = card()
    await bind(client, citizen, partner, ref)
    late = await partner.push([trip(ref, days_ago(1, hour=8))])  # yesterday, sent today
    assert late.json()["counts"] == {"credited": 1}, late.text
    me = (await client.get("/v1/me/", headers=citizen.headers)).json()
    assert (me["progress"]["streak"]["current"], me["progress"]["streak"]["best"]) == (4, 4)


async def test_the_level_follows_lifetime_reduction_and_spending_never_demotes(
        app, client, admin, citizen, partner):
    ref = card()
    await bind(client, citizen, partner, ref)
    pushed = await partner.push([trip(ref, days_ago(n, hour=8), km="38.0") for n in range(1, 4)])
    assert pushed.json()["counts"] == {"credited": 3}
    behaviours = (await client.get("/v1/behaviours/", headers=citizen.headers)).json()["items"]
    total = sum(Decimal(b["reduction_g"]) for b in behaviours)
    levels = await app.state.progress.levels()
    expected, upcoming = level_of(levels, total)
    before = (await client.get("/v1/me/", headers=citizen.headers)).json()["progress"]
    assert Decimal(before["reduction_g"]) == total > 0
    assert before["level"]["level"] == expected.level
    assert Decimal(before["to_next_level_g"]) == upcoming.min_reduction_g - total
    reward = await make_reward(client, admin, cost_points=1)
    assert (await redeem(client, citizen, reward["id"], quantity=5)).status_code == 201
    after = (await client.get("/v1/me/", headers=citizen.headers)).json()["progress"]
    assert after == before


async def test_only_citizens_have_progress(client, admin):
    me = (await client.get("/v1/me/", headers=admin.headers)).json()
    assert me["progress"] is None
