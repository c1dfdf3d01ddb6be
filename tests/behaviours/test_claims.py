"""App claims: scoring, idempotency under races, daily caps under races, bad input."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from carbon_inclusion.behaviours.schemas import ClaimIn
from carbon_inclusion.behaviours.service import BehaviourService
from carbon_inclusion.errors import RateLimited
from tests.behaviours.conftest import SHANGHAI, balance, claim, days_ago, key


async def test_a_claim_is_scored_by_the_version_in_force_and_paid(client, citizen):
    # CQ-TRANSIT v3 (in force since 2026-11-01), self-reported: 12.5 km × 46.8 g = 585.0 g,
    # × 0.5 = 292.5 g → 29 points.
    r = await claim(client, citizen, "transit_trip", days_ago(1),
                    {"mode": "metro", "distance_km": "12.5"})
    assert r.status_code == 201, r.text
    b = r.json()
    assert (b["status"], b["reduction_g"], b["points"]) == ("credited", "292.5", 29)
    assert b["methodology"] == {"code": "CQ-TRANSIT", "version": 3}
    assert b["evidence"] == "self_reported" and b["reason"] is None
    assert b["explanation"]["intermediates"]["evidence_factor"] == "0.5"
    assert b["explanation"]["params"]["g_per_pkm"]["metro"] == "46.8"
    assert await balance(client, citizen) == 29
    entries = (await client.get("/v1/wallet/entries", headers=citizen.headers)).json()["items"]
    assert [(e["kind"], e["points"], e["behaviour_id"]) for e in entries] == [
        ("behaviour_credit", 29, b["id"])]


async def test_the_version_in_force_at_occurred_at_scores_it(app, citizen):
    # v1 (to 2026-10-01 00:00 +08:00) pays a bus ride 120 g whatever the distance; v2 (to
    # 2026-11-01) pays 8 km × 26.9 g = 215.2 g; v3 pays min(8 × 26.9, 120) = 120 g.
    # Self-reported, half: 60.0 g, 107.6 g and 60.0 g. A long claim window reaches back.
    s = app.state
    service = BehaviourService(s.db, s.settings.with_overrides(claim_window_days=3650),
                               s.methodologies, s.partners, s.limiter)
    cid = uuid.UUID(citizen.id)
    before = dt.datetime(2026, 9, 30, 23, 45, 0, tzinfo=SHANGHAI)  # apart from "after" by
    # more than the same-trip window, or the second would wait for review
    after = dt.datetime(2026, 10, 1, 0, 0, 0, tzinfo=SHANGHAI)
    data = {"mode": "bus", "distance_km": "8"}
    v1, _ = await service.claim(cid, "yuzhong", key(), ClaimIn("transit_trip", before, data))
    v2, _ = await service.claim(cid, "yuzhong", key(), ClaimIn("transit_trip", after, data))
    v3_from = dt.datetime(2026, 11, 1, 0, 0, 0, tzinfo=SHANGHAI)
    v3, _ = await service.claim(cid, "yuzhong", key(), ClaimIn("transit_trip", v3_from, data))
    assert (v1.methodology.version, v1.reduction_g) == (1, "60.0")
    assert (v2.methodology.version, v2.reduction_g) == (2, "107.6")
    assert (v3.methodology.version, v3.reduction_g) == (3, "60.0")


async def test_the_explanation_shows_inputs_and_parameters(client, citizen):
    r = await claim(client, citizen, "transit_trip", days_ago(2), {"mode": "bus"})
    b = (await client.get(f"/v1/behaviours/{r.json()['id']}", headers=citizen.headers)).json()
    x = b["explanation"]
    assert x["inputs"] == {"mode": "bus", "distance_km": "0"}  # the default is recorded
    # CQ-TRANSIT v3: a ride without a distance is the shortest ride, 0.5 km × 26.9 g =
    # 13.45 → 13.4 g; self-reported, half: 6.7 g → 0 points.
    assert x["params"]["bus_min_ride_km"] == "0.5"
    assert x["params"]["bus_g_per_ride"] == "120"
    assert x["intermediates"]["credited_km"] == "0.5"
    assert (x["computed_reduction_g"], x["computed_points"]) == ("6.7", 0)


async def test_a_replay_returns_the_first_answer_and_another_body_is_refused(client, citizen):
    k = key()
    body = {"mode": "metro", "distance_km": "3.0"}
    first = await claim(client, citizen, "transit_trip", days_ago(3), body, k)
    again = await claim(client, citizen, "transit_trip", days_ago(3), body, k)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == (
        "false", "true")
    other = await claim(client, citizen, "transit_trip", days_ago(3),
                        {"mode": "metro", "distance_km": "30.0"}, k)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    listed = (await client.get("/v1/behaviours/", headers=citizen.headers)).json()["items"]
    assert len(listed) == 1


async def test_fifty_concurrent_requests_with_one_key_record_one_behaviour(app, client,
                                                                          citizen):
    k = key()
    body = {"mode": "metro", "distance_km": "10.0"}
    answers = await asyncio.gather(*[
        claim(client, citizen, "transit_trip", days_ago(1), body, k) for _ in range(50)])
    codes = sorted({r.status_code for r in answers})
    assert set(codes) <= {201, 409}, codes
    ids = {r.json()["id"] for r in answers if r.status_code == 201}
    assert len(ids) == 1
    async with app.state.db.connect() as conn:
        n_behaviours = await conn.scalar(text(
            "SELECT count(*) FROM behaviours WHERE citizen_id = :c"), {"c": citizen.id})
        n_entries = await conn.scalar(text(
            "SELECT count(*) FROM journal_entries WHERE citizen_id = :c"), {"c": citizen.id})
    assert (n_behaviours, n_entries) == (1, 1)
    assert await balance(client, citizen) == 23  # 10 km × 46.8 × 0.5 = 234.0 g


async def test_a_hundred_racing_claims_never_pass_the_daily_cap(client, citizen):
    # Each: 60 km metro, self-reported: 60 × 46.8 × 0.5 = 1404.0 g → 140 points.
    # The cap is 300 points and 10 behaviours a day: 140 + 140 + 20, then nothing.
    start = days_ago(1, hour=0) + dt.timedelta(minutes=5)
    answers = await asyncio.gather(*[
        claim(client, citizen, "transit_trip", start + dt.timedelta(minutes=11 * i),
              {"mode": "metro", "distance_km": "60"}) for i in range(100)])
    assert all(r.status_code == 201 for r in answers), {r.status_code for r in answers}
    paid = [r.json()["points"] for r in answers]
    assert sum(paid) == 300
    assert sorted(p for p in paid if p) == [20, 140, 140]
    capped = [r.json() for r in answers if r.json()["points"] < 140]
    assert all(b["reason"] == "daily_cap_reached" for b in capped)
    earn_again = dt.datetime.fromisoformat(capped[0]["reason_detail"]["earn_again_at"])
    assert earn_again == dt.datetime.combine(start.date() + dt.timedelta(days=1), dt.time(),
                                             tzinfo=SHANGHAI)
    assert await balance(client, citizen) == 300


async def test_outside_the_claim_window_is_recorded_but_not_paid(client, citizen):
    r = await claim(client, citizen, "transit_trip", days_ago(31),
                    {"mode": "metro", "distance_km": "5"})
    assert r.status_code == 201
    assert (r.json()["status"], r.json()["reason"], r.json()["points"]) == (
        "rejected", "outside_claim_window", 0)
    assert await balance(client, citizen) == 0


async def test_two_self_reports_of_overlapping_trips_wait_for_review(client, citizen):
    at = days_ago(1, hour=8)
    ride = {"mode": "bus", "distance_km": "4"}  # v3: 4 × 26.9 = 107.6 g, × 0.5 = 53.8 → 5
    first = await claim(client, citizen, "transit_trip", at, ride)
    second = await claim(client, citizen, "transit_trip", at + dt.timedelta(minutes=3), ride)
    assert first.json()["status"] == "credited"
    assert (second.json()["status"], second.json()["flags"]) == ("pending_review",
                                                                 ["overlapping"])
    wallet = (await client.get("/v1/wallet/", headers=citizen.headers)).json()
    assert wallet == {"balance": 5, "lifetime_earned": 5, "pending": 5, "next_expiry": None}


async def test_another_citizens_behaviour_is_not_found(client, citizen, make_citizen):
    r = await claim(client, citizen, "transit_trip", days_ago(1), {"mode": "bus"})
    other = await make_citizen()
    got = await client.get(f"/v1/behaviours/{r.json()['id']}", headers=other.headers)
    assert got.status_code == 404


async def test_listing_pages_and_filters(client, citizen):
    for i in range(5):
        await claim(client, citizen, "transit_trip", days_ago(1, hour=6 + i), {"mode": "bus"})
    await claim(client, citizen, "waste_sorting", days_ago(1), {"category": "kitchen"})
    page = (await client.get("/v1/behaviours/?limit=2&type=transit_trip",
                             headers=citizen.headers)).json()
    seen = [b["id"] for b in page["items"]]
    while page["next_cursor"]:
        page = (await client.get(f"/v1/behaviours/?limit=2&type=transit_trip&cursor="
                                 f"{page['next_cursor']}", headers=citizen.headers)).json()
        seen += [b["id"] for b in page["items"]]
    assert len(seen) == len(set(seen)) == 5


@pytest.mark.parametrize(("body", "field"), [
    ({"type": "teleport", "occurred_at": "2026-11-01T08:00:00+08:00", "data": {}}, "type"),
    ({"type": "transit_trip", "occurred_at": "2026-11-01T08:00:00+08:00",
      "data": {"mode": "rocket", "distance_km": "1"}}, "data.mode"),
    ({"type": "transit_trip", "occurred_at": "2026-11-01T08:00:00+08:00",
      "data": {"mode": "metro", "distance_km": "61"}}, "data.distance_km"),
    ({"type": "transit_trip", "occurred_at": "2026-11-01T08:00:00+08:00",
      "data": {"mode": "metro", "distance_km": "5", "miles": 3}}, "data.miles"),
    ({"type": "transit_trip", "occurred_at": "2026-11-01T08:00:00+08:00",
      "data": {"mode": "metro"}}, "data.distance_km"),
    ({"type": "transit_trip", "occurred_at": "2026-11-01T08:00:00",
      "data": {"mode": "bus"}}, "occurred_at"),
    ({"type": "transit_trip", "occurred_at": "2099-01-01T08:00:00+08:00",
      "data": {"mode": "bus"}}, "occurred_at"),
    ({"type": "transit_trip", "occurred_at": "2026-11-01T08:00:00+08:00",
      "data": {"mode": "bus\u0000"}}, "data"),
    ({"type": "transit_trip", "occurred_at": "2026-11-01T08:00:00+08:00",
      "data": {"mode": "bus"}, "points": 1000}, "points"),
])
async def test_bad_claims_name_the_field_and_store_nothing(app, client, citizen, body, field):
    r = await client.post("/v1/behaviours/", json=body,
                          headers={**citizen.headers, "Idempotency-Key": key()})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    async with app.state.db.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM behaviours WHERE citizen_id = :c"),
                                 {"c": citizen.id}) == 0


async def test_a_claim_needs_an_idempotency_key(client, citizen):
    r = await client.post("/v1/behaviours/", headers=citizen.headers, json={
        "type": "transit_trip", "occurred_at": days_ago(1).isoformat(), "data": {"mode": "bus"}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_an_oversized_claim_is_refused(client, citizen):
    r = await client.post("/v1/behaviours/", headers={**citizen.headers, "Idempotency-Key": key()},
                          json={"type": "transit_trip", "occurred_at": days_ago(1).isoformat(),
                                "data": {"mode": "bus", "pad": "x" * 70_000}})
    assert r.status_code == 413


async def test_claims_are_throttled_per_citizen(app, client, citizen):
    from carbon_inclusion.behaviours.service import BehaviourService

    s = app.state
    strict = BehaviourService(s.db, s.settings.with_overrides(claims_per_minute=2),
                              s.methodologies, s.partners, s.limiter)
    import uuid

    from carbon_inclusion.behaviours.schemas import ClaimIn
    for i in range(2):
        body = ClaimIn("transit_trip", days_ago(1, hour=7 + i), {"mode": "bus"})
        await strict.claim(uuid.UUID(citizen.id), "yuzhong", key(), body)
    with pytest.raises(RateLimited) as caught:
        await strict.claim(uuid.UUID(citizen.id), "yuzhong", key(),
                           ClaimIn("transit_trip", days_ago(1, hour=12), {"mode": "bus"}))
    assert caught.value.retry_after >= 1
