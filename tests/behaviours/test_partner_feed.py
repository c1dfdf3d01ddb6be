"""Partner batches: signed, deduplicated, per-record answers, unbound inbox, same-trip rule."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time

from sqlalchemy import text

from carbon_inclusion.security.secrets import sign_partner_request
from tests.behaviours.conftest import balance, bind, card, claim, days_ago, trip


async def test_a_batch_is_answered_record_by_record(client, citizen, partner):
    ref = card()
    await bind(client, citizen, partner, ref)
    good = trip(ref, days_ago(1, hour=8))  # 12.5 km metro, verified: 585.0 g → 58 points
    records = [
        good,
        trip(card(), days_ago(1, hour=9)),  # nobody has bound this card
        {**trip(ref, days_ago(1, hour=10)), "data": {"mode": "rocket", "distance_km": "3"}},
        {"external_id": "x"},  # not a record
        trip(ref, days_ago(45, hour=8)),  # too old to pay
    ]
    r = await partner.push(records)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [
        "credited", "unbound", "rejected", "rejected", "rejected"]
    assert results[0]["points"] == 58
    assert results[2]["errors"][0]["field"] == "data.mode"
    assert results[3]["reason"] == "invalid_record"
    assert results[4]["reason"] == "outside_claim_window"
    assert r.json()["counts"] == {"credited": 1, "unbound": 1, "rejected": 3}
    assert await balance(client, citizen) == 58


async def test_a_batch_replayed_three_times_with_app_claims_pays_each_trip_once(
        app, client, citizen, partner):
    ref = card()
    await bind(client, citizen, partner, ref)
    starts = [days_ago(2, hour=7) + dt.timedelta(hours=i) for i in range(5)]
    # The citizen self-reports the same five trips from the app, a few minutes off.
    self_reports = [claim(client, citizen, "transit_trip", at + dt.timedelta(minutes=2),
                          {"mode": "metro", "distance_km": "12.5"}) for at in starts]
    batch = [trip(ref, at, external_id=f"replay-{i}-{ref}") for i, at in enumerate(starts)]
    answers = await asyncio.gather(*self_reports, *[partner.push(batch) for _ in range(3)])
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
    # Each trip is paid once, at the verified rate: 5 × 58 points.
    assert await balance(client, citizen) == 290
    async with app.state.db.connect() as conn:
        paid = (await conn.execute(text(
            "SELECT source, status, count(*) FROM behaviours WHERE citizen_id = :c "
            "GROUP BY source, status ORDER BY 1, 2"), {"c": citizen.id})).all()
    statuses = {(s, st): n for s, st, n in paid}
    assert statuses[("partner", "credited")] == 5
    assert sum(n for (s, st), n in statuses.items() if s == "app") == 5
    assert set(st for (s, st) in statuses if s == "app") <= {"superseded", "rejected"}
    counts = [a.json()["counts"] for a in answers[5:]]
    assert sum(c.get("duplicate", 0) for c in counts) == 10
    # Replaying again later changes nothing.
    again = await partner.push(batch)
    assert again.json()["counts"] == {"duplicate": 5}
    assert await balance(client, citizen) == 290


async def test_unbound_records_are_credited_when_the_card_is_bound(client, citizen, partner):
    ref = card()
    fresh = trip(ref, days_ago(3, hour=8))
    stale = trip(ref, days_ago(40, hour=8))
    r = await partner.push([fresh, stale])
    assert [x["status"] for x in r.json()["results"]] == ["unbound", "unbound"]
    binding = await bind(client, citizen, partner, ref)
    assert binding["records_credited"] == 1
    assert await balance(client, citizen) == 58
    # Binding again (or a replayed record) pays nothing more.
    assert (await partner.push([fresh])).json()["results"][0]["status"] == "duplicate"
    assert await balance(client, citizen) == 58


async def test_a_card_bound_to_someone_else_cannot_be_bound(client, citizen, make_citizen,
                                                            partner):
    ref = card()
    await bind(client, citizen, partner, ref)
    other = await make_citizen()
    r = await client.post("/v1/bindings/", headers=other.headers,
                          json={"partner_id": partner.id, "external_ref": ref,
                                "code": await partner.code(ref)})
    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "external_ref"


async def test_bad_signatures_and_oversized_batches_are_refused(client, partner):
    ref = card()
    r = await partner.push([trip(ref, days_ago(1))], secret="not-the-secret")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    too_many = [trip(ref, days_ago(1), external_id=f"n-{i}") for i in range(1001)]
    r = await partner.push(too_many)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "records"
    body = json.dumps({"records": [{"pad": "x" * (5 * 1024 * 1024)}]}).encode()
    ts = str(int(time.time()))
    r = await client.post("/v1/partner/behaviours/", content=body, headers={
        "X-Partner-Id": partner.id, "X-Timestamp": ts,
        "X-Signature": sign_partner_request(partner.secret, ts, body)})
    assert r.status_code == 413


async def test_a_self_report_of_a_trip_the_partner_sent_is_refused(client, citizen, partner):
    ref = card()
    await bind(client, citizen, partner, ref)
    at = days_ago(1, hour=18)
    await partner.push([trip(ref, at)])
    r = await claim(client, citizen, "transit_trip", at + dt.timedelta(minutes=4),
                    {"mode": "metro", "distance_km": "12.5"})
    assert (r.json()["status"], r.json()["reason"]) == ("rejected", "recorded_by_partner")
    assert await balance(client, citizen) == 58


async def test_batches_are_throttled_per_partner(app, partner):
    from carbon_inclusion.behaviours.service import BehaviourService
    from carbon_inclusion.errors import RateLimited
    from carbon_inclusion.partners.service import AuthenticatedPartner

    s = app.state
    strict = BehaviourService(s.db, s.settings.with_overrides(partner_batches_per_minute=1),
                              s.methodologies, s.partners, s.limiter)
    who = AuthenticatedPartner(partner.id, "metro", "transit")
    await strict.ingest(who, [trip(card(), days_ago(1))])
    try:
        await strict.ingest(who, [trip(card(), days_ago(1))])
    except RateLimited as exc:
        assert exc.retry_after >= 1
    else:
        raise AssertionError("the second batch in a minute should be refused")


async def test_a_refused_record_is_not_kept_and_can_be_sent_again(client, citizen, partner):
    ref = card()
    await bind(client, citizen, partner, ref)
    record = {**trip(ref, days_ago(1)), "data": {"mode": "metro", "distance_km": "600"}}
    first = (await partner.push([record])).json()["results"][0]
    assert (first["status"], first["errors"][0]["field"]) == ("rejected", "data.distance_km")
    fixed = {**record, "data": {"mode": "metro", "distance_km": "12.5"}}
    again = (await partner.push([fixed])).json()["results"][0]
    assert (again["status"], again["points"]) == ("credited", 58)


async def test_binding_and_records_arriving_together_credit_each_trip_once(
        client, make_citizen, partner):
    # Each round binds a fresh card at the same moment a batch for it arrives: whichever
    # commits first, the trip is credited exactly once (seen bound, or credited on binding).
    rounds = 8
    people = [await make_citizen() for _ in range(rounds)]
    refs = [card() for _ in range(rounds)]
    await asyncio.gather(*[
        coro for person, ref in zip(people, refs, strict=True)
        for coro in (bind(client, person, partner, ref),
                     partner.push([trip(ref, days_ago(1, hour=10))]))])
    assert [await balance(client, person) for person in people] == [58] * rounds
