"""Challenges: join, progress from credited behaviours, a completion bonus paid once."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from sqlalchemy import text

from tests.behaviours.conftest import SHANGHAI, bind, card, days_ago, partner, trip

__all__ = ["partner"]  # the fixture, used by name


def today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


async def new_challenge(client, admin, **fields) -> dict:
    body = {"title_zh": "本周地铁出行 3 次", "title_en": "3 metro trips this week",
            "behaviour": "transit_trip", "measure": "count", "target": "3",
            "starts_on": (today() - dt.timedelta(days=6)).isoformat(),
            "ends_on": (today() + dt.timedelta(days=1)).isoformat(), "bonus_points": 15
            } | fields
    r = await client.post("/v1/admin/challenges/", headers=admin.headers, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def bonus_entries(app, citizen_id, challenge_id) -> list[int]:
    async with app.state.db.engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT points FROM journal_entries WHERE citizen_id = :c AND kind = 'bonus' "
            "AND idempotency_key = :k"), {"c": citizen_id, "k": f"challenge:{challenge_id}"}
        )).scalars())


async def test_an_individual_challenge_completes_once_under_racing_behaviours(
        app, client, admin, citizen, partner):
    challenge = await new_challenge(client, admin)
    url = f"/v1/challenges/{challenge['id']}"
    joined = await client.post(url + "/join", headers=citizen.headers)
    assert joined.status_code == 201, joined.text
    again = await client.post(url + "/join", headers=citizen.headers)
    assert again.status_code == 200 and again.json()["participants"] == 1
    ref = card()
    await bind(client, citizen, partner, ref)
    pushed = await partner.push([trip(ref, days_ago(n)) for n in (1, 2)])
    assert pushed.json()["counts"] == {"credited": 2}
    mine = (await client.get(url, headers=citizen.headers)).json()
    assert (mine["joined"], mine["progress"], mine["completed_at"]) == (True, "2", None)

    now = dt.datetime.now(SHANGHAI) - dt.timedelta(seconds=1)
    answers = await asyncio.gather(*[
        partner.push([trip(ref, now - dt.timedelta(minutes=11 * k))]) for k in range(20)])
    assert {r.status_code for r in answers} == {200}
    assert await bonus_entries(app, citizen.id, challenge["id"]) == [15]
    mine = (await client.get(url, headers=citizen.headers)).json()
    assert mine["completed_at"] is not None and int(mine["progress"]) >= 3
    listed = (await client.get("/v1/challenges/", headers=citizen.headers)).json()["items"]
    assert any(c["id"] == challenge["id"] and c["joined"] for c in listed)
    anonymous = (await client.get(url)).json()
    assert anonymous["joined"] is None and anonymous["progress"] is None


async def test_joining_when_the_goal_is_met_already_completes_at_once(
        app, client, admin, citizen, partner):
    ref = card()
    await bind(client, citizen, partner, ref)
    await partner.push([trip(ref, days_ago(n)) for n in (1, 2, 3)])
    challenge = await new_challenge(client, admin)
    r = await client.post(f"/v1/challenges/{challenge['id']}/join", headers=citizen.headers)
    assert r.status_code == 201 and r.json()["completed_at"] is not None
    assert await bonus_entries(app, citizen.id, challenge["id"]) == [15]


async def test_bad_challenges_and_late_joins_are_refused_and_change_nothing(
        app, client, admin, citizen):
    cases = [({"target": "-1"}, "target"), ({"target": "2.5"}, "target"),
             ({"behaviour": "teleporting"}, "behaviour"),
             ({"starts_on": today().isoformat(),
               "ends_on": (today() - dt.timedelta(days=2)).isoformat()}, "ends_on")]
    for change, field in cases:
        body = {"title_zh": "x", "title_en": "x", "target": "3",
                "starts_on": today().isoformat(), "ends_on": today().isoformat()} | change
        r = await client.post("/v1/admin/challenges/", headers=admin.headers, json=body)
        assert r.status_code == 422, (change, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, r.json()
    for body in ({"kind": "team"}, {"measure": "smiles"}, {"starts_on": "yesterday"}):
        r = await client.post("/v1/admin/challenges/", headers=admin.headers,
                              json={"title_zh": "x", "title_en": "x", "target": "3",
                                    "starts_on": today().isoformat(),
                                    "ends_on": today().isoformat()} | body)
        assert r.status_code == 422, (body, r.text)

    challenge = await new_challenge(client, admin, ends_on=today().isoformat())
    async with app.state.db.connect() as conn:  # time passes: it ended yesterday
        await conn.execute(text(
            "UPDATE challenges SET starts_on = starts_on - 7, ends_on = ends_on - 1 "
            "WHERE id = :id"), {"id": challenge["id"]})
    late = await client.post(f"/v1/challenges/{challenge['id']}/join", headers=citizen.headers)
    assert late.status_code == 409 and late.json()["code"] == "challenge_ended"
    after = (await client.get(f"/v1/challenges/{challenge['id']}")).json()
    assert (after["participants"], after["state"]) == (0, "ended")
    missing = await client.post(f"/v1/challenges/{uuid.uuid4()}/join", headers=citizen.headers)
    assert missing.status_code == 404
    assert (await client.post(f"/v1/challenges/{challenge['id']}/join", headers=admin.headers)
            ).status_code == 403


async def test_the_district_that_saves_the_most_wins_and_is_paid_once(
        app, client, admin, make_citizen, partner):
    challenge = await new_challenge(
        client, admin, kind="district", measure="grams", behaviour=None, target="1",
        title_en="The district that saves the most", bonus_points=40,
        starts_on=(today() - dt.timedelta(days=5)).isoformat(), ends_on=today().isoformat())
    url = f"/v1/challenges/{challenge['id']}"
    fengdu = [await make_citizen("fengdu") for _ in range(2)]
    shizhu = await make_citizen("shizhu")
    for who, km in ((fengdu[0], "10.0"), (fengdu[1], "10.0"), (shizhu, "15.0")):
        assert (await client.post(url + "/join", headers=who.headers)).status_code == 201
        ref = card()
        await bind(client, who, partner, ref)
        assert (await partner.push([trip(ref, days_ago(1), km=km)])).json()["counts"] == {
            "credited": 1}
    standings = (await client.get(url)).json()["standings"]
    assert [(s["district"], s["participants"]) for s in standings] == [("fengdu", 2),
                                                                        ("shizhu", 1)]
    mine = (await client.get(url, headers=shizhu.headers)).json()
    assert mine["progress"] == standings[1]["value"]

    tomorrow = today() + dt.timedelta(days=1)
    reports = await asyncio.gather(*[app.state.challenges.settle(tomorrow) for _ in range(5)])
    assert sum(len(r["settled"]) for r in reports) >= 1
    assert [s for r in reports for s in r["settled"] if s["id"] == challenge["id"]] == [
        {"id": challenge["id"], "winner": "fengdu"}]
    for who in fengdu:
        assert await bonus_entries(app, who.id, challenge["id"]) == [40]
    assert await bonus_entries(app, shizhu.id, challenge["id"]) == []
    again = await app.state.challenges.settle(tomorrow)
    assert challenge["id"] not in {s["id"] for s in again["settled"]}
