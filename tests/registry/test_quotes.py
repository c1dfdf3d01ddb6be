"""Unpaid quotes cannot hoard the registry (issue #16, item 9).

One organisation's unpaid orders used to be able to reserve every available credit, so
every other buyer got ``409 insufficient_credits``. Now an organisation has at most
``ORDER_OPEN_QUOTES_PER_ORG`` (3) open quotes and reserves at most
``ORDER_MAX_RESERVED_SHARE`` (0.5) of the market (available + reserved credits).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid

import pytest
from sqlalchemy import text

from carbon_inclusion.settings import Settings, SettingsError
from tests.registry.test_orders import issued, new_enterprise, order, release_all_available


async def reserved_by(app, organisation_id: str) -> tuple[int, int]:
    """(open quotes, tonnes they reserve) of the organisation, read from the tables."""
    async with app.state.db.engine.connect() as conn:
        quotes = await conn.scalar(text(
            "SELECT count(*) FROM credit_orders WHERE organisation_id = :o "
            "AND status = 'reserved'"), {"o": uuid.UUID(organisation_id)})
        tonnes = await conn.scalar(text(
            "SELECT coalesce(sum(last_serial - first_serial + 1), 0) FROM credit_blocks "
            "WHERE organisation_id = :o AND state = 'reserved'"),
            {"o": uuid.UUID(organisation_id)})
    return int(quotes), int(tonnes)


async def test_twenty_racing_orders_of_one_organisation_stay_within_both_limits(
        app, client, admin, verifier, citizen, methodology, make_user, organisation, enterprise):
    await release_all_available(app)
    await issued(app, client, admin, verifier, citizen, methodology, 100)
    sizes = [15, 20, 10, 25] * 5  # 20 orders, 350 t asked of a 100 t market
    answers = await asyncio.gather(*[order(client, enterprise, q) for q in sizes])
    won = [r for r in answers if r.status_code == 201]
    lost = [r for r in answers if r.status_code != 201]
    assert 1 <= len(won) <= 3, [r.status_code for r in answers]
    assert {r.status_code for r in lost} == {409}
    assert {r.json()["code"] for r in lost} <= {"too_many_open_quotes",
                                                 "reservation_share_exceeded"}
    quotes, tonnes = await reserved_by(app, organisation["id"])
    assert quotes == len(won) <= 3
    assert tonnes == sum(r.json()["quantity_t"] for r in won) <= 50
    for r in lost:
        body = r.json()
        if body["code"] == "too_many_open_quotes":
            assert body["open_quotes_limit"] == 3
        else:
            assert (body["limit_t"], body["max_reserved_share"]) == (50, "0.5")
    # Another organisation still buys: the first could not take the market.
    other = await new_enterprise(client, admin, make_user)
    bought = await order(client, other, 50)
    assert bought.status_code == 201, bought.text
    assert (await app.state.registry.verify()).ok


async def test_at_most_three_open_quotes_replays_answer_the_first_and_expired_ones_free_a_slot(
        app, client, admin, verifier, citizen, methodology, organisation, enterprise):
    await release_all_available(app)
    await issued(app, client, admin, verifier, citizen, methodology, 20)
    keys = [f"quote-{i}-{secrets.token_hex(4)}" for i in range(3)]
    first = [await order(client, enterprise, 1, k) for k in keys]
    assert [r.status_code for r in first] == [201] * 3
    fourth = await order(client, enterprise, 1)
    assert fourth.status_code == 409, fourth.text
    body = fourth.json()
    assert (body["code"], body["open_quotes"], body["open_quotes_limit"]) == (
        "too_many_open_quotes", 3, 3)
    # Replays at the limit answer the first order, concurrently too, and are not counted.
    replays = await asyncio.gather(*[order(client, enterprise, 1, keys[0]) for _ in range(5)])
    assert {(r.status_code, r.json()["id"]) for r in replays} == {(201, first[0].json()["id"])}
    assert {r.headers["Idempotent-Replayed"] for r in replays} == {"true"}
    assert (await reserved_by(app, organisation["id"])) == (3, 3)
    # A quote past its time is not open: it frees its slot, even before any sweep.
    async with app.state.db.connect() as conn:
        await conn.execute(text("UPDATE credit_orders SET expires_at = now() - interval '1 s' "
                                "WHERE id = :id"), {"id": uuid.UUID(first[1].json()["id"])})
    again = await order(client, enterprise, 1)
    assert again.status_code == 201, again.text
    # A paid quote is the organisation's holding, not an open quote.
    paid = await client.post(f"/v1/admin/orders/{first[2].json()['id']}/confirm-payment",
                             headers=admin.headers, json={"reference": "ICBC 0001"})
    assert paid.status_code == 200, paid.text
    assert (await order(client, enterprise, 1)).status_code == 201
    assert (await reserved_by(app, organisation["id"])) == (3, 3)


async def test_one_organisation_reserves_at_most_half_the_market_and_others_still_buy(
        app, client, admin, verifier, citizen, methodology, make_user, enterprise):
    await release_all_available(app)
    await issued(app, client, admin, verifier, citizen, methodology, 10)
    everything = await order(client, enterprise, 10)  # today: 201, and the market is gone
    assert everything.status_code == 409, everything.text
    body = everything.json()
    assert (body["code"], body["limit_t"], body["reserved_t"], body["requested_t"],
            body["max_reserved_share"]) == ("reservation_share_exceeded", 10 // 2, 0, 10, "0.5")
    assert [e["field"] for e in body["errors"]] == ["quantity_t"]
    assert (await order(client, enterprise, 5)).status_code == 201
    more = await order(client, enterprise, 1)
    assert (more.status_code, more.json()["code"], more.json()["reserved_t"]) == (
        409, "reservation_share_exceeded", 5)
    other = await new_enterprise(client, admin, make_user)
    assert (await order(client, other, 5)).status_code == 201
    # The market is not less for being reserved: half of it stays half of 10.
    assert (await order(client, other, 1)).json()["code"] == "insufficient_credits"


async def test_the_last_credit_can_still_be_sold(app, client, admin, verifier, citizen, methodology,
                                                 enterprise):
    """Half of one credit rounds down to none; the limit is at least one tonne."""
    await release_all_available(app)
    await issued(app, client, admin, verifier, citizen, methodology, 1)
    assert (await order(client, enterprise, 1)).status_code == 201


@pytest.mark.parametrize(("env", "ok"), [
    ({"ORDER_OPEN_QUOTES_PER_ORG": "1", "ORDER_MAX_RESERVED_SHARE": "1"}, True),
    ({"ORDER_MAX_RESERVED_SHARE": "0.25"}, True),
    ({"ORDER_MAX_RESERVED_SHARE": "0"}, False),
    ({"ORDER_MAX_RESERVED_SHARE": "1.5"}, False),
    ({"ORDER_MAX_RESERVED_SHARE": "NaN"}, False),
    ({"ORDER_OPEN_QUOTES_PER_ORG": "0"}, False),
])
def test_the_quote_limits_are_settings(env, ok):
    if ok:
        Settings.from_env(env)
    else:
        with pytest.raises(SettingsError):
            Settings.from_env(env)


def test_the_defaults():
    defaults = Settings.from_env({})
    assert (defaults.order_open_quotes_per_org, str(defaults.order_max_reserved_share)) == (
        3, "0.5")
