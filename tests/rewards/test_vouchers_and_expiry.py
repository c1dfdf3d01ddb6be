"""After a redemption: cancelling, partners using vouchers, vouchers and points expiring."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter

import httpx
import pytest
from sqlalchemy import text

from carbon_inclusion.app import create_app
from carbon_inclusion.ledger.expiry import expire_points
from tests.behaviours.conftest import Partner
from tests.rewards.conftest import (
    THIS_YEAR,
    grant,
    make_reward,
    redeem,
    reward_state,
    wallet,
)


async def entries_of(app, redemption_id: str) -> list[tuple[str, int]]:
    async with app.state.db.connect() as conn:
        return [tuple(r) for r in await conn.execute(text(
            "SELECT kind, points FROM journal_entries WHERE redemption_id = :r "
            "ORDER BY created_at, id"), {"r": redemption_id})]


async def test_cancelling_twice_at_once_refunds_once(app, client, admin, citizen):
    reward = await make_reward(client, admin, cost_points=100, stock=5, cancel_window_s=600)
    await grant(app, citizen.id, 60, lot=THIS_YEAR - 1)
    await grant(app, citizen.id, 100)
    made = (await redeem(client, citizen, reward["id"])).json()
    assert (await wallet(client, citizen))["balance"] == 60
    url = f"/v1/redemptions/{made['id']}/cancel"
    answers = await asyncio.gather(*[client.post(url, headers=citizen.headers)
                                     for _ in range(5)])
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["status"] for a in answers} == {"cancelled"}
    assert [v["status"] for v in answers[0].json()["vouchers"]] == ["cancelled"]
    assert await entries_of(app, made["id"]) == [("redemption", -100), ("redemption_refund", 100)]
    assert (await wallet(client, citizen))["balance"] == 160
    state = await reward_state(app, reward["id"])
    assert (state["issued"], state["open_vouchers"]) == (0, 0)
    async with app.state.db.connect() as conn:  # the points went back to their own lots
        lots = dict((await conn.execute(text(
            "SELECT lot, balance FROM point_lots WHERE citizen_id = :c"),
            {"c": citizen.id})).all())
    assert lots == {THIS_YEAR - 1: 60, THIS_YEAR: 100}


async def test_cancel_refusals(app, client, admin, citizen, make_citizen, partner):
    no_window = await make_reward(client, admin)
    with_window = await make_reward(client, admin, cancel_window_s=600,
                                    partner_id=partner.id)
    await grant(app, citizen.id, 1000)
    a = (await redeem(client, citizen, no_window["id"])).json()
    closed = await client.post(f"/v1/redemptions/{a['id']}/cancel", headers=citizen.headers)
    assert (closed.status_code, closed.json()["code"]) == (409, "cancel_window_closed")
    b = (await redeem(client, citizen, with_window["id"])).json()
    stranger = await make_citizen()
    theirs = await client.post(f"/v1/redemptions/{b['id']}/cancel", headers=stranger.headers)
    assert theirs.status_code == 404
    assert (await client.get(f"/v1/redemptions/{b['id']}",
                             headers=stranger.headers)).status_code == 404
    code = b["codes"][0]
    assert (await partner.post(f"/v1/partner/vouchers/{code}/use",
                               {"code": code})).status_code == 200
    used = await client.post(f"/v1/redemptions/{b['id']}/cancel", headers=citizen.headers)
    assert (used.status_code, used.json()["code"]) == (409, "not_cancellable")
    missing = await client.post(f"/v1/redemptions/{uuid.uuid4()}/cancel",
                                headers=citizen.headers)
    assert missing.status_code == 404
    assert (await wallet(client, citizen))["balance"] == 800


async def test_partners_use_their_own_vouchers_once(app, client, admin, citizen, partner):
    reward = await make_reward(client, admin, partner_id=partner.id, cancel_window_s=600)
    await grant(app, citizen.id, 500)
    made = (await redeem(client, citizen, reward["id"], quantity=2)).json()
    first, second = made["codes"]
    path = f"/v1/partner/vouchers/{first}/use"
    answers = await asyncio.gather(*[partner.post(path, {"code": first}) for _ in range(4)])
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["used_at"] for a in answers}) == 1
    assert answers[0].json()["status"] == "used"
    mine = (await client.get(f"/v1/redemptions/{made['id']}", headers=citizen.headers)).json()
    assert ([v["status"] for v in mine["vouchers"]], mine["status"]) == (
        ["used", "issued"], "issued")
    mismatch = await partner.post(path, {"code": second})
    assert (mismatch.status_code, mismatch.json()["errors"][0]["field"]) == (422, "code")
    forged = await partner.post(f"/v1/partner/vouchers/{second}/use", {"code": second},
                                secret="not-the-secret")
    assert forged.status_code == 401
    unsigned = await client.post(f"/v1/partner/vouchers/{second}/use", json={"code": second})
    assert unsigned.status_code == 401
    assert (await partner.post("/v1/partner/vouchers/NOPE-NOPE/use",
                               {"code": "NOPE-NOPE"})).status_code == 404
    assert (await partner.post(f"/v1/partner/vouchers/{second}/use",
                               {"code": second})).status_code == 200
    mine = (await client.get(f"/v1/redemptions/{made['id']}", headers=citizen.headers)).json()
    assert mine["status"] == "used"


async def test_another_partner_cannot_use_a_voucher(app, client, admin, citizen, partner):
    other_id = "o-" + uuid.uuid4().hex[:6]
    r = await client.post("/v1/admin/partners/", headers=admin.headers,
                          json={"id": other_id, "name": "别家", "kind": "transit"})
    other = Partner(client, r.json())
    reward = await make_reward(client, admin, partner_id=partner.id)
    programme = await make_reward(client, admin)
    await grant(app, citizen.id, 500)
    code = (await redeem(client, citizen, reward["id"])).json()["codes"][0]
    own = (await redeem(client, citizen, programme["id"])).json()["codes"][0]
    for p, c in ((other, code), (partner, own)):
        r = await p.post(f"/v1/partner/vouchers/{c}/use", {"code": c})
        assert r.status_code == 404, r.text
    assert (await partner.post(f"/v1/partner/vouchers/{code}/use",
                               {"code": code})).status_code == 200


async def test_expired_vouchers_return_stock_and_points_only_when_the_reward_says(
        app, client, admin, citizen, partner):
    keep = await make_reward(client, admin, stock=5, voucher_valid_days=1,
                             partner_id=partner.id)
    refund = await make_reward(client, admin, stock=5, voucher_valid_days=1,
                               refund_points_on_expiry=True)
    await grant(app, citizen.id, 1000)
    a = (await redeem(client, citizen, keep["id"], quantity=2)).json()
    b = (await redeem(client, citizen, refund["id"], quantity=3)).json()
    code = a["codes"][0]
    assert (await partner.post(f"/v1/partner/vouchers/{code}/use",
                               {"code": code})).status_code == 200
    assert (await wallet(client, citizen))["balance"] == 500
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    runs = await asyncio.gather(app.state.rewards.expire_vouchers(later),
                                app.state.rewards.expire_vouchers(later))
    assert sum(r.vouchers for r in runs) >= 4  # others' vouchers may expire too
    assert (await wallet(client, citizen))["balance"] == 800
    assert await entries_of(app, b["id"]) == [("redemption", -300), ("redemption_refund", 300)]
    assert await entries_of(app, a["id"]) == [("redemption", -200)]
    assert (await reward_state(app, keep["id"]))["issued"] == 1
    assert (await reward_state(app, refund["id"]))["issued"] == 0
    got_a = (await client.get(f"/v1/redemptions/{a['id']}", headers=citizen.headers)).json()
    got_b = (await client.get(f"/v1/redemptions/{b['id']}", headers=citizen.headers)).json()
    assert (got_a["status"], got_b["status"]) == ("used", "expired")
    assert [v["status"] for v in got_a["vouchers"]] == ["used", "expired"]
    gone = a["codes"][1]
    late = await partner.post(f"/v1/partner/vouchers/{gone}/use", {"code": gone})
    assert (late.status_code, late.json()["code"]) == (409, "voucher_expired")
    again = await app.state.rewards.expire_vouchers(later)
    assert again.vouchers == 0


@pytest.fixture(scope="module")
async def expiring(settings, app):
    """The same service, with points expiring at the end of the year after they were
    earned (POINTS_EXPIRY_YEARS=1)."""
    other = create_app(settings.with_overrides(points_expiry_years=1))
    transport = httpx.ASGITransport(app=other)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    await other.state.db.dispose()
    await other.state.redis.close()


async def test_points_expire_oldest_first_once_even_when_run_twice(
        app, client, expiring, citizen, admin):
    await grant(app, citizen.id, 70, lot=THIS_YEAR - 2)
    await grant(app, citizen.id, 40, lot=THIS_YEAR - 1)
    await grant(app, citizen.id, 25)
    shown = (await wallet(expiring, citizen))["next_expiry"]
    assert shown["points"] == 70
    assert dt.datetime.fromisoformat(shown["expires_at"]) == dt.datetime(
        THIS_YEAR, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert (await wallet(client, citizen))["next_expiry"] is None  # expiry off there
    reward = await make_reward(client, admin, cost_points=30)
    assert (await redeem(client, citizen, reward["id"])).status_code == 201  # from the 70
    now = dt.datetime.now(dt.UTC)
    runs = await asyncio.gather(*[expire_points(app.state.db, years=1, tz=app.state.settings.tz,
                                                now=now) for _ in range(3)])
    async with app.state.db.connect() as conn:
        expiries = (await conn.execute(text(
            "SELECT points, memo FROM journal_entries WHERE citizen_id = :c AND kind = 'expiry'"),
            {"c": citizen.id})).all()
    assert [tuple(e) for e in expiries] == [(-40, f"points earned in {THIS_YEAR - 2} expired")]
    assert sum(r.points for r in runs) >= 40
    after = await wallet(expiring, citizen)
    assert after["balance"] == 65
    assert after["next_expiry"]["points"] == 40
    assert dt.datetime.fromisoformat(after["next_expiry"]["expires_at"]).year == THIS_YEAR + 1
    a_year_on = await expire_points(app.state.db, years=1, tz=app.state.settings.tz,
                                    now=dt.datetime(THIS_YEAR + 1, 1, 15, tzinfo=dt.UTC))
    assert a_year_on.points >= 40
    assert (await wallet(expiring, citizen))["balance"] == 25
    kinds = Counter(e["kind"] for e in (await client.get(
        "/v1/wallet/entries", headers=citizen.headers)).json()["items"])
    assert kinds == {"behaviour_credit": 3, "redemption": 1, "expiry": 2}
