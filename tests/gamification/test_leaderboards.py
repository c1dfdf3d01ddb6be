"""Leaderboards in Redis, against what PostgreSQL says; rebuilt when Redis loses them.

Each test ranks citizens of a district no other test uses, so the session's other citizens
cannot disturb the order it checks.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sqlalchemy import text

from tests.behaviours.conftest import bind, card, days_ago, partner, trip
from tests.conftest import _delete_prefix

__all__ = ["partner"]


async def board(client, district: str, period: str = "week", user=None, **params):
    r = await client.get("/v1/leaderboards/", headers=user.headers if user else {},
                         params={"scope": "district", "district": district, "period": period,
                                 **params})
    assert r.status_code == 200, r.text
    return r.json()


async def truth(app, district: str) -> list[str]:
    """All-time grams of the district's citizens, as PostgreSQL ranks them."""
    async with app.state.db.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT sum(t.grams) FROM daily_totals t JOIN users u ON u.id = t.citizen_id "
            "WHERE u.district_code = :d GROUP BY t.citizen_id HAVING sum(t.grams) > 0 "
            "ORDER BY sum(t.grams) DESC, t.citizen_id"), {"d": district})).scalars().all()
    return [f"{g:.3f}" for g in rows]


async def riders(client, make_citizen, partner, district: str, trips_km: list[list[str]]):
    """Citizens of ``district``, each credited partner trips of the given lengths."""
    out = []
    for n, kms in enumerate(trips_km):
        citizen = await make_citizen(district=district, nickname=f"骑手{n}")
        ref = card()
        await bind(client, citizen, partner, ref)
        if kms:
            r = await partner.push([trip(ref, days_ago(0 if i == 0 else 1, hour=7), km=km)
                                    for i, km in enumerate(kms)])
            assert r.json()["counts"] == {"credited": len(kms)}, r.text
        out.append(citizen)
    return out


async def test_ranks_by_grams_with_nicknames_only_and_the_callers_own_rank(
        app, client, make_citizen, partner):
    a, b, c, _ = await riders(client, make_citizen, partner, "wulong",
                              [["5.0"], ["20.0", "3.0"], ["12.0"], []])
    shown = await board(client, "wulong", "all", user=c)
    assert [x["reduction_g"] for x in shown["items"]] == await truth(app, "wulong")
    assert [x["nickname"] for x in shown["items"]] == ["骑手1", "骑手2", "骑手0"]
    assert [x["rank"] for x in shown["items"]] == [1, 2, 3]
    assert set(shown["items"][0]) == {"rank", "nickname", "reduction_g"}  # no id, no phone
    assert shown["me"] == {"rank": 2, "reduction_g": shown["items"][1]["reduction_g"]}
    assert (await board(client, "wulong", "all"))["me"] is None  # anonymous
    city = (await client.get("/v1/leaderboards/", params={"period": "all"},
                             headers=a.headers)).json()
    assert city["me"]["rank"] > (await client.get(
        "/v1/leaderboards/", params={"period": "all"}, headers=b.headers)).json()["me"]["rank"]


async def test_equal_grams_rank_the_earlier_citizen_first_on_every_rebuild(
        app, client, make_citizen, partner, settings):
    _, second, _ = await riders(client, make_citizen, partner, "chengkou",
                                        [["8.0"], ["8.0"], ["8.0"]])
    before = await board(client, "chengkou", "week", user=second)
    assert [x["nickname"] for x in before["items"]] == ["骑手0", "骑手1", "骑手2"]
    assert before["me"]["rank"] == 2
    await _delete_prefix(app.state.redis.client, settings.redis_prefix)  # Redis lost it all
    assert await board(client, "chengkou", "week", user=second) == before
    for period in ("week", "all"):
        assert await app.state.leaderboards.rebuild(
            app.state.leaderboards.board("district", period, "chengkou"))
    assert await board(client, "chengkou", "week", user=second) == before


async def test_credits_and_take_backs_move_a_built_board_after_the_commit(
        app, client, make_citizen, partner, admin):
    slow, _ = await riders(client, make_citizen, partner, "wuxi", [["3.0"], ["6.0"]])
    before = await board(client, "wuxi", "all")
    assert [x["nickname"] for x in before["items"]] == ["骑手1", "骑手0"]
    ref = card()  # a second card of the slower citizen
    await bind(client, slow, partner, ref)
    # Yesterday: today before 08:00 Shanghai time, "today at 8" and the first trip's "today
    # at 7" are the same moment, and the second would be the same trip.
    await partner.push([trip(ref, days_ago(1, hour=8), km="30.0")])
    after = await board(client, "wuxi", "all")
    assert [x["nickname"] for x in after["items"]] == ["骑手0", "骑手1"]
    assert [x["reduction_g"] for x in after["items"]] == await truth(app, "wuxi")
    # Taken back on review: the board goes down with the total.
    credited = (await client.get("/v1/behaviours/", headers=slow.headers)).json()["items"]
    biggest = max(credited, key=lambda x: Decimal(x["reduction_g"]))
    r = await client.post(f"/v1/admin/reviews/{biggest['id']}/reject", headers=admin.headers,
                          json={"reason": "card reported stolen"})
    assert r.status_code == 200, r.text
    again = await board(client, "wuxi", "all")
    assert [x["nickname"] for x in again["items"]] == ["骑手1", "骑手0"]
    assert [x["reduction_g"] for x in again["items"]] == await truth(app, "wuxi")


async def test_a_rebuild_racing_credits_loses_none_of_them(app, client, make_citizen, partner):
    citizens = await riders(client, make_citizen, partner, "wushan", [["2.0"]] * 6)
    refs = []
    for c in citizens:
        refs.append(card())
        await bind(client, c, partner, refs[-1])
    await board(client, "wushan", "all")  # built
    boards = app.state.leaderboards
    pushes = [partner.push([trip(ref, days_ago(1, hour=9 + i), km=f"{4 + i}.0")])
              for i, ref in enumerate(refs)]
    rebuilds = [boards.rebuild(boards.board("district", "all", "wushan")) for _ in range(3)]
    await asyncio.gather(*pushes, *rebuilds)
    shown = await board(client, "wushan", "all")
    assert [x["reduction_g"] for x in shown["items"]] == await truth(app, "wushan")


async def test_a_redis_that_forgot_its_scripts_still_gets_updates(
        app, client, make_citizen, partner):
    (rider,) = await riders(client, make_citizen, partner, "xiushan", [["5.0"]])
    await board(client, "xiushan", "all")  # built
    await app.state.redis.client.script_flush()  # as after a Redis restart
    ref = card()
    await bind(client, rider, partner, ref)
    await partner.push([trip(ref, days_ago(2), km="9.0")])
    shown = await board(client, "xiushan", "all")
    assert [x["reduction_g"] for x in shown["items"]] == await truth(app, "xiushan")


async def test_bad_queries_are_named(client):
    for params, field in (({"scope": "planet"}, "scope"), ({"period": "year"}, "period"),
                          ({"scope": "district"}, "district"),
                          ({"scope": "district", "district": "atlantis"}, "district"),
                          ({"district": "yuzhong"}, "district"), ({"limit": "0"}, "limit"),
                          ({"limit": "many"}, "limit")):
        r = await client.get("/v1/leaderboards/", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        named = {e.get("field") or e.get("key") for e in r.json().get("errors", [])}
        assert any(field in (n or "") for n in named), (params, r.json())
