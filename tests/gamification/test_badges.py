"""Badges: defined as data, checked like methodologies, awarded once per citizen and level."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import text

from tests.behaviours.conftest import SHANGHAI, bind, card, days_ago, partner, trip

__all__ = ["partner"]  # the fixture, used by name

SEED_BONUS = {("first_green_trip", 1): 5, ("green_streak", 1): 20, ("carbon_saver", 1): 10,
              ("waste_sorting_master", 1): 30}


def waste(ref: str, at: dt.datetime) -> dict:
    return {"external_id": "w-" + uuid.uuid4().hex[:12], "external_ref": ref,
            "type": "waste_sorting", "occurred_at": at.isoformat(),
            "data": {"category": "kitchen", "weight_kg": "1.00"}}


async def awards(app, citizen_id) -> dict[tuple[str, int], int]:
    async with app.state.db.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT code, level, count(*) FROM badge_awards WHERE citizen_id = :c "
            "GROUP BY code, level"), {"c": citizen_id})).all()
    return {(r[0], r[1]): r[2] for r in rows}


async def bonuses(app, citizen_id) -> dict[str, int]:
    async with app.state.db.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT idempotency_key, count(*), sum(points) FROM journal_entries "
            "WHERE citizen_id = :c AND kind = 'bonus' GROUP BY 1"), {"c": citizen_id})).all()
    assert all(r[1] == 1 for r in rows), rows
    return {r[0]: r[2] for r in rows}


async def test_each_seed_badge_is_awarded_once_under_20_concurrent_qualifying_behaviours(
        app, client, citizen, partner, seed_badges):
    ref = card()
    await bind(client, citizen, partner, ref)
    # With the badges off: six days of long metro trips (over 10 kg) and ten days of waste
    # sorting, so that every seed badge is one behaviour today away.
    pushed = await partner.push([trip(ref, days_ago(n, hour=8), km="38.0") for n in range(1, 7)]
                                + [waste(ref, days_ago(n, hour=19)) for n in range(1, 11)])
    assert pushed.json()["counts"] == {"credited": 16}, pushed.text
    assert await awards(app, citizen.id) == {}
    await seed_badges()

    now = dt.datetime.now(SHANGHAI) - dt.timedelta(seconds=1)
    answers = await asyncio.gather(*[
        partner.push([trip(ref, now - dt.timedelta(minutes=11 * k))]) for k in range(20)])
    assert [r.status_code for r in answers] == [200] * 20, [r.text for r in answers]

    assert await awards(app, citizen.id) == dict.fromkeys(SEED_BONUS, 1)
    assert await bonuses(app, citizen.id) == {
        f"badge:{code}:{level}": points for (code, level), points in SEED_BONUS.items()}
    async with app.state.db.engine.connect() as conn:
        earned = await conn.scalar(text(
            "SELECT sum(points) FROM behaviours WHERE citizen_id = :c AND status = 'credited'"),
            {"c": citizen.id})
    wallet = (await client.get("/v1/wallet/", headers=citizen.headers)).json()
    assert wallet["balance"] == earned + sum(SEED_BONUS.values())
    assert wallet["lifetime_earned"] == wallet["balance"]  # bonuses are earned too

    mine = (await client.get("/v1/me/badges", headers=citizen.headers)).json()
    assert {(e["code"], e["level"]) for e in mine["earned"]} == set(SEED_BONUS)
    upcoming = {n["code"]: n for n in mine["next"]}
    # The others have one level, earned; the scene badges' behaviours have not happened.
    assert set(upcoming) == {"green_streak", "carbon_saver", "bike_rider", "clean_plate",
                             "paperless", "second_life", "step_walker", "power_saver"}
    streak = upcoming["green_streak"]
    # Ten days of sorting waste, then today: eleven days running.
    assert (streak["level"], Decimal(streak["value"]), Decimal(streak["target"])) == (
        2, Decimal(11), Decimal(30))
    assert Decimal(streak["progress"]) == (Decimal(11) / 30).quantize(Decimal("0.0001"))


async def test_racing_award_calls_without_the_pipeline_locks_still_award_once(
        app, client, citizen, partner, seed_badges):
    """The database's unique key alone holds: 20 transactions award at the same moment."""
    ref = card()
    await bind(client, citizen, partner, ref)
    assert (await partner.push([trip(ref, days_ago(1))])).json()["counts"] == {"credited": 1}
    async with app.state.db.connect() as conn:  # as if it had been credited before badges
        await conn.execute(text("DELETE FROM journal_entries WHERE citizen_id = :c "
                                "AND kind = 'bonus'"), {"c": citizen.id})
    await seed_badges()
    async with app.state.db.connect() as conn:
        await conn.execute(text("DELETE FROM badge_awards WHERE citizen_id = :c"),
                           {"c": citizen.id})
    gate = asyncio.Event()

    async def award_once() -> int:
        async with app.state.db.connect() as conn:
            await gate.wait()
            return len(await app.state.badges.award(conn, {uuid.UUID(citizen.id)}))

    racers = [asyncio.create_task(award_once()) for _ in range(20)]
    await asyncio.sleep(0.05)
    gate.set()
    assert sorted(await asyncio.gather(*racers)) == [0] * 19 + [1]
    assert await awards(app, citizen.id) == {("first_green_trip", 1): 1}
    assert await bonuses(app, citizen.id) == {"badge:first_green_trip:1": 5}


