"""Event footprints, neutralisation, certificates and compliance offsets."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import secrets
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from carbon_inclusion.rules import canonical_json
from tests.behaviours.conftest import claim, days_ago
from tests.registry.conftest import credit, issue_batch, methodology, vintage, whole_market

__all__ = ["methodology"]  # the fixture, used by name

ROOT = Path(__file__).resolve().parents[2]
FACTORS = json.loads((ROOT / "seed" / "footprints" / "cq-event-v1.json").read_text(
    encoding="utf-8"))["params"]["g_per_unit"]["value"]
ORG_NAME = "重庆两江绿色会展有限公司"

EVENT = {"name": "2026 重庆低碳发展论坛", "starts_on": "2026-11-10", "ends_on": "2026-11-11",
         "venue": "重庆国际博览中心", "attendees": 300,
         "travel": [{"mode": "air", "distance_km": "1500", "people": 4},
                    {"mode": "rail", "distance_km": "300", "people": 40},
                    {"mode": "metro", "distance_km": "12.5", "people": 250}],
         "hotel_room_nights": 30, "meals": 600, "vegetarian_meals": 60,
         "electricity_kwh": "2500", "materials": [{"material": "paper", "kg": "120"}],
         "waste_kg": "300"}


def expected_grams(event: dict) -> dict[str, Decimal]:
    f = {k: Decimal(v) for k, v in FACTORS.items()}
    travel = sum(Decimal(x["distance_km"]) * x["people"] * f[f"travel_{x['mode']}_pkm"]
                 * (2 if x.get("round_trip", True) else 1)  # there and back by default
                 for x in event["travel"])
    return {"travel": travel, "accommodation": event["hotel_room_nights"] * f["hotel_room_night"],
            "catering": event["meals"] * f["meal"] + event["vegetarian_meals"]
            * f["meal_vegetarian"],
            "venue_energy": Decimal(event["electricity_kwh"]) * f["electricity_kwh"],
            "materials": Decimal(event["materials"][0]["kg"]) * f["paper_kg"],
            "waste": Decimal(event["waste_kg"]) * f["waste_kg"]}


@pytest.fixture
async def org(client, admin, make_user):
    r = await client.post("/v1/admin/organisations", headers=admin.headers,
                          json={"name": f"{ORG_NAME}{secrets.token_hex(2)}"})
    assert r.status_code == 201, r.text
    user = await make_user("enterprise", organisation_id=r.json()["id"])
    user.extra["name"] = r.json()["name"]
    return user


async def buy(app, client, admin, verifier, citizen, methodology, buyer, tonnes: int) -> None:
    """Issue ``tonnes`` from whole-tonne behaviours and sell them all to ``buyer``."""
    await credit(app, citizen.id, methodology, "1000000", tonnes)
    batch = await issue_batch(client, admin, verifier, vintage(methodology))
    async with app.state.db.connect() as conn:  # only this batch is on the market here
        await conn.execute(text(
            "UPDATE credit_blocks SET state = 'cancelled', reason = 'test isolation' "
            "WHERE state = 'available' AND batch_id <> :b"), {"b": batch["id"]})
    with whole_market(app):  # the buyer takes the whole market in one unpaid quote
        order = await client.post("/v1/orders", json={"quantity_t": tonnes}, headers={
            **buyer.headers, "Idempotency-Key": "order-" + secrets.token_hex(8)})
    assert order.status_code == 201, order.text
    paid = await client.post(f"/v1/admin/orders/{order.json()['id']}/confirm-payment",
                             headers=admin.headers, json={"reference": "transfer 001"})
    assert paid.status_code == 200, paid.text


async def test_an_events_footprint_is_scored_line_by_line(client, org):
    r = await client.post("/v1/events/", headers=org.headers, json=EVENT)
    assert r.status_code == 201, r.text
    fp = r.json()["footprint"]
    want = expected_grams(EVENT)
    got = {s["source"]: Decimal(s["grams"]) for s in fp["breakdown"]}
    assert got == want
    total = sum(want.values())
    assert Decimal(fp["total_g"]) == total
    assert fp["credits_needed"] == int((total / 1_000_000).to_integral_value(ROUND_CEILING))
    assert (fp["methodology_code"], fp["methodology_version"]) == ("CQ-EVENT", 1)
    assert [x["field"] for x in fp["lines"] if x["source"] == "travel"] == [
        "travel[0]", "travel[1]", "travel[2]"]
    assert [x["source"] for x in fp["breakdown"]] == sorted(want, key=lambda k: -want[k])
    listed = (await client.get("/v1/events/", headers=org.headers)).json()["items"]
    assert [e["id"] for e in listed] == [r.json()["id"]]
    assert listed[0]["footprint"] == fp
    later = (await client.post("/v1/events/", headers=org.headers, json=EVENT)).json()
    page = (await client.get("/v1/events/", headers=org.headers, params={"limit": 1})).json()
    assert [e["id"] for e in page["items"]] == [later["id"]]  # newest first
    rest = (await client.get("/v1/events/", headers=org.headers, params={
        "limit": 1, "cursor": page["next_cursor"]})).json()
    assert ([e["id"] for e in rest["items"]], rest["next_cursor"]) == ([r.json()["id"]], None)


async def test_footprint_inputs_out_of_range_are_refused_and_change_nothing(client, org):
    cases = [({"ends_on": "2026-11-01"}, "ends_on"),
             ({"travel": [{"mode": "air", "distance_km": "0", "people": 3}]},
              "travel[0].distance_km"),
             ({"travel": [{"mode": "air", "distance_km": "99999", "people": 3}]},
              "travel[0].distance_km"),
             ({"electricity_kwh": "-5"}, "electricity_kwh"),
             ({"electricity_kwh": "NaN"}, "electricity_kwh"),
             ({"materials": [{"material": "paper", "kg": "0"}]}, "materials[0].kg"),
             ({"travel": [{"mode": "air", "distance_km": "40000", "people": 1000000}]},
              "travel[0]")]
    for change, field in cases:
        r = await client.post("/v1/events/", headers=org.headers, json=EVENT | change)
        assert r.status_code == 422, (change, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (change, r.json())
    for change in ({"travel": [{"mode": "rocket", "distance_km": "5", "people": 1}]},
                   {"attendees": 0}, {"hotel_room_nights": -1}, {"guests": 3}):
        r = await client.post("/v1/events/", headers=org.headers, json=EVENT | change)
        assert r.status_code == 422, (change, r.text)
    assert (await client.get("/v1/events/", headers=org.headers)).json()["items"] == []


async def test_neutralising_retires_whole_credits_and_certifies_them(
        app, client, admin, verifier, citizen, methodology, org, make_user):
    event = (await client.post("/v1/events/", headers=org.headers, json=EVENT)).json()
    needed = event["footprint"]["credits_needed"]
    short = await client.post(f"/v1/events/{event['id']}/neutralize", headers=org.headers)
    assert short.status_code == 409 and short.json()["shortfall_t"] == needed

    await buy(app, client, admin, verifier, citizen, methodology, org, needed + 2)
    answers = await asyncio.gather(*[client.post(f"/v1/events/{event['id']}/neutralize",
                                                 headers=org.headers) for _ in range(5)])
    assert sorted(r.status_code for r in answers) == [200] * 4 + [201]
    assert len({r.json()["id"] for r in answers}) == 1
    cert = answers[0].json()
    assert cert["sha256"] == hashlib.sha256(canonical_json(cert["content"])).hexdigest()
    retired = cert["content"]["retired"]
    assert retired["quantity_t"] == needed == sum(s["quantity"] for s in retired["serials"])
    holdings = (await client.get("/v1/holdings", headers=org.headers)).json()
    assert (holdings["held_t"], holdings["retired_t"]) == (2, needed)
    shown = (await client.get(f"/v1/events/{event['id']}", headers=org.headers)).json()
    assert (shown["status"], shown["certificate_id"]) == ("neutralized", cert["id"])

    # From the certificate back to the behaviours: every retired serial resolves to its
    # batch, and the batch's allocations are the grams behind them.
    for s in retired["serials"]:
        for serial in (s["first"], s["last"]):
            found = (await client.get(f"/v1/registry/serials/{serial}")).json()
            assert (found["state"], found["batch"]["id"]) == ("retired", s["batch_id"])
            assert found["certificate_id"] == cert["id"]
    async with app.state.db.engine.connect() as conn:
        grams = await conn.scalar(text("""
            SELECT sum(a.grams) FROM credit_allocations a
              JOIN behaviours b ON b.id = a.behaviour_id AND b.status = 'credited'
             WHERE a.batch_id = :batch AND a.behaviour_id IN (
                   SELECT behaviour_id FROM credit_allocations WHERE batch_id = :batch
                    ORDER BY behaviour_id LIMIT :n)"""),
            {"batch": retired["serials"][0]["batch_id"], "n": needed})
    assert grams == needed * Decimal(1_000_000)  # whole-tonne behaviours: one per credit

    other = await make_user("enterprise", organisation_id=(await client.post(
        "/v1/admin/organisations", headers=admin.headers,
        json={"name": f"另一家公司 {secrets.token_hex(3)}"})).json()["id"])
    assert (await client.get(f"/v1/events/{event['id']}", headers=other.headers)
            ).status_code == 404
    assert (await client.post(f"/v1/events/{event['id']}/neutralize", headers=other.headers)
            ).status_code == 404


async def test_the_certificate_is_public_as_json_html_and_a_pdf(
        app, client, admin, verifier, citizen, methodology, org):
    event = (await client.post("/v1/events/", headers=org.headers, json=EVENT)).json()
    await buy(app, client, admin, verifier, citizen, methodology, org,
              event["footprint"]["credits_needed"])
    cert = (await client.post(f"/v1/events/{event['id']}/neutralize",
                              headers=org.headers)).json()
    serials = cert["content"]["retired"]["serials"]
    public = await client.get(f"/v1/certificates/{cert['id']}")  # no sign-in
    assert public.status_code == 200 and public.json()["sha256"] == cert["sha256"]
    page = await client.get(f"/v1/certificates/{cert['id']}", headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    assert org.extra["name"] in page.text and cert["sha256"] in page.text and "<svg" in page.text
    pdf = await client.get(f"/v1/certificates/{cert['id']}/pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    words = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert org.extra["name"] in words
    assert "碳中和证书" in words and EVENT["name"] in words
    for s in serials:
        assert s["first"] in words and s["last"].rsplit("-", 1)[1] in words
    assert cert["sha256"] in words

    fixed = await client.post(f"/v1/admin/certificates/{cert['id']}/cancel",
                              headers=admin.headers, json={"reason": "wrong event name"})
    assert fixed.status_code == 200, fixed.text
    new = fixed.json()
    assert new["id"] != cert["id"] and new["content"]["replaces"] == cert["number"]
    assert new["content"]["retired"] == cert["content"]["retired"]
    old = (await client.get(f"/v1/certificates/{cert['id']}")).json()
    assert (old["status"], old["replaced_by"], old["content"]) == (
        "cancelled", new["id"], cert["content"])
    assert (await client.post(f"/v1/admin/certificates/{cert['id']}/cancel",
                              headers=admin.headers, json={"reason": "again"})
            ).status_code == 409
    with pytest.raises(DBAPIError, match="fixed"):
        async with app.state.db.connect() as conn:
            await conn.execute(text("UPDATE certificates SET content = '{}' WHERE id = :id"),
                               {"id": new["id"]})


async def test_the_footprint_methodology_never_scores_a_citizen(client, citizen):
    r = await claim(client, citizen, "event_footprint", days_ago(1),
                    {"category": "meal", "quantity": "1"})
    assert r.status_code == 422 and "type" in {e["field"] for e in r.json()["errors"]}
