"""Orders: quotes that reserve serials, paid or expired; never one serial in two holdings."""

from __future__ import annotations

import asyncio
import secrets

from sqlalchemy import text

from tests.registry.conftest import credit, issue_batch, vintage


async def issued(app, client, admin, verifier, citizen, methodology, tonnes: int) -> dict:
    await credit(app, citizen.id, methodology, "1000000", tonnes)
    return await issue_batch(client, admin, verifier, vintage(methodology))


async def order(client, user, quantity, key: str | None = None):
    return await client.post("/v1/orders", headers={
        **user.headers, "Idempotency-Key": key or "order-" + secrets.token_hex(8)},
        json={"quantity_t": quantity})


async def new_enterprise(client, admin, make_user):
    r = await client.post("/v1/admin/organisations", headers=admin.headers,
                          json={"name": f"会展公司 {secrets.token_hex(4)}"})
    assert r.status_code == 201, r.text
    return await make_user("enterprise", organisation_id=r.json()["id"])


async def release_all_available(app) -> None:
    """Other tests' credits must not be sold here: take them out of the market (their open
    quotes too, which would otherwise count in the market a quote may take a share of)."""
    async with app.state.db.connect() as conn:
        await conn.execute(text("UPDATE credit_orders SET expires_at = now() - interval '1 s' "
                                "WHERE status = 'reserved'"))
    await app.state.orders.expire()
    async with app.state.db.connect() as conn:
        await conn.execute(text("UPDATE credit_blocks SET state = 'cancelled', "
                                "reason = 'test isolation' WHERE state = 'available'"))


async def test_thirty_organisations_racing_never_share_a_serial(
        app, client, admin, verifier, citizen, methodology, make_user):
    await release_all_available(app)
    batch = await issued(app, client, admin, verifier, citizen, methodology, 500)
    buyers = [await new_enterprise(client, admin, make_user) for _ in range(30)]
    answers = await asyncio.gather(*[order(client, b, 40) for b in buyers])
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] * 12 + [409] * 18, statuses
    lost = next(r for r in answers if r.status_code == 409).json()
    assert lost["code"] == "insufficient_credits" and lost["available_t"] < 40
    async with app.state.db.engine.connect() as conn:
        blocks = (await conn.execute(text(
            "SELECT first_serial, last_serial, state, order_id FROM credit_blocks "
            "WHERE batch_id = :b ORDER BY first_serial"), {"b": batch["id"]})).all()
    serials = [n for k in blocks for n in range(k.first_serial, k.last_serial + 1)]
    assert serials == list(range(1, 501))  # every serial of the batch, each once
    assert sum(k.last_serial - k.first_serial + 1 for k in blocks if k.state == "reserved") \
        == 480
    assert len({k.order_id for k in blocks if k.state == "reserved"}) == 12
    assert (await app.state.registry.verify()).ok