BADGE = {"code": "bus_fan", "name_zh": "公交达人", "name_en": "Bus fan",
         "measure": "count_transit_trip",
         "levels": [{"level": 1, "at_least": "2", "bonus_points": 7},
                    {"level": 2, "at_least": "4", "condition": "district == 'wanzhou'"}]}


async def test_administrators_define_and_version_badges(app, client, admin, make_citizen,
                                                        partner):
    code = "bus_" + uuid.uuid4().hex[:8]
    r = await client.post("/v1/admin/badges/", headers=admin.headers, json=BADGE | {"code": code})
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["status"]) == (1, "active")
    again = await client.post("/v1/admin/badges/", headers=admin.headers,
                              json=BADGE | {"code": code})
    assert again.status_code == 409 and again.json()["code"] == "badge_exists"

    wanzhou, yuzhong = await make_citizen("wanzhou"), await make_citizen("yuzhong")
    for who in (wanzhou, yuzhong):
        ref = card()
        await bind(client, who, partner, ref)
        pushed = await partner.push([trip(ref, days_ago(n), mode="bus", km="5") for n in (1, 2)])
        assert pushed.json()["counts"] == {"credited": 2}
        assert await awards(app, who.id) == {(code, 1): 1}
        pushed = await partner.push([trip(ref, days_ago(n), mode="bus", km="5") for n in (3, 4)])
        assert pushed.json()["counts"] == {"credited": 2}
    assert await awards(app, wanzhou.id) == {(code, 1): 1, (code, 2): 1}
    assert await awards(app, yuzhong.id) == {(code, 1): 1}  # level 2 is for Wanzhou only

    v2 = await client.put(f"/v1/admin/badges/{code}", headers=admin.headers,
                          json={k: v for k, v in BADGE.items() if k != "code"}
                          | {"status": "retired"})
    assert v2.status_code == 200, v2.text
    assert (v2.json()["version"], v2.json()["status"]) == (2, "retired")
    public = (await client.get("/v1/badges/")).json()["items"]
    assert code not in {b["code"] for b in public}
    assert await awards(app, wanzhou.id) == {(code, 1): 1, (code, 2): 1}  # earned stays


async def test_a_badge_that_does_not_check_is_refused_and_changes_nothing(client, admin):
    code = "bad_" + uuid.uuid4().hex[:8]
    cases = [
        ({"measure": "count_teleport"}, "measure"),
        ({"measure": "streak >= 7"}, "measure"),  # a condition, not a number
        ({"measure": "__import__('os')"}, "measure"),
        ({"levels": [{"level": 1, "at_least": "1", "condition": "streak + 1"}]},
         "levels[0].condition"),
        ({"levels": [{"level": 1, "at_least": "1", "condition": "district == 'atlantis'"}]},
         "levels[0].condition"),
        ({"levels": [{"level": 1, "at_least": "5"}, {"level": 2, "at_least": "5"}]},
         "levels[1].at_least"),
        ({"levels": [{"level": 1, "at_least": "-1"}]}, "levels[0].at_least"),
        ({"levels": [{"level": 1, "at_least": "NaN"}]}, "levels[0].at_least"),
    ]
    for change, field in cases:
        r = await client.post("/v1/admin/badges/", headers=admin.headers,
                              json=BADGE | {"code": code} | change)
        assert r.status_code == 422, (change, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert field in {e["field"] for e in r.json()["errors"]}, (change, r.json())
    assert (await client.get(f"/v1/admin/badges/{code}", headers=admin.headers)
            ).status_code == 404
    bad_code = await client.post("/v1/admin/badges/", headers=admin.headers,
                                 json=BADGE | {"code": "Has Spaces"})
    assert bad_code.status_code == 422, bad_code.text
    assert (await client.put("/v1/admin/badges/nope", headers=admin.headers,
                             json={k: v for k, v in BADGE.items() if k != "code"})
            ).status_code == 404
