"""Compliance offsets (碳履约) against the register: the cap is the register's, for the
year's offsets together, and holds under a real race."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from decimal import Decimal

from sqlalchemy import text

from tests.emissions.conftest import enter, register
from tests.emissions.test_register import LAST_YEAR
from tests.events.test_events import buy
from tests.registry.conftest import methodology

__all__ = ["methodology"]  # the fixture, used by name


async def offset(client, buyer, quantity, year=LAST_YEAR, key=None, **extra):
    return await client.post("/v1/compliance-offsets/", json={
        "year": year, "quantity_t": quantity} | extra, headers={
        **buyer.headers, "Idempotency-Key": key or "c-" + secrets.token_hex(6)})


async def retired_for(app, organisation_id: str, year: int) -> tuple[int, int]:
    """(Σ compliance retirements of the year, credits retired for them in serial blocks)."""
    async with app.state.db.connect() as conn:
        row = (await conn.execute(text("""
            WITH t AS (SELECT id, quantity_t FROM retirements
                        WHERE organisation_id = :o AND kind = 'compliance'
                          AND (purpose->'compliance'->>'year')::int = :y)
            SELECT (SELECT coalesce(sum(quantity_t), 0) FROM t) AS retired,
                   (SELECT coalesce(sum(b.last_serial - b.first_serial + 1), 0)
                      FROM credit_blocks b JOIN t ON b.retirement_id = t.id
                     WHERE b.state = 'retired') AS in_blocks"""),
            {"o": uuid.UUID(organisation_id), "y": year})).one()
    return int(row.retired), int(row.in_blocks)


async def test_the_register_caps_offsets_whatever_the_buyer_states(
        app, client, admin, citizen, methodology, buyer, verifier, verification_body):
    """The issue's case: 1 t against 20 t, refused more, then 1 t more by stating 40 t."""
    org_id = buyer.extra["organisation"]["id"]
    await buy(app, client, admin, verifier, citizen, methodology, buyer, 4)
    entry = (await enter(client, verifier, org_id, LAST_YEAR, "20",
                         report_reference="CQ-MRV-0042")).json()

    first = await offset(client, buyer, 1, verified_emissions_t="20")
    assert first.status_code == 201, first.text
    c = first.json()["content"]["compliance"]
    assert (c["verified_emissions_t"], c["cap_t"], c["register_entry_id"],
            c["register_revision"], c["report_reference"], c["verified_by"]) == (
        "20.000", 1, entry["id"], 1, "CQ-MRV-0042",
        {"id": verification_body["id"], "name": verification_body["name"]})
    page = (await client.get(f"/v1/certificates/{first.json()['id']}/html")).text
    assert verification_body["name"] in page

    over = await offset(client, buyer, 1)
    assert (over.status_code, over.json()["code"]) == (409, "over_compliance_cap")
    assert (over.json()["cap_t"], over.json()["used_t"], over.json()["remaining_t"]) == (1, 1, 0)
    stated = await offset(client, buyer, 1, verified_emissions_t="40")
    assert (stated.status_code, stated.json()["code"]) == (422, "verified_emissions_mismatch")
    assert [e["field"] for e in stated.json()["errors"]] == ["verified_emissions_t"]
    assert Decimal(stated.json()["registered_t"]) == 20

    holdings = (await client.get("/v1/holdings", headers=buyer.headers)).json()
    assert (holdings["held_t"], holdings["retired_t"]) == (3, 1)
    year = (await register(client, buyer)).json()["items"][0]
    assert (year["cap_t"], year["offset_t"], year["remaining_t"]) == (1, 1, 0)

    # Only the verifier raises the cap, by correcting the register; the latest revision counts.
    await enter(client, verifier, org_id, LAST_YEAR, "40", reason="the boiler house")
    assert (await offset(client, buyer, 1, verified_emissions_t="20")).status_code == 422
    again = await offset(client, buyer, 1, verified_emissions_t="40.000")
    assert again.status_code == 201, again.text
    assert again.json()["content"]["compliance"]["register_revision"] == 2
    assert (await offset(client, buyer, 1)).json()["code"] == "over_compliance_cap"
    assert await retired_for(app, org_id, LAST_YEAR) == (2, 2)


async def test_a_year_without_verified_emissions_cannot_be_offset(
        app, client, admin, citizen, methodology, buyer, verifier):
    org_id = buyer.extra["organisation"]["id"]
    await buy(app, client, admin, verifier, citizen, methodology, buyer, 2)
    for extra in ({}, {"verified_emissions_t": "1000"}):
        r = await offset(client, buyer, 1, **extra)
        assert (r.status_code, r.json()["code"]) == (409, "no_verified_emissions"), r.text
        assert [e["field"] for e in r.json()["errors"]] == ["year"]
    # Another year's entry, or another organisation's, does not count.
    await enter(client, verifier, org_id, LAST_YEAR - 1, "1000")
    assert (await offset(client, buyer, 1)).json()["code"] == "no_verified_emissions"
    assert await retired_for(app, org_id, LAST_YEAR) == (0, 0)
    assert (await offset(client, buyer, 1, year=LAST_YEAR - 1)).status_code == 201


