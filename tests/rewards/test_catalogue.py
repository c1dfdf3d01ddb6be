"""The catalogue administrators keep: fields, stock rules, code pools, audit."""

from __future__ import annotations

import secrets

from sqlalchemy import text

from tests.rewards.conftest import grant, make_reward, redeem, reward_body


async def test_only_admins_edit_the_catalogue(client, citizen):
    r = await client.post("/v1/admin/rewards/", headers=citizen.headers, json=reward_body())
    assert r.status_code == 403
    assert (await client.post("/v1/admin/rewards/", json=reward_body())).status_code == 401


async def test_bad_reward_fields_are_named(client, admin):
    cases = {
        "cost_points": reward_body(cost_points=0),
        "kind": reward_body(kind="cash"),
        "stock": reward_body(stock=-5),
        "limit_period": reward_body(per_citizen_limit=2),
        "sale_to": reward_body(sale_from="2026-12-01T00:00:00+08:00",
                               sale_to="2026-11-01T00:00:00+08:00"),
        "partner_id": reward_body(partner_id="no-such-partner"),
        "name_zh": reward_body(name_zh=""),
        "surprise": reward_body(surprise=1),
        "sale_from": reward_body(sale_from="2026-12-01T00:00:00"),  # no offset
    }
    for field, body in cases.items():
        r = await client.post("/v1/admin/rewards/", headers=admin.headers, json=body)
        assert r.status_code == 422, (field, r.text)
        assert r.json()["errors"][0]["field"] == field, (field, r.json())
    listed = (await client.get("/v1/admin/rewards/", headers=admin.headers)).json()["items"]
    assert not any(x["name_en"] == "Metro ride coupon" and x["cost_points"] == 0
                   for x in listed)


async def test_stock_grows_but_never_below_what_is_issued_and_changes_are_audited(
        app, client, admin, citizen):
    reward = await make_reward(client, admin, stock=3)
    await grant(app, citizen.id, 1000)
    assert (await redeem(client, citizen, reward["id"], quantity=2)).status_code == 201
    url = f"/v1/admin/rewards/{reward['id']}"
    low = await client.put(url, headers=admin.headers, json={"stock": 1})
    assert (low.status_code, low.json()["code"], low.json()["issued"]) == (
        409, "stock_below_issued", 2)
    assert low.json()["errors"][0]["field"] == "stock"
    up = await client.put(url, headers=admin.headers, json={"stock": 50, "cost_points": 80})
    assert up.status_code == 200, up.text
    assert (up.json()["stock"], up.json()["remaining"], up.json()["cost_points"]) == (50, 48, 80)
    unlimited = await client.put(url, headers=admin.headers, json={"stock": None})
    assert (unlimited.json()["stock"], unlimited.json()["remaining"]) == (None, None)
    empty = await client.put(url, headers=admin.headers, json={})
    assert empty.status_code == 422
    half_limit = await client.put(url, headers=admin.headers, json={"per_citizen_limit": 2})
    assert (half_limit.status_code, half_limit.json()["errors"][0]["field"]) == (
        422, "limit_period")
    async with app.state.db.connect() as conn:
        audit = (await conn.execute(text(
            "SELECT action, details FROM audit_log WHERE subject_id = :r ORDER BY id"),
            {"r": reward["id"]})).all()
    assert [a.action for a in audit] == ["reward.created", "reward.updated", "reward.updated"]
    assert audit[1].details == {"before": {"stock": 3, "cost_points": 100},
                                "after": {"stock": 50, "cost_points": 80}}
    archived = await client.put(url, headers=admin.headers, json={"status": "archived"})
    assert archived.status_code == 200
    assert (await client.get(f"/v1/rewards/{reward['id']}")).status_code == 404
    r = await redeem(client, citizen, reward["id"])
    assert (r.status_code, r.json()["code"]) == (422, "unknown_reward")


async def test_a_code_pool_hands_out_partner_codes_and_runs_dry(app, client, admin, citizen):
    reward = await make_reward(client, admin, stock=10, uses_code_pool=True)
    codes = [f"DIDI-{secrets.token_hex(4).upper()}" for _ in range(3)]
    url = f"/v1/admin/rewards/{reward['id']}/codes"
    added = await client.post(url, headers=admin.headers, json={"codes": [*codes, codes[0]]})
    assert added.status_code == 200, added.text
    assert added.json() == {"added": 3, "duplicates": 1, "pooled": 3}
    again = await client.post(url, headers=admin.headers, json={"codes": codes[:1]})
    assert again.json() == {"added": 0, "duplicates": 1, "pooled": 3}
    assert (await client.get(f"/v1/rewards/{reward['id']}")).json()["remaining"] == 3
    await grant(app, citizen.id, 1000)
    first = await redeem(client, citizen, reward["id"], quantity=2)
    assert first.status_code == 201
    assert first.json()["codes"] == codes[:2]
    short = await redeem(client, citizen, reward["id"], quantity=2)
    assert (short.status_code, short.json()["code"]) == (409, "sold_out")
    assert (await redeem(client, citizen, reward["id"])).json()["codes"] == codes[2:]
    bad = await client.post(url, headers=admin.headers, json={"codes": ["no spaces allowed"]})
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "codes[0]")
    own_codes = await make_reward(client, admin)
    no_pool = await client.post(f"/v1/admin/rewards/{own_codes['id']}/codes",
                                headers=admin.headers, json={"codes": ["ABCD-1234"]})
    assert (no_pool.status_code, no_pool.json()["code"]) == (409, "no_code_pool")


async def test_the_seed_catalogue_is_on_sale_and_seeding_again_adds_nothing(app, client):
    from carbon_inclusion.seeding import seed_all
    from tests.conftest import ROOT

    names = {x["name_en"]: x for x in (await client.get("/v1/rewards/")).json()["items"]}
    coupon = names["¥2 metro ride coupon"]
    assert (coupon["cost_points"], coupon["per_citizen_limit"], coupon["limit_period"]) == (
        200, 2, "week")
    assert names["A tree planted in your name"]["remaining"] is None  # unlimited
    again = await seed_all(app.state.db, ROOT / "seed")
    assert again["rewards_added"] == 0
