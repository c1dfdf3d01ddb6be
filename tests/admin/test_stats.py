"""The dashboard's statistics, each compared with sums this test works out itself from the
rows it made (what the API shows each citizen: behaviours, wallet entries, redemptions),
in a database of the module's own (tests/admin/conftest.py)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict
from decimal import Decimal

import pytest
from tests.admin.conftest import every_page, parse_csv
from tests.admin.test_lists import assert_csv_is_the_json, buyer, order
from tests.behaviours.conftest import SHANGHAI, bind, card, claim, days_ago, partner, trip
from tests.registry.conftest import (
    credit,
    issue,
    metered_doc,
    propose,
    return_batch,
    verify_batch,
    vintage,
    whole_market,
)
from tests.rewards.conftest import THIS_YEAR, grant, make_reward, redeem

from carbon_inclusion.ledger.expiry import expire_points

__all__ = ["partner"]  # the fixture, used by name

ZERO = Decimal(0)


def local_day(at: str) -> str:
    return dt.datetime.fromisoformat(at).astimezone(SHANGHAI).date().isoformat()


def today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


def waste(ref: str, occurred_at: dt.datetime, kg: str) -> dict:
    return {"external_id": "w-" + secrets.token_hex(6), "external_ref": ref,
            "type": "waste_sorting", "occurred_at": occurred_at.isoformat(),
            "data": {"category": "recyclable", "weight_kg": kg}}


async def behaviours_of(client, user) -> list[dict]:
    return await every_page(client, "/v1/behaviours/", user.headers, limit=100)


async def test_behaviours_points_and_rewards_by_day_equal_what_citizens_see(
        app, client, admin, partner, make_citizen):
    a = await make_citizen(district="yuzhong", nickname="甲")
    b = await make_citizen(district="jiangbei", nickname="乙")
    c = await make_citizen(district="yuzhong", nickname="丙")
    cards = {u.id: card() for u in (a, b, c)}
    for u in (a, b, c):
        await bind(client, u, partner, cards[u.id])
    pushed = await partner.push([
        trip(cards[a.id], days_ago(1, hour=8), km="12.5"),
        trip(cards[a.id], days_ago(1, hour=18), km="7.5", mode="bus"),
        trip(cards[a.id], days_ago(3, hour=9), km="20"),
        trip(cards[b.id], days_ago(1, hour=9), km="5"),
        waste(cards[b.id], days_ago(1, hour=7), "2.5"),
        trip(cards[c.id], days_ago(5, hour=9), km="9.5"),
        waste(cards[c.id], days_ago(3, hour=7), "1.25")])
    assert pushed.status_code == 200, pushed.text
    pending = await claim(client, a, "waste_sorting", days_ago(2),
                          {"category": "kitchen", "weight_kg": "3"})  # waits for review
    assert pending.status_code == 201 and pending.json()["status"] == "pending_review"

    # Behaviours: what each citizen sees of their own, summed by day and type / district.
    district = {a.id: "yuzhong", b.id: "jiangbei", c.id: "yuzhong"}
    want: dict[str, dict] = {"type": defaultdict(lambda: [0, ZERO, 0]),
                             "district": defaultdict(lambda: [0, ZERO, 0])}
    for u in (a, b, c):
        for x in await behaviours_of(client, u):
            if x["status"] != "credited":
                continue
            for by, key in (("type", x["type"]), ("district", district[u.id])):
                row = want[by][(local_day(x["occurred_at"]), key)]
                row[0] += 1
                row[1] += Decimal(x["reduction_g"])
                row[2] += x["points"]
    assert sum(n for n, _, _ in want["type"].values()) == 7
    for by in ("type", "district"):
        r = await client.get("/v1/admin/stats/behaviours", headers=admin.headers,
                             params={"by": by})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["from"], body["to"], body["by"]) == (
            (today() - dt.timedelta(days=29)).isoformat(), today().isoformat(), by)
        got = {(x["day"], x["key"]): [x["count"], Decimal(x["reduction_g"]), x["points"]]
               for x in body["rows"]}
        assert got == dict(want[by])
        assert [(x["day"], x["key"]) for x in body["rows"]] == sorted(got)
        assert_csv_is_the_json(parse_csv(await client.get(
            "/v1/admin/stats/behaviours.csv", headers=admin.headers, params={"by": by})),
            body["rows"])
    one_day = (today() - dt.timedelta(days=3)).isoformat()
    narrow = (await client.get("/v1/admin/stats/behaviours", headers=admin.headers,
                               params={"from": one_day, "to": one_day})).json()
    assert {(x["day"], x["key"]) for x in narrow["rows"]} == {
        k for k in want["type"] if k[0] == one_day} != set()

    # Points: redeemed, refunded, expired as well, then each citizen's entries by day.
    reward = await make_reward(client, admin, cost_points=20, stock=10, cancel_window_s=600)
    assert (await redeem(client, a, reward["id"], 2)).status_code == 201
    taken_back = await redeem(client, b, reward["id"], 1)
    assert taken_back.status_code == 201, taken_back.text
    assert (await client.post(f"/v1/redemptions/{taken_back.json()['id']}/cancel",
                              headers=b.headers)).status_code == 200
    await grant(app, c.id, 40, lot=THIS_YEAR - 2)  # earned long ago: expires now
    expired = await expire_points(app.state.db, years=1, tz=app.state.settings.tz)
    assert expired.points == 40

    kinds = {"issued": ("behaviour_credit", "bonus"), "redeemed": ("redemption",),
             "expired": ("expiry",), "reversed": ("reversal",),
             "refunded": ("redemption_refund",)}
    sign = {"issued": 1, "refunded": 1, "redeemed": -1, "expired": -1, "reversed": -1}
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(kinds, 0))
    balances = 0
    for u in (a, b, c):
        for e in await every_page(client, "/v1/wallet/entries/", u.headers, limit=100):
            name = next(k for k, v in kinds.items() if e["kind"] in v)
            per_day[local_day(e["created_at"])][name] += sign[name] * e["points"]
        balances += (await client.get("/v1/wallet/", headers=u.headers)).json()["balance"]
    points = (await client.get("/v1/admin/stats/points", headers=admin.headers)).json()
    assert [x["day"] for x in points["rows"]] == [
        (today() - dt.timedelta(days=n)).isoformat() for n in range(29, -1, -1)]
    for x in points["rows"]:
        assert {k: x[k] for k in kinds} == per_day.get(x["day"], dict.fromkeys(kinds, 0))
    assert sum(x["redeemed"] for x in points["rows"]) == 60
    assert sum(x["refunded"] for x in points["rows"]) == 20
    assert sum(x["expired"] for x in points["rows"]) == 40
    assert points["outstanding"] == balances  # the liability is what the wallets hold
    assert points["outstanding"] == sum(x["issued"] - x["reversed"] - x["redeemed"]
                                        + x["refunded"] - x["expired"] for x in points["rows"])
    assert_csv_is_the_json(parse_csv(await client.get(
        "/v1/admin/stats/points", headers={**admin.headers, "Accept": "text/csv"})),
        points["rows"])

    # Rewards: the redemptions each citizen sees, by day.
    rewards = (await client.get("/v1/admin/stats/rewards", headers=admin.headers)).json()
    mine = [x for x in rewards["rows"] if x["reward_id"] == reward["id"]]
    made = [r for u in (a, b) for r in await every_page(client, "/v1/redemptions/",
                                                         u.headers)]
    days = {local_day(r["created_at"]) for r in made}
    assert mine == [{
        "day": d, "reward_id": reward["id"], "reward_name": reward["name_zh"],
        "reward_name_en": reward["name_en"],
        "redeemed": sum(r["quantity"] for r in made if r["status"] != "cancelled"
                        and local_day(r["created_at"]) == d),
        "cancelled": sum(r["quantity"] for r in made if r["status"] == "cancelled"
                         and local_day(r["created_at"]) == d),
        "points": sum(r["points"] for r in made if r["status"] != "cancelled"
                      and local_day(r["created_at"]) == d)} for d in sorted(days)]
    assert (sum(x["redeemed"] for x in mine), sum(x["cancelled"] for x in mine)) == (2, 1)
    assert_csv_is_the_json(parse_csv(await client.get(
        "/v1/admin/stats/rewards.csv", headers=admin.headers)), rewards["rows"])


async def _methodology(app) -> dict:
    doc = metered_doc("CQ-S", "stats")  # its behaviours recompute (registry verify)
    assert await app.state.methodologies.ensure_published(doc) == "published"
    return doc


SMALL_EVENT = {"name": "低碳沙龙", "starts_on": "2026-11-10", "ends_on": "2026-11-10",
               "venue": "重庆科技馆", "attendees": 10, "electricity_kwh": "100"}


async def test_credits_by_batch_status_and_state_equal_what_was_done(
        app, client, admin, verifier, citizen, make_user):
    async def batch(tonnes: int) -> tuple[dict, dict]:
        m = await _methodology(app)
        await credit(app, citizen.id, m, "1000000", tonnes)
        r = await propose(client, admin, vintage(m))
        assert r.status_code == 201, r.text
        return m, r.json()

    await batch(3)  # stays proposed
    _, verified = await batch(2)
    assert (await verify_batch(client, verifier, verified["id"])).status_code == 200
    _, returned = await batch(1)
    assert (await return_batch(client, verifier, returned["id"], ["重复记录"])
            ).status_code == 200
    _, issued = await batch(10)
    assert (await verify_batch(client, verifier, issued["id"])).status_code == 200
    sold = (await issue(client, admin, issued["id"])).json()

    x = await buyer(client, admin, make_user, "甲公司")
    y = await buyer(client, admin, make_user, "乙公司")
    with whole_market(app):
        paid = await order(client, x, 3)
        await order(client, y, 2)  # an unpaid quote
    assert (await client.post(f"/v1/admin/orders/{paid['id']}/confirm-payment",
                              headers=admin.headers, json={"reference": "T-9"})).status_code == 200
    event = (await client.post("/v1/events/", headers=x.headers, json=SMALL_EVENT)).json()
    assert event["footprint"]["credits_needed"] == 1
    assert (await client.post(f"/v1/events/{event['id']}/neutralize", headers=x.headers)
            ).status_code == 201
    last = sold["serials"]["last"]
    cancelled = await client.post("/v1/admin/credit-cancellations", headers=admin.headers,
                                  json={"first": last, "last": last, "reason": "录入错误"})
    assert cancelled.status_code == 201, cancelled.text

    r = await client.get("/v1/admin/stats/credits", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"proposed_t": 3, "verified_t": 2, "issued_t": 10,
                        "available_t": 10 - 3 - 2 - 1, "reserved_t": 2, "held_t": 3 - 1,
                        "retired_t": 1, "cancelled_t": 1, "returned_t": 1}
    assert_csv_is_the_json(parse_csv(await client.get("/v1/admin/stats/credits.csv",
                                                      headers=admin.headers)), [r.json()])
    # Another batch verified, waiting for its issue:
    _, waiting = await batch(5)
    assert (await verify_batch(client, verifier, waiting["id"])).status_code == 200
    assert (await client.get("/v1/admin/stats/credits", headers=admin.headers)
            ).json()["verified_t"] == 2 + 5


@pytest.mark.parametrize("path", ["/v1/admin/stats/behaviours", "/v1/admin/stats/points",
                                  "/v1/admin/stats/rewards.csv"])
@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2026-02-30"}, "from"), ({"from": "2026-1-1"}, "from"),
    ({"to": "yesterday"}, "to"), ({"from": "20260101"}, "from"), ({"to": "2026-01-01\x00"}, "to"),
    ({"from": "２０２６-01-01"}, "from"),  # full-width digits are not a date here
    ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),  # after to
    ({"from": "2025-01-01", "to": "2026-01-02"}, "from"),  # 367 days
    ({"from": "2001-01-01"}, "from"),  # more than 366 days before today
    ({"from": "0001-01-01", "to": "0001-01-02"}, "from"),  # not the programme's calendar
    ({"from": "9999-12-30", "to": "9999-12-31"}, "from"),
    ({"from": "2100-12-31", "to": "9999-12-31"}, "to"),
])
async def test_a_bad_range_is_422_naming_the_field(client, admin, path, params, field):
    r = await client.get(path, params=params, headers=admin.headers)
    assert r.status_code == 422, (params, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == [field], r.json()


async def test_a_range_of_366_days_and_unknown_by(client, admin):
    ok = await client.get("/v1/admin/stats/points", headers=admin.headers,
                          params={"from": "2025-01-01", "to": "2026-01-01"})
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["rows"]) == 366
    bad = await client.get("/v1/admin/stats/behaviours", headers=admin.headers,
                           params={"by": "week"})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["by"]
