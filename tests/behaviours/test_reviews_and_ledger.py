"""Review queue, reversals, the ledger's own guarantees, recomputation, simulate."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from carbon_inclusion import rules
from carbon_inclusion.ledger import service as ledger
from tests.behaviours.conftest import balance, bind, card, claim, days_ago, trip

SEED = Path(__file__).resolve().parents[2] / "seed" / "methodologies"


async def test_a_self_reported_drop_waits_for_review_then_is_paid(client, citizen, admin):
    # CQ-WASTE v2: 1.20 kg of recyclables × (−130.12 − (−230.17)) g/kg = 1.20 × 100.05 =
    # 120.06 → 120.1 g → 12 points (self-reported drops pay in full once reviewed).
    r = await claim(client, citizen, "waste_sorting", days_ago(1),
                    {"category": "recyclable", "weight_kg": "1.20"})
    b = r.json()
    assert (b["status"], b["points"], b["reason"]) == ("pending_review", 0, "needs_review")
    wallet = (await client.get("/v1/wallet/", headers=citizen.headers)).json()
    assert (wallet["balance"], wallet["pending"]) == (0, 12)
    queue = (await client.get("/v1/admin/reviews/?limit=100", headers=admin.headers)).json()
    assert b["id"] in [x["id"] for x in queue["items"]]
    # The queue narrowed to one behaviour type holds only that type.
    waste = (await client.get("/v1/admin/reviews/?limit=100&type=waste_sorting",
                              headers=admin.headers)).json()["items"]
    assert b["id"] in [x["id"] for x in waste] and {x["type"] for x in waste} == {"waste_sorting"}
    other = (await client.get("/v1/admin/reviews/?limit=100&type=transit_trip",
                              headers=admin.headers)).json()["items"]
    assert b["id"] not in [x["id"] for x in other]
    r = await client.post(f"/v1/admin/reviews/{b['id']}/approve", headers=admin.headers,
                          json={"reason": "photo of the station receipt"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reduction_g"], r.json()["points"]) == (
        "credited", "120.1", 12)
    assert await balance(client, citizen) == 12
    again = await client.post(f"/v1/admin/reviews/{b['id']}/approve", headers=admin.headers,
                              json={"reason": "twice"})
    assert again.status_code == 409
    assert await balance(client, citizen) == 12


async def test_rejecting_a_credited_behaviour_posts_a_reversal(client, citizen, admin):
    # CQ-TRANSIT v3, self-reported: 4 km × 26.9 g = 107.6 g, × 0.5 = 53.8 g → 5 points.
    r = await claim(client, citizen, "transit_trip", days_ago(1),
                    {"mode": "bus", "distance_km": "4"})
    b = r.json()
    assert await balance(client, citizen) == 5
    r = await client.post(f"/v1/admin/reviews/{b['id']}/reject", headers=admin.headers,
                          json={"reason": "no such bus line"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert await balance(client, citizen) == 0
    entries = (await client.get("/v1/wallet/entries", headers=citizen.headers)).json()["items"]
    assert [(e["kind"], e["points"]) for e in entries] == [("reversal", -5),
                                                           ("behaviour_credit", 5)]
    assert entries[0]["reverses_id"] == entries[1]["id"]
    wallet = (await client.get("/v1/wallet/", headers=citizen.headers)).json()
    assert wallet["lifetime_earned"] == 0


async def test_review_routes_are_for_administrators_only(client, citizen, enterprise):
    some = uuid.uuid4()
    for user in (citizen, enterprise):
        for method, path in [("GET", "/v1/admin/reviews/"),
                             ("POST", f"/v1/admin/reviews/{some}/approve"),
                             ("POST", f"/v1/admin/reviews/{some}/reject"),
                             ("POST", "/v1/admin/methodologies/CQ-TRANSIT/versions/2/simulate")]:
            r = await client.request(method, path, headers=user.headers, json={"reason": "x"})
            assert r.status_code == 403, (user.role, path)


async def test_the_database_refuses_an_unbalanced_entry_and_edits(app, citizen):
    cid = uuid.UUID(citizen.id)
    with pytest.raises(DBAPIError, match="does not balance"):
        async with app.state.db.connect() as conn:
            eid = uuid.uuid4()
            await conn.execute(text(
                "INSERT INTO journal_entries (id, citizen_id, kind, points, idempotency_key, "
                "request_hash) VALUES (:e, :c, 'behaviour_credit', 5, :k, '\\x00')"),
                {"e": eid, "c": cid, "k": f"test:{eid}"})
            await conn.execute(text(
                "INSERT INTO postings (entry_id, citizen_id, account, account_citizen_id, lot, "
                "amount) VALUES (:e, :c, 'citizen', :c, 2026, 5)"), {"e": eid, "c": cid})
    async with app.state.db.connect() as conn:
        (eid,) = await ledger.post(conn, [ledger.Entry(
            citizen_id=cid, kind="behaviour_credit", points=7, counter="issuance",
            idempotency_key=f"test:{uuid.uuid4()}", request_hash=b"\x01" * 32,
            lots=((2026, 7),))])
    for sql in ("UPDATE postings SET amount = amount * 2 WHERE entry_id = :e",
                "DELETE FROM journal_entries WHERE id = :e"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with app.state.db.connect() as conn:
                await conn.execute(text(sql), {"e": eid})


async def test_no_wallet_goes_negative(app, citizen):
    cid = uuid.UUID(citizen.id)
    async with app.state.db.connect() as conn:
        await ledger.post(conn, [ledger.Entry(
            citizen_id=cid, kind="behaviour_credit", points=10, counter="issuance",
            idempotency_key=f"test:{uuid.uuid4()}", request_hash=b"\x01" * 32,
            lots=((2025, 4), (2026, 6)))])
    with pytest.raises(DBAPIError, match="balance_not_negative"):
        async with app.state.db.connect() as conn:
            await ledger.post(conn, [ledger.Entry(
                citizen_id=cid, kind="redemption", points=-11, counter="redemption",
                idempotency_key=f"test:{uuid.uuid4()}", request_hash=b"\x02" * 32,
                lots=((2026, -11),))])
    # Nor does a lot, even when the wallet as a whole could pay.
    with pytest.raises(DBAPIError, match="ck_point_lots_balance_not_negative"):
        async with app.state.db.connect() as conn:
            await ledger.post(conn, [ledger.Entry(
                citizen_id=cid, kind="redemption", points=-5, counter="redemption",
                idempotency_key=f"test:{uuid.uuid4()}", request_hash=b"\x02" * 32,
                lots=((2025, -5),))])
    async with app.state.db.connect() as conn:
        assert (await ledger.wallet(conn, cid)).balance == 10
        assert await ledger.allocate(conn, {cid: 7}) == {cid: ((2025, -4), (2026, -3))}
        with pytest.raises(ledger.InsufficientPoints):
            await ledger.allocate(conn, {cid: 11})
        assert await ledger.allocate(conn, {cid: 11}, partial=True) == {
            cid: ((2025, -4), (2026, -6))}


@pytest.mark.parametrize(("type_", "data"), [
    ("transit_trip", {"mode": "metro", "distance_km": "23.7"}),
    ("transit_trip", {"mode": "bus", "distance_km": "6.4"}),
    ("transit_trip", {"mode": "bus"}),
    ("waste_sorting", {"category": "recyclable", "weight_kg": "2.35"}),
    ("waste_sorting", {"category": "hazardous"}),
    ("ev_charging", {"kwh": "41.27"}),
])
async def test_every_credited_behaviour_recomputes_to_the_same_figures(
        app, client, citizen, partner, type_, data):
    ref = card()
    await bind(client, citizen, partner, ref)
    record = {**trip(ref, days_ago(1)), "type": type_, "data": data}
    result = (await partner.push([record])).json()["results"][0]
    assert result["status"] == "credited", result
    async with app.state.db.connect() as conn:
        row = (await conn.execute(text(
            "SELECT b.data, b.evidence, b.computed_reduction_g, b.computed_points, m.document "
            "FROM behaviours b JOIN methodology_versions m ON m.id = b.methodology_id "
            "WHERE b.id = :b"), {"b": result["behaviour_id"]})).one()
    again = rules.compile_methodology(rules.load_document(row.document)).evaluate(
        row.data, row.evidence)
    assert (again.reduction_g, again.points) == (row.computed_reduction_g, row.computed_points)
    published = {json.loads(p.read_text())["code"]: p for p in SEED.glob("*.json")}
    assert row.document["code"] in published


async def test_simulate_compares_a_draft_with_what_was_paid(client, citizen, admin, partner):
    ref = card()
    await bind(client, citizen, partner, ref)
    at = days_ago(1, hour=6)
    await partner.push([trip(ref, at + dt.timedelta(hours=i), km="10.0") for i in range(3)])
    doc = json.loads((SEED / "cq-transit-v3.json").read_text())
    doc.update(version=4, effective_from="2030-01-01T00:00:00+08:00")
    doc["params"]["g_per_pkm"]["value"]["metro"] = "78.4"  # a Wuhan-2025-like factor
    r = await client.post("/v1/admin/methodologies/", headers=admin.headers, json=doc)
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/v1/admin/methodologies/CQ-TRANSIT/versions/{doc['version']}/simulate",
        headers=admin.headers,
        json={"occurred_from": (at - dt.timedelta(minutes=1)).isoformat(),
              "occurred_to": (at + dt.timedelta(hours=3)).isoformat()})
    assert r.status_code == 200, r.text
    rows = [x for x in r.json()["rows"] if x["district"] == "yuzhong"]
    assert len(rows) == 1
    row = rows[0]
    assert row["behaviours"] >= 3
    mine = 3  # 10 km: paid 468.0 g / 46 points each; simulated 784.0 g / 78 points each
    assert Decimal(row["simulated_reduction_g"]) - Decimal(row["paid_reduction_g"]) >= mine * (
        Decimal("784.0") - Decimal("468.0"))
    assert row["changed"] >= 3