async def test_a_retried_offset_is_applied_once(
        app, client, admin, citizen, methodology, buyer, verifier):
    org_id = buyer.extra["organisation"]["id"]
    await buy(app, client, admin, verifier, citizen, methodology, buyer, 6)
    await enter(client, verifier, org_id, LAST_YEAR, "100")
    k = "c-" + secrets.token_hex(6)
    first = await offset(client, buyer, 2, key=k)
    assert first.status_code == 201, first.text
    for same in ({}, {"verified_emissions_t": "100"}, {"verified_emissions_t": "100.000"}):
        again = await offset(client, buyer, 2, key=k, **same)
        assert (again.status_code, again.json()) == (201, first.json()), same
        assert again.headers["Idempotent-Replayed"] == "true"
    for changed in ({"quantity_t": 3}, {"verified_emissions_t": "100.5"}, {"year": LAST_YEAR - 1}):
        reused = await client.post("/v1/compliance-offsets/", headers={
            **buyer.headers, "Idempotency-Key": k},
            json={"year": LAST_YEAR, "quantity_t": 2} | changed)
        assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")
    retried = await asyncio.gather(*(offset(client, buyer, 1, key="r-" + k) for _ in range(8)))
    assert {r.status_code for r in retried} == {201}
    assert len({r.json()["id"] for r in retried}) == 1
    assert await retired_for(app, org_id, LAST_YEAR) == (3, 3)


async def test_twenty_concurrent_offsets_of_one_year_never_exceed_the_cap(
        app, client, admin, citizen, methodology, buyer, verifier):
    org_id = buyer.extra["organisation"]["id"]
    await buy(app, client, admin, verifier, citizen, methodology, buyer, 30)
    await enter(client, verifier, org_id, LAST_YEAR, "219.999")  # 5 %: 10.99995 -> 10 t
    quantities = [1, 2, 3] * 6 + [1, 2]  # 38 t asked for, 20 requests at once
    answers = await asyncio.gather(*(offset(client, buyer, q) for q in quantities))
    accepted = [q for q, r in zip(quantities, answers, strict=True) if r.status_code == 201]
    refused = [r for r in answers if r.status_code != 201]
    assert all((r.status_code, r.json()["code"]) == (409, "over_compliance_cap")
               for r in refused), [r.text for r in refused]
    assert sum(accepted) <= 10
    assert 10 - min(quantities) < sum(accepted)  # refused only what did not fit
    assert await retired_for(app, org_id, LAST_YEAR) == (sum(accepted), sum(accepted))
    holdings = (await client.get("/v1/holdings", headers=buyer.headers)).json()
    assert (holdings["held_t"], holdings["retired_t"]) == (30 - sum(accepted), sum(accepted))
    year = (await register(client, buyer)).json()["items"][0]
    assert (year["cap_t"], year["offset_t"]) == (10, sum(accepted))


async def test_garbage_offsets_are_422_naming_the_field_and_change_nothing(
        app, client, admin, citizen, methodology, buyer, verifier):
    org_id = buyer.extra["organisation"]["id"]
    await buy(app, client, admin, verifier, citizen, methodology, buyer, 2)
    await enter(client, verifier, org_id, LAST_YEAR, "100")
    cases = [({"year": 1999}, "year"), ({"year": 2101}, "year"), ({"year": "5_0"}, "year"),
             ({"year": 10**40}, "year"), ({"year": None}, "year"),
             ({"quantity_t": 0}, "quantity_t"), ({"quantity_t": -1}, "quantity_t"),
             ({"quantity_t": 10**12}, "quantity_t"), ({"quantity_t": "1"}, "quantity_t"),
             ({"quantity_t": "5_0"}, "quantity_t"), ({"quantity_t": 1.5}, "quantity_t"),
             ({"verified_emissions_t": "-1"}, "verified_emissions_t"),
             ({"verified_emissions_t": "NaN"}, "verified_emissions_t"),
             ({"verified_emissions_t": "1e999999"}, "verified_emissions_t"),
             ({"verified_emissions_t": 1e300}, "verified_emissions_t"),
             ({"verified_emissions_t": "x"}, "verified_emissions_t"),
             ({"verified_emissions_t": []}, "verified_emissions_t"),
             ({"verified_emissions_t": "99.999"}, "verified_emissions_t"),
             ({"cap": 1}, "cap")]
    for change, field in cases:
        r = await client.post("/v1/compliance-offsets/", headers={
            **buyer.headers, "Idempotency-Key": "g-" + secrets.token_hex(6)},
            json={"year": LAST_YEAR, "quantity_t": 1} | change)
        assert r.status_code == 422, (change, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (change, r.json())
    r = await client.post("/v1/compliance-offsets/", headers=buyer.headers,
                          json={"year": LAST_YEAR, "quantity_t": 1})
    assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "Idempotency-Key")
    assert await retired_for(app, org_id, LAST_YEAR) == (0, 0)