async def test_an_order_is_paid_or_expires_and_others_never_see_it(
        app, client, admin, verifier, citizen, methodology, make_user, enterprise, sole_buyer):
    await release_all_available(app)
    await issued(app, client, admin, verifier, citizen, methodology, 10)
    key = "order-" + secrets.token_hex(8)
    quote = await order(client, enterprise, 4, key)
    assert quote.status_code == 201, quote.text
    q = quote.json()
    assert (q["status"], q["price_cny_per_t"], q["amount_cny"]) == ("reserved", "40.00",
                                                                     "160.00")
    assert sum(s["quantity"] for s in q["serials"]) == 4
    replay = await order(client, enterprise, 4, key)
    assert (replay.status_code, replay.json()) == (201, q)
    assert (quote.headers["Idempotent-Replayed"], replay.headers["Idempotent-Replayed"]) == (
        "false", "true")
    reused = await order(client, enterprise, 5, key)  # same key, another body
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")

    other = await new_enterprise(client, admin, make_user)
    assert (await client.get(f"/v1/orders/{q['id']}", headers=other.headers)).status_code == 404
    assert (await client.get("/v1/orders", headers=other.headers)).json()["items"] == []

    paid = await client.post(f"/v1/admin/orders/{q['id']}/confirm-payment",
                             headers=admin.headers, json={"reference": "ICBC 20261123-01"})
    assert paid.status_code == 200, paid.text
    assert (paid.json()["status"], paid.json()["payment_reference"]) == ("paid",
                                                                         "ICBC 20261123-01")
    again = await client.post(f"/v1/admin/orders/{q['id']}/confirm-payment",
                              headers=admin.headers, json={"reference": "again"})
    assert again.json()["payment_reference"] == "ICBC 20261123-01"
    holdings = (await client.get("/v1/holdings", headers=enterprise.headers)).json()
    assert holdings["held_t"] == 4 and holdings["blocks"] == q["serials"]
    serial = (await client.get(f"/v1/registry/serials/{q['serials'][0]['first']}")).json()
    assert serial["state"] == "held"

    late = (await order(client, enterprise, 6)).json()  # the other 6, never paid
    async with app.state.db.connect() as conn:  # its time runs out
        await conn.execute(text("UPDATE credit_orders SET expires_at = now() - interval '1 s' "
                                "WHERE id = :id"), {"id": late["id"]})
    expired = await client.post(f"/v1/admin/orders/{late['id']}/confirm-payment",
                                headers=admin.headers, json={"reference": "too late"})
    assert expired.status_code == 409 and expired.json()["code"] == "order_expired"
    shown = (await client.get(f"/v1/orders/{late['id']}", headers=enterprise.headers)).json()
    assert (shown["status"], shown["serials"]) == ("expired", [])
    assert (await order(client, other, 6)).status_code == 201  # released, sold again
    page = (await client.get("/v1/orders", headers=enterprise.headers,
                             params={"limit": 1})).json()
    assert [o["id"] for o in page["items"]] == [late["id"]]  # newest first
    rest = (await client.get("/v1/orders", headers=enterprise.headers,
                             params={"limit": 1, "cursor": page["next_cursor"]})).json()
    assert [(o["id"], o["status"]) for o in rest["items"]] == [(q["id"], "paid")]
    assert rest["items"][0]["serials"] == q["serials"]
    assert (await app.state.registry.verify()).ok


async def test_bad_orders_are_refused_and_change_nothing(app, client, enterprise, citizen):
    for body in ({"quantity_t": 0}, {"quantity_t": -3}, {"quantity_t": 1.5},
                 {"quantity_t": "two"}, {"quantity_t": 10**12}, {}):
        key = "k-" + secrets.token_hex(6)
        r = await client.post("/v1/orders", json=body,
                              headers={**enterprise.headers, "Idempotency-Key": key})
        assert r.status_code == 422, (body, r.text)
    no_key = await client.post("/v1/orders", headers=enterprise.headers, json={"quantity_t": 1})
    assert no_key.status_code == 422 and no_key.json()["code"] == "idempotency_key_required"
    assert (await order(client, citizen, 1)).status_code == 403
    assert (await client.get("/v1/orders", headers=enterprise.headers)).json()["items"] == []


async def test_an_administrator_cancels_available_credits_with_a_reason(
        app, client, admin, verifier, citizen, methodology, enterprise, sole_buyer):
    await release_all_available(app)
    batch = await issued(app, client, admin, verifier, citizen, methodology, 10)
    prefix = batch["serials"]["first"].rsplit("-", 1)[0]
    r = await client.post("/v1/admin/credit-cancellations", headers=admin.headers, json={
        "first": f"{prefix}-000004", "last": f"{prefix}-000006", "reason": "double counted"})
    assert r.status_code == 201, r.text
    assert r.json()["serials"]["quantity"] == 3
    shown = (await client.get(f"/v1/registry/serials/{prefix}-000005")).json()
    assert (shown["state"], shown["reason"]) == ("cancelled", "double counted")
    assert (await client.get(f"/v1/registry/batches/{batch['id']}")).json()[
        "available"] == 7
    quote = (await order(client, enterprise, 7)).json()
    assert sum(s["quantity"] for s in quote["serials"]) == 7
    assert all(not s["first"] <= f"{prefix}-000005" <= s["last"] for s in quote["serials"])
    reserved = await client.post("/v1/admin/credit-cancellations", headers=admin.headers,
                                 json={"first": f"{prefix}-000001", "last": f"{prefix}-000001",
                                       "reason": "too late"})
    assert reserved.status_code == 409 and reserved.json()["states"] == ["reserved"]
    for body in ({"first": f"{prefix}-000009", "last": f"{prefix}-000002", "reason": "x y z"},
                 {"first": "nonsense", "last": f"{prefix}-000002", "reason": "x y z"}):
        bad = await client.post("/v1/admin/credit-cancellations", headers=admin.headers,
                                json=body)
        assert bad.status_code == 422, bad.text
    assert (await app.state.registry.verify()).ok
