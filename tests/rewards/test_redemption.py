"""Redeeming points for rewards: the happy path, every refusal, and real races."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter

from sqlalchemy import text

from tests.rewards.conftest import (
    THIS_YEAR,
    grant,
    idem,
    make_reward,
    many_citizens,
    redeem,
    reward_state,
    wallet,
)


async def test_a_redemption_takes_points_stock_and_issues_unguessable_codes(
        app, client, admin, citizen):
    reward = await make_reward(client, admin, cost_points=120, stock=5)
    await grant(app, citizen.id, 300)
    r = await redeem(client, citizen, reward["id"], quantity=2)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["quantity"], body["points"]) == ("issued", 2, 240)
    assert len(body["codes"]) == 2 and len(set(body["codes"])) == 2
    assert all(len(c) == 19 and c.count("-") == 3 for c in body["codes"])
    assert [v["status"] for v in body["vouchers"]] == ["issued", "issued"]
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.timedelta(days=29) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)
    assert (await wallet(client, citizen))["balance"] == 60
    listed = (await client.get(f"/v1/rewards/{reward['id']}")).json()
    assert (listed["issued"], listed["remaining"]) == (2, 3)
    got = await client.get(f"/v1/redemptions/{body['id']}", headers=citizen.headers)
    assert got.status_code == 200 and got.json() == body
    page = (await client.get("/v1/redemptions/", headers=citizen.headers)).json()
    assert [x["id"] for x in page["items"]] == [body["id"]]
    entries = (await client.get("/v1/wallet/entries", headers=citizen.headers)).json()["items"]
    assert (entries[0]["kind"], entries[0]["points"], entries[0]["redemption_id"]) == (
        "redemption", -240, body["id"])


async def test_a_replay_answers_the_same_and_another_body_is_refused(
        app, client, admin, citizen):
    reward = await make_reward(client, admin)
    await grant(app, citizen.id, 500)
    k = idem()
    first = await redeem(client, citizen, reward["id"], key=k)
    again = await redeem(client, citizen, reward["id"], key=k)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await redeem(client, citizen, reward["id"], quantity=2, key=k)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert (await wallet(client, citizen))["balance"] == 400
    assert (await reward_state(app, reward["id"]))["issued"] == 1


async def test_spending_takes_the_soonest_expiring_points_first(app, client, admin, citizen):
    reward = await make_reward(client, admin, cost_points=130)
    await grant(app, citizen.id, 30, lot=THIS_YEAR)
    await grant(app, citizen.id, 100, lot=THIS_YEAR - 2)
    await grant(app, citizen.id, 50, lot=THIS_YEAR - 1)
    assert (await redeem(client, citizen, reward["id"])).status_code == 201
    async with app.state.db.connect() as conn:
        lots = dict((await conn.execute(text(
            "SELECT lot, balance FROM point_lots WHERE citizen_id = :c"),
            {"c": citizen.id})).all())
    assert lots == {THIS_YEAR - 2: 0, THIS_YEAR - 1: 20, THIS_YEAR: 30}


async def test_refusals_are_precise_and_change_nothing(app, client, admin, citizen,
                                                       make_citizen):
    reward = await make_reward(client, admin, cost_points=100, stock=3, max_per_redemption=2)
    await grant(app, citizen.id, 150)
    unknown = await redeem(client, citizen, str(uuid.uuid4()))
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_reward")
    assert unknown.json()["errors"][0]["field"] == "reward_id"
    for quantity, field in ((0, "quantity"), (-1, "quantity"), (3, "quantity"),
                            (1000, "quantity")):
        r = await redeem(client, citizen, reward["id"], quantity=quantity)
        assert r.status_code == 422, (quantity, r.text)
        assert r.json()["errors"][0]["field"] == field
        assert r.headers["content-type"].startswith("application/problem+json")
    poor = await redeem(client, citizen, reward["id"], quantity=2)
    assert poor.status_code == 409
    assert poor.json() | {"detail": ""} == poor.json() | {
        "detail": "", "code": "insufficient_points", "balance": 150, "cost": 200}
    other = await make_citizen()
    for_other = await client.post(
        "/v1/redemptions/", headers={**citizen.headers, "Idempotency-Key": idem()},
        json={"reward_id": reward["id"], "quantity": 1, "citizen_id": other.id})
    assert for_other.status_code == 422
    assert for_other.json()["errors"][0]["field"] == "citizen_id"
    no_key = await client.post("/v1/redemptions/", headers=citizen.headers,
                               json={"reward_id": reward["id"]})
    assert (no_key.status_code, no_key.json()["errors"][0]["field"]) == (422, "Idempotency-Key")
    garbage = await client.post("/v1/redemptions/",
                                headers={**citizen.headers, "Idempotency-Key": idem()},
                                content=b"{not json", )
    assert (garbage.status_code, garbage.json()["code"]) == (400, "malformed_body")
    anonymous = await client.post("/v1/redemptions/", headers={"Idempotency-Key": idem()},
                                  json={"reward_id": reward["id"]})
    assert anonymous.status_code == 401
    assert (await wallet(client, citizen))["balance"] == 150
    assert (await reward_state(app, reward["id"]))["issued"] == 0
    assert (await reward_state(app, reward["id"]))["redemptions"] == 0


async def test_a_reward_off_sale_or_sold_out_is_refused(app, client, admin, citizen):
    now = dt.datetime.now(dt.UTC)
    later = await make_reward(client, admin, sale_from=(now + dt.timedelta(days=1)).isoformat())
    over = await make_reward(client, admin, sale_from=(now - dt.timedelta(days=2)).isoformat(),
                             sale_to=(now - dt.timedelta(days=1)).isoformat())
    one_left = await make_reward(client, admin, stock=1)
    await grant(app, citizen.id, 1000)
    for reward in (later, over):
        r = await redeem(client, citizen, reward["id"])
        assert (r.status_code, r.json()["code"]) == (409, "not_on_sale")
    listed = {x["id"] for x in (await client.get("/v1/rewards/")).json()["items"]}
    assert one_left["id"] in listed and not listed & {later["id"], over["id"]}
    assert (await redeem(client, citizen, one_left["id"])).status_code == 201
    sold = await redeem(client, citizen, one_left["id"])
    assert (sold.status_code, sold.json()["code"]) == (409, "sold_out")
    assert (await wallet(client, citizen))["balance"] == 900


async def test_the_limit_per_citizen_answers_when_it_resets(app, client, admin, citizen):
    reward = await make_reward(client, admin, per_citizen_limit=2, limit_period="week")
    await grant(app, citizen.id, 1000)
    assert (await redeem(client, citizen, reward["id"], quantity=2)).status_code == 201
    r = await redeem(client, citizen, reward["id"])
    assert (r.status_code, r.json()["code"], r.json()["limit"]) == (409, "limit_reached", 2)
    resets = dt.datetime.fromisoformat(r.json()["resets_at"])
    assert resets.utcoffset() == dt.timedelta(hours=8)
    assert (resets.weekday(), resets.time()) == (0, dt.time())
    assert dt.timedelta(0) < resets - dt.datetime.now(dt.UTC) <= dt.timedelta(days=7)


async def test_1000_racing_redemptions_from_300_citizens_sell_exactly_the_stock(
        app, client, admin):
    reward = await make_reward(client, admin, cost_points=100, stock=50)
    citizens = await many_citizens(app, 300)
    for c in citizens[:200]:
        await grant(app, c.id, 250)  # enough for two
    for c in citizens[200:]:
        await grant(app, c.id, 60)  # not enough for one
    who = [citizens[i % 300] for i in range(1000)]
    answers = await asyncio.gather(*[redeem(client, c, reward["id"]) for c in who])

    outcomes = Counter(a.status_code for a in answers)
    assert outcomes == {201: 50, 409: 950}, outcomes
    codes = Counter(a.json()["code"] for a in answers if a.status_code == 409)
    assert set(codes) <= {"sold_out", "insufficient_points"}
    won = [a.json() for a in answers if a.status_code == 201]
    assert len({v for a in won for v in a["codes"]}) == 50
    state = await reward_state(app, reward["id"])
    assert (state["issued"], state["open_vouchers"], state["redemptions"]) == (50, 50, 50)
    assert (await client.get(f"/v1/rewards/{reward['id']}")).json()["remaining"] == 0
    per_citizen = Counter(w.id for w, a in zip(who, answers, strict=True)
                          if a.status_code == 201)
    assert not any(c.id in per_citizen for c in citizens[200:])
    async with app.state.db.connect() as conn:
        debits = (await conn.execute(text(
            "SELECT e.citizen_id, count(*), sum(e.points) FROM journal_entries e "
            "JOIN redemptions r ON r.id = e.redemption_id WHERE r.reward_id = :r "
            "GROUP BY e.citizen_id"), {"r": reward["id"]})).all()
        balances = dict((await conn.execute(text(
            "SELECT citizen_id, balance FROM wallets WHERE citizen_id = ANY(CAST(:c AS uuid[]))"),
            {"c": [c.id for c in citizens]})).all())
    assert {str(c): (n, s) for c, n, s in debits} == {
        c: (n, -100 * n) for c, n in per_citizen.items()}
    for i, c in enumerate(citizens):
        start = 250 if i < 200 else 60
        assert balances[uuid.UUID(c.id)] == start - 100 * per_citizen[c.id] >= 0


async def test_one_citizen_racing_20_requests_against_a_limit_of_2_gets_2(
        app, client, admin, citizen):
    reward = await make_reward(client, admin, stock=100, per_citizen_limit=2,
                               limit_period="day")
    await grant(app, citizen.id, 5000)
    answers = await asyncio.gather(*[redeem(client, citizen, reward["id"]) for _ in range(20)])
    assert Counter(a.status_code for a in answers) == {201: 2, 409: 18}
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"limit_reached"}
    assert (await wallet(client, citizen))["balance"] == 4800
    assert (await reward_state(app, reward["id"]))["issued"] == 2


async def test_one_citizen_racing_many_rewards_never_overspends(app, client, admin, citizen):
    rewards = [await make_reward(client, admin, cost_points=100) for _ in range(5)]
    await grant(app, citizen.id, 250, lot=THIS_YEAR - 1)
    await grant(app, citizen.id, 50)
    answers = await asyncio.gather(*[redeem(client, citizen, r["id"])
                                     for r in rewards for _ in range(4)])
    assert Counter(a.status_code for a in answers) == {201: 3, 409: 17}
    assert (await wallet(client, citizen))["balance"] == 0


async def test_mixed_quantities_and_a_restock_mid_rush_never_oversell(app, client, admin):
    reward = await make_reward(client, admin, cost_points=10, stock=50, max_per_redemption=3)
    citizens = await many_citizens(app, 100)
    for c in citizens:
        await grant(app, c.id, 1000)
    quantities = [1 + i % 3 for i in range(300)]
    restock = client.put(f"/v1/admin/rewards/{reward['id']}", headers=admin.headers,
                         json={"stock": 80})
    *answers, restocked = await asyncio.gather(
        *[redeem(client, citizens[i % 100], reward["id"], quantity=q)
          for i, q in enumerate(quantities)], restock)
    assert restocked.status_code == 200, restocked.text
    assert {a.status_code for a in answers} <= {201, 409}
    sold = sum(q for q, a in zip(quantities, answers, strict=True) if a.status_code == 201)
    state = await reward_state(app, reward["id"])
    assert state["issued"] == state["open_vouchers"] == sold
    assert 50 <= sold <= 80
    async with app.state.db.connect() as conn:
        shards = (await conn.execute(text(
            "SELECT sum(stock), sum(issued), bool_and(issued <= stock) FROM reward_stock "
            "WHERE reward_id = :r"), {"r": reward["id"]})).one()
    assert tuple(shards) == (80, sold, True)
    # Whatever is left, however thinly spread, can still be bought.
    left = 80 - sold
    buyer = citizens[0]
    while left:
        r = await redeem(client, buyer, reward["id"], quantity=min(3, left))
        assert r.status_code == 201, r.text
        left -= min(3, left)
    assert (await redeem(client, buyer, reward["id"])).json()["code"] == "sold_out"
