"""Issue #16 items 3 and 4: a partner reports only the behaviour types (and districts) the
administrator gave it; the same trip sent by two partners is paid once."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets

from tests.behaviours.conftest import Partner, balance, bind, card, days_ago, trip


async def transit_partner(client, admin) -> Partner:
    """A metro operator as the administrator creates one: no scope given, its kind's."""
    r = await client.post("/v1/admin/partners/", headers=admin.headers, json={
        "id": "t-" + secrets.token_hex(4), "name": "重庆轨道交通", "kind": "transit"})
    assert r.status_code == 201, r.text
    return Partner(client, r.json())


def charging(ref: str, at: dt.datetime) -> dict:
    return {"external_id": "e-" + secrets.token_hex(6), "external_ref": ref,
            "type": "ev_charging", "occurred_at": at.isoformat(), "data": {"kwh": "41.27"}}


def sorting(ref: str, at: dt.datetime) -> dict:
    return {"external_id": "w-" + secrets.token_hex(6), "external_ref": ref,
            "type": "waste_sorting", "occurred_at": at.isoformat(),
            "data": {"category": "recyclable", "weight_kg": "2.35"}}


async def test_a_transit_partner_cannot_report_charging_or_sorting(client, admin, citizen):
    metro = await transit_partner(client, admin)
    listed = (await client.get("/v1/admin/partners/", headers=admin.headers)).json()["items"]
    mine = next(p for p in listed if p["id"] == metro.id)
    assert (mine["behaviour_types"], mine["districts"]) == (["transit_trip"], None)
    ref = card()
    await bind(client, citizen, metro, ref)
    before = await balance(client, citizen)
    ev = charging(ref, days_ago(1, hour=9))
    r = await metro.push([trip(ref, days_ago(1, hour=8)), ev, sorting(ref, days_ago(1, hour=10))])
    assert r.status_code == 200, r.text
    assert [(x["status"], x["reason"]) for x in r.json()["results"]] == [
        ("credited", None), ("rejected", "outside_partner_scope"),
        ("rejected", "outside_partner_scope")]
    assert await balance(client, citizen) == before + 58

    # The administrator widens its scope: the refused record (not kept) may be sent again.
    scoped = await client.put(f"/v1/admin/partners/{metro.id}/scope", headers=admin.headers,
                              json={"behaviour_types": ["transit_trip", "ev_charging"]})
    assert scoped.status_code == 200, scoped.text
    assert scoped.json()["behaviour_types"] == ["ev_charging", "transit_trip"]
    again = await metro.push([ev])
    assert again.json()["results"][0]["status"] == "credited"
    missing = await client.put("/v1/admin/partners/no-such-one/scope", headers=admin.headers,
                               json={"behaviour_types": []})
    assert missing.status_code == 404


async def test_a_partner_scoped_to_districts_reports_only_their_citizens(
        client, admin, make_citizen):
    r = await client.post("/v1/admin/partners/", headers=admin.headers, json={
        "id": "d-" + secrets.token_hex(4), "name": "江北公交", "kind": "transit",
        "districts": ["jiangbei"]})
    assert r.status_code == 201, r.text
    bus = Partner(client, r.json())
    north, centre = await make_citizen(district="jiangbei"), await make_citizen()
    ref_n, ref_c = card(), card()
    await bind(client, north, bus, ref_n)
    await bind(client, centre, bus, ref_c)
    pushed = await bus.push([trip(ref_c, days_ago(1, hour=8)), trip(ref_n, days_ago(1, hour=8))])
    assert [(x["status"], x["reason"]) for x in pushed.json()["results"]] == [
        ("rejected", "outside_partner_scope"), ("credited", None)]


async def test_the_same_trip_from_two_partners_is_paid_once(client, admin, citizen):
    metro, bus = await transit_partner(client, admin), await transit_partner(client, admin)
    ref_m, ref_b = card(), card()
    await bind(client, citizen, metro, ref_m)
    await bind(client, citizen, bus, ref_b)
    before = await balance(client, citizen)
    at = days_ago(1, hour=8)
    first = (await metro.push([trip(ref_m, at)])).json()["results"][0]
    second = (await bus.push([trip(ref_b, at + dt.timedelta(minutes=3))])).json()["results"][0]
    assert first["status"] == "credited"
    assert (second["status"], second["reason"], second["points"]) == (
        "pending_review", "duplicate_trip", 0)
    assert await balance(client, citizen) == before + 58
    # Kept, not paid, and shown to review.
    queue = (await client.get("/v1/admin/reviews/?limit=100", headers=admin.headers)).json()
    shown = next(b for b in queue["items"] if b["id"] == second["behaviour_id"])
    assert shown["flags"] == ["duplicate_trip"] and shown["reason"] == "duplicate_trip"
    assert shown["reason_detail"] == {"behaviour_id": first["behaviour_id"]}
    assert shown["partner_id"] == bus.id
    # Another trip later the same day is another trip.
    later = (await bus.push([trip(ref_b, at + dt.timedelta(hours=2))])).json()["results"][0]
    assert later["status"] == "credited"


async def test_the_same_trip_from_two_partners_at_once_is_paid_once(client, admin, citizen):
    metro, bus = await transit_partner(client, admin), await transit_partner(client, admin)
    ref_m, ref_b = card(), card()
    await bind(client, citizen, metro, ref_m)
    await bind(client, citizen, bus, ref_b)
    before = await balance(client, citizen)
    trips = [days_ago(2, hour=h) for h in (7, 12, 17, 21)]
    answers = await asyncio.gather(
        metro.push([trip(ref_m, at) for at in trips]),
        bus.push([trip(ref_b, at + dt.timedelta(minutes=2)) for at in trips]))
    results = [x for a in answers for x in a.json()["results"]]
    assert sorted(x["status"] for x in results) == ["credited"] * 4 + ["pending_review"] * 4
    assert {x["reason"] for x in results if x["status"] == "pending_review"} == {
        "duplicate_trip"}
    assert await balance(client, citizen) == before + 4 * 58


async def test_one_batch_cannot_send_one_trip_twice(client, admin, citizen):
    metro = await transit_partner(client, admin)
    ref = card()
    await bind(client, citizen, metro, ref)
    at = days_ago(1, hour=18)
    r = await metro.push([trip(ref, at), trip(ref, at + dt.timedelta(minutes=5))])
    assert [(x["status"], x["reason"]) for x in r.json()["results"]] == [
        ("credited", None), ("pending_review", "duplicate_trip")]
