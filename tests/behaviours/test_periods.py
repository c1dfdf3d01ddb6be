"""Period behaviours end to end: the two period scenes through partner batches, documents of
the tests' own through app claims, supersede and refuse, caps per month, the unique key of a
period in PostgreSQL, and records of one period raced (they pay once)."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from carbon_inclusion.common.integrity import constraint_of
from tests.behaviours.conftest import SHANGHAI, Partner, balance, bind, card, claim, key
from tests.methodologies.conftest import document
from tests.registry.conftest import propose

ADMIN = "/v1/admin/methodologies"
PERIOD_TYPES = ["walking_steps", "household_electricity_saving"]


def now_in_shanghai() -> dt.datetime:
    return dt.datetime.now(SHANGHAI)


def today_at(minutes_ago: int) -> dt.datetime:
    """A moment earlier today (programme time); just after midnight, the day's first minute."""
    now = now_in_shanghai()
    midnight = dt.datetime.combine(now.date(), dt.time(), tzinfo=SHANGHAI)
    return max(now - dt.timedelta(minutes=minutes_ago), midnight + dt.timedelta(seconds=1))


def first_of_month() -> dt.datetime:
    """09:00 on the first day of this month (programme time), or earlier today on the 1st."""
    now = now_in_shanghai()
    at = dt.datetime.combine(now.date().replace(day=1), dt.time(9), tzinfo=SHANGHAI)
    return at if at < now else today_at(30)


def spaced(i: int) -> dt.datetime:
    """The ``i``-th of moments this month, each further apart than the same-trip window
    (600 s), from the month's first minute (programme time): behaviours that are not one
    trip. The 1st of a month, before i × 11 minutes past midnight, has no such moment."""
    start = dt.datetime.combine(now_in_shanghai().date().replace(day=1), dt.time(0, 1),
                                tzinfo=SHANGHAI)
    at = start + dt.timedelta(minutes=11 * i)
    assert at < now_in_shanghai(), "too early in the month for this test"
    return at


async def other_partner(client, admin, types: list[str]) -> Partner:
    """A partner of kind ``other`` that reports exactly ``types``."""
    r = await client.post("/v1/admin/partners/", headers=admin.headers, json={
        "id": "p-" + secrets.token_hex(4), "name": "健康数据与电网", "kind": "other",
        "behaviour_types": types})
    assert r.status_code == 201, r.text
    return Partner(client, r.json())


def record(ref: str, type_: str, at: dt.datetime, data: dict) -> dict:
    return {"external_id": "x-" + secrets.token_hex(6), "external_ref": ref, "type": type_,
            "occurred_at": at.isoformat(), "data": data}


def steps(ref: str, at: dt.datetime, n: int) -> dict:
    return record(ref, "walking_steps", at, {"steps": n})


def power(ref: str, at: dt.datetime, kwh: str, baseline: str) -> dict:
    return record(ref, "household_electricity_saving", at,
                  {"kwh": kwh, "baseline_kwh": baseline})


async def behaviour(client, user, behaviour_id: str) -> dict:
    r = await client.get(f"/v1/behaviours/{behaviour_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def open_of(app, citizen_id: str, type_: str) -> list[tuple]:
    """(id, points, period_start) of the citizen's open behaviours of ``type_``, and the key
    rows of their periods."""
    async with app.state.db.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT id, points, period_start FROM behaviours WHERE citizen_id = :c "
            "AND type = :t AND status IN ('credited', 'pending_review') ORDER BY id"),
            {"c": uuid.UUID(citizen_id), "t": type_})).all()
        keys = (await conn.execute(text(
            "SELECT behaviour_id, period_start FROM behaviour_period_keys WHERE citizen_id = :c"
            " AND type = :t ORDER BY behaviour_id"),
            {"c": uuid.UUID(citizen_id), "t": type_})).all()
    assert [(r.id, r.period_start) for r in rows] == [tuple(k) for k in keys]
    return [tuple(r) for r in rows]


async def entries(client, user) -> list[dict]:
    r = await client.get("/v1/wallet/entries", headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def published(client, admin, doc: dict) -> dict:
    r = await client.post(ADMIN + "/", headers=admin.headers, json=doc)
    assert r.status_code == 201, r.text
    p = await client.post(f"{ADMIN}/{doc['code']}/versions/{doc['version']}/publish",
                          headers=admin.headers)
    assert p.status_code == 200, p.text
    return doc


def period_doc(later: str, period: str = "day", **extra) -> dict:
    """A transit-like document of the test's own (self-reports pay half, no review)."""
    code = "T-" + secrets.token_hex(3).upper()
    return document(code, once_per={"period": period, "later": later}, limits={}, **extra)


# --- the two scenes through partner batches ------------------------------------------------


async def test_a_later_higher_step_count_supersedes_and_a_lower_one_is_refused(
        app, client, admin, citizen):
    health = await other_partner(client, admin, PERIOD_TYPES)
    ref = card()
    await bind(client, citizen, health, ref)
    first = await health.push([steps(ref, today_at(60), 12345)])
    assert first.status_code == 200, first.text
    (r1,) = first.json()["results"]
    assert (r1["status"], r1["points"]) == ("credited", 7)  # 7,345 × 0.01 = 73.4 g

    later = await health.push([steps(ref, today_at(30), 20000)])
    (r2,) = later.json()["results"]
    assert (r2["status"], r2["points"]) == ("credited", 15)  # 15,000 × 0.01 = 150.0 g
    old = await behaviour(client, citizen, r1["behaviour_id"])
    assert (old["status"], old["reason"]) == ("superseded", "superseded_by_later_record")
    assert await balance(client, citizen) == 15
    (reversal,) = [e for e in await entries(client, citizen) if e["kind"] == "reversal"]
    assert (abs(reversal["points"]), reversal["behaviour_id"]) == (7, r1["behaviour_id"])
    assert reversal["memo"] == "superseded by a later record of the same period"

    # Not more: refused, nothing stored, nothing paid.
    for n in (15000, 20000, 3000):
        lower = await health.push([steps(ref, today_at(10), n)])
        (r,) = lower.json()["results"]
        assert (r["status"], r["reason"]) == ("rejected", "period_taken"), n
    assert await balance(client, citizen) == 15
    assert [b[1] for b in await open_of(app, citizen.id, "walking_steps")] == [15]

    # Two counts of one day in one batch: the later supersedes the earlier within it.
    yesterday = today_at(0) - dt.timedelta(days=1)
    both = await health.push([steps(ref, yesterday, 9000), steps(ref, yesterday, 40000)])
    a, b = both.json()["results"]
    assert (a["status"], a["reason"], a["points"]) == ("superseded",
                                                        "superseded_by_later_record", 0)
    assert (b["status"], b["points"]) == ("credited", 29)  # 35,000 steps: capped at 296 g
    held = await open_of(app, citizen.id, "walking_steps")
    assert sorted(p for _, p, _ in held) == [15, 29]
    assert len({d for *_, d in held}) == 2  # one per day
    assert await balance(client, citizen) == 44


async def test_a_step_count_below_the_threshold_holds_the_day_at_nothing(
        client, admin, citizen):
    health = await other_partner(client, admin, ["walking_steps"])
    ref = card()
    await bind(client, citizen, health, ref)
    (r,) = (await health.push([steps(ref, today_at(40), 4999)])).json()["results"]
    assert (r["status"], r["points"]) == ("credited", 0)
    b = await behaviour(client, citizen, r["behaviour_id"])
    assert b["reduction_g"] == "0.0"
    assert b["explanation"]["intermediates"]["counted_steps"] == "0"
    (r,) = (await health.push([steps(ref, today_at(20), 6000)])).json()["results"]
    assert (r["status"], r["points"]) == ("credited", 1)  # 1,000 × 0.01 = 10.0 g


async def test_step_counts_waiting_for_a_binding_are_settled_by_their_day_when_bound(
        app, client, admin, citizen):
    health = await other_partner(client, admin, ["walking_steps"])
    ref = card()
    waiting = await health.push([steps(ref, today_at(50), 15000), steps(ref, today_at(40), 9000),
                                 steps(ref, today_at(30), 25000)])
    assert waiting.json()["counts"] == {"unbound": 3}, waiting.text
    await bind(client, citizen, health, ref)
    held = await open_of(app, citizen.id, "walking_steps")
    assert [p for _, p, _ in held] == [20]  # 25,000: 20,000 × 0.01 = 200.0 g
    assert await balance(client, citizen) == 20


async def test_a_corrected_month_supersedes_downwards_and_an_increase_pays_nothing(
        app, client, admin, citizen, make_citizen):
    grid = await other_partner(client, admin, ["household_electricity_saving"])
    ref = card()
    await bind(client, citizen, grid, ref)
    (r1,) = (await grid.push([power(ref, first_of_month(), "180.5", "210.0")])
             ).json()["results"]
    assert (r1["status"], r1["points"]) == ("credited", 1591)  # 29.5 × 539.5 = 15,915.2 g
    # The grid's corrected reading of the same month, on another day: 15 kWh saved.
    (r2,) = (await grid.push([power(ref, today_at(5), "195", "210.0")])).json()["results"]
    assert (r2["status"], r2["points"]) == ("credited", 809)  # 15 × 539.5 = 8,092.5 g
    assert (await behaviour(client, citizen, r1["behaviour_id"]))["status"] == "superseded"
    assert await balance(client, citizen) == 809
    reversal = [e for e in await entries(client, citizen) if e["kind"] == "reversal"]
    assert [abs(e["points"]) for e in reversal] == [1591]
    held = await open_of(app, citizen.id, "household_electricity_saving")
    assert [p for _, p, _ in held] == [809]
    assert held[0][2] == now_in_shanghai().date().replace(day=1)
    # The day counters of the superseded reading's day were given back.
    async with app.state.db.connect() as conn:
        totals = (await conn.execute(text(
            "SELECT day, count, points FROM daily_totals WHERE citizen_id = :c "
            "AND type = 'household_electricity_saving' ORDER BY day"),
            {"c": uuid.UUID(citizen.id)})).all()
    assert sum(t.count for t in totals) == 1 and sum(t.points for t in totals) == 809

    other = await make_citizen()
    ref2 = card()
    await bind(client, other, grid, ref2)
    (r,) = (await grid.push([power(ref2, today_at(5), "250", "200")])).json()["results"]
    assert (r["status"], r["points"]) == ("credited", 0)
    assert (await behaviour(client, other, r["behaviour_id"]))["reduction_g"] == "0.0"


async def test_the_period_scenes_are_not_offered_as_self_reports(client, citizen):
    for type_, data in (("walking_steps", {"steps": 12000}),
                        ("household_electricity_saving", {"kwh": "1", "baseline_kwh": "2"})):
        r = await claim(client, citizen, type_, today_at(5), data)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "evidence"
    assert await balance(client, citizen) == 0


# --- documents of the tests' own through app claims ---------------------------------------


async def test_a_second_claim_of_a_refused_period_is_refused_and_a_partner_record_wins(
        app, client, admin, citizen):
    doc = await published(client, admin, period_doc("refuse"))
    t = doc["behaviour"]
    first = await claim(client, citizen, t, today_at(50), {"distance_km": "10"})
    assert (first.status_code, first.json()["status"], first.json()["points"]) == (
        201, "credited", 23)  # 10 × 46.8 × 0.5 = 234.0 g
    k, at = key(), today_at(40)
    second = await claim(client, citizen, t, at, {"distance_km": "20"}, k)
    assert second.status_code == 201, second.text
    body = second.json()
    assert (body["status"], body["reason"], body["points"]) == ("rejected", "period_taken", 0)
    assert body["reason_detail"]["behaviour_id"] == first.json()["id"]
    assert body["reason_detail"]["period"] == "day"
    again = await claim(client, citizen, t, at, {"distance_km": "20"}, k)
    assert (again.status_code, again.json()["id"]) == (201, body["id"])  # the replay
    assert await balance(client, citizen) == 23

    # A partner's verified record of the same day supersedes the self-report.
    partner = await other_partner(client, admin, [t])
    ref = card()
    await bind(client, citizen, partner, ref)
    (r,) = (await partner.push([record(ref, t, today_at(30), {"distance_km": "5"})])
            ).json()["results"]
    assert (r["status"], r["points"]) == ("credited", 23)  # 5 × 46.8 = 234.0 g
    old = await behaviour(client, citizen, first.json()["id"])
    assert (old["status"], old["reason"]) == ("superseded", "superseded_by_partner")
    # ... and the app can no longer replace it.
    late = await claim(client, citizen, t, today_at(20), {"distance_km": "30"})
    assert (late.json()["status"], late.json()["reason"]) == ("rejected",
                                                              "recorded_by_partner")
    # A second partner record is refused as the document says.
    (r,) = (await partner.push([record(ref, t, today_at(10), {"distance_km": "50"})])
            ).json()["results"]
    assert (r["status"], r["reason"]) == ("rejected", "period_taken")
    assert await balance(client, citizen) == 23
    assert len(await open_of(app, citizen.id, t)) == 1


async def test_a_later_claim_of_a_superseding_period_replaces_the_earlier(
        app, client, admin, citizen):
    doc = await published(client, admin, period_doc("supersede", period="month"))
    t = doc["behaviour"]
    first = await claim(client, citizen, t, first_of_month(), {"distance_km": "40"})
    assert first.json()["points"] == 93  # 40 × 46.8 × 0.5 = 936.0 g
    second = await claim(client, citizen, t, today_at(3), {"distance_km": "10"})
    assert (second.json()["status"], second.json()["points"]) == ("credited", 23)
    old = await behaviour(client, citizen, first.json()["id"])
    assert (old["status"], old["reason"]) == ("superseded", "superseded_by_later_record")
    assert await balance(client, citizen) == 23
    assert [p for _, p, _ in await open_of(app, citizen.id, t)] == [23]


async def test_a_period_waiting_for_review_is_held_and_rejecting_it_frees_the_period(
        app, client, admin, citizen):
    doc = period_doc("refuse")
    doc["evidence"]["self_reported"]["review"] = True
    t = (await published(client, admin, doc))["behaviour"]
    waiting = await claim(client, citizen, t, today_at(30), {"distance_km": "10"})
    assert waiting.json()["status"] == "pending_review"
    taken = await claim(client, citizen, t, today_at(20), {"distance_km": "10"})
    assert taken.json()["reason"] == "period_taken"
    r = await client.post(f"/v1/admin/reviews/{waiting.json()['id']}/reject",
                          headers=admin.headers, json={"reason": "no evidence"})
    assert r.status_code == 200, r.text
    assert await open_of(app, citizen.id, t) == []
    free = await claim(client, citizen, t, today_at(10), {"distance_km": "10"})
    assert free.json()["status"] == "pending_review"
    ok = await client.post(f"/v1/admin/reviews/{free.json()['id']}/approve",
                           headers=admin.headers, json={"reason": "receipt"})
    assert (ok.json()["status"], ok.json()["points"]) == ("credited", 23)
    assert len(await open_of(app, citizen.id, t)) == 1


# --- caps per month -------------------------------------------------------------------------


async def test_a_monthly_cap_pays_the_remainder_and_says_when_to_earn_again(
        client, admin, citizen):
    # 1 km: 46.8 × 0.5 = 23.4 g self-reported; the month takes 60 g: 23.4, 23.4, 13.2, 0.
    doc = document("T-" + secrets.token_hex(3).upper(),
                   limits={"per_day": {"count": 10}, "per_month": {"grams": "60"}})
    t = (await published(client, admin, doc))["behaviour"]
    answers = []
    for i in range(4):
        r = await claim(client, citizen, t, spaced(i), {"distance_km": "1"})
        assert r.status_code == 201, r.text
        answers.append(r.json())
    assert [a["reduction_g"] for a in answers] == ["23.4", "23.4", "13.2", "0.0"]
    capped = answers[2:]
    assert all(a["reason"] == "monthly_cap_reached" for a in capped)
    assert capped[0]["reason_detail"]["capped_by"] == ["grams"]
    month = now_in_shanghai().date().replace(day=1)
    next_month = (month + dt.timedelta(days=32)).replace(day=1)
    assert dt.datetime.fromisoformat(capped[0]["reason_detail"]["earn_again_at"]) == \
        dt.datetime.combine(next_month, dt.time(), tzinfo=SHANGHAI)
    assert await balance(client, citizen) == 2 + 2 + 1


async def test_approving_on_review_pays_as_the_month_s_caps_now_stand(client, admin,
                                                                     citizen):
    doc = document("T-" + secrets.token_hex(3).upper(), limits={"per_month": {"grams": "30"}})
    doc["evidence"]["self_reported"]["review"] = True
    t = (await published(client, admin, doc))["behaviour"]
    waiting = [(await claim(client, citizen, t, spaced(i), {"distance_km": "1"})).json()
               for i in range(2)]
    assert [w["status"] for w in waiting] == ["pending_review", "pending_review"]
    approved = []
    for w in waiting:
        r = await client.post(f"/v1/admin/reviews/{w['id']}/approve", headers=admin.headers,
                              json={"reason": "receipt"})
        assert r.status_code == 200, r.text
        approved.append(r.json())
    assert [(a["reduction_g"], a["reason"]) for a in approved] == [
        ("23.4", None), ("6.6", "monthly_cap_reached")]


async def test_racing_claims_never_pass_a_monthly_cap(client, admin, citizen):
    # 10 km self-reported: 234.0 g, 23 points; the month pays at most 50 points.
    doc = document("T-" + secrets.token_hex(3).upper(),
                   limits={"per_month": {"points": 50}})
    t = (await published(client, admin, doc))["behaviour"]
    answers = await asyncio.gather(*[
        claim(client, citizen, t, spaced(i), {"distance_km": "10"}) for i in range(12)])
    assert all(r.status_code == 201 for r in answers)
    assert sorted(r.json()["points"] for r in answers if r.json()["points"]) == [4, 23, 23]
    assert await balance(client, citizen) == 50


# --- the unique key and the races ---------------------------------------------------------


async def test_the_database_refuses_a_second_open_behaviour_of_a_period(app, client, admin,
                                                                       citizen):
    """The pipeline's lock keeps writers apart; the key table is what guarantees it even for
    a writer that does not take the lock."""
    t = (await published(client, admin, period_doc("refuse")))["behaviour"]
    first = await claim(client, citizen, t, today_at(10), {"distance_km": "3"})
    assert first.json()["status"] == "credited"
    async with app.state.db.engine.connect() as conn:
        with pytest.raises(IntegrityError) as err:
            await conn.execute(text("""
                INSERT INTO behaviours (id, citizen_id, type, occurred_at, programme_day,
                    district_code, source, evidence, partner_id, external_id, status, data,
                    computed_reduction_g, computed_points, reduction_g, points, period_start)
                SELECT gen_random_uuid(), citizen_id, type, occurred_at, programme_day,
                       district_code, 'partner', 'partner_verified', 'x', 'x', 'credited',
                       data, 1, 0, 1, 0, period_start
                  FROM behaviours WHERE id = :b"""), {"b": uuid.UUID(first.json()["id"])})
        await conn.rollback()
    assert constraint_of(err.value) == "uq_behaviours_period"
    # A superseded or rejected behaviour holds nothing: its key row went with its status.
    async with app.state.db.engine.connect() as conn:
        await conn.execute(text("UPDATE behaviours SET status = 'rejected' WHERE id = :b"),
                           {"b": uuid.UUID(first.json()["id"])})
        assert await conn.scalar(text(
            "SELECT count(*) FROM behaviour_period_keys WHERE behaviour_id = :b"),
            {"b": uuid.UUID(first.json()["id"])}) == 0
        with pytest.raises(IntegrityError):  # a period's type and start are fixed
            await conn.execute(text(
                "UPDATE behaviours SET period_start = period_start + 1 WHERE id = :b"),
                {"b": uuid.UUID(first.json()["id"])})
        await conn.rollback()


async def test_racing_batches_and_claims_of_one_period_pay_once(app, client, admin, citizen):
    doc = period_doc("refuse")
    t = (await published(client, admin, doc))["behaviour"]
    partners = [await other_partner(client, admin, [t]) for _ in range(3)]
    refs = [card() for _ in partners]
    for p, ref in zip(partners, refs, strict=True):
        await bind(client, citizen, p, ref)
    at = today_at(15)
    pushes = [p.push([record(ref, t, at + dt.timedelta(seconds=i), {"distance_km": "10"})])
              for i, (p, ref) in enumerate(zip(partners * 3, refs * 3, strict=True))]
    claims = [claim(client, citizen, t, at - dt.timedelta(seconds=i), {"distance_km": "10"})
              for i in range(9)]
    answers = await asyncio.gather(*pushes, *claims)
    assert all(r.status_code in (200, 201) for r in answers), [r.text for r in answers]
    partner_results = [r.json()["results"][0] for r in answers[:9]]
    claim_results = [r.json() for r in answers[9:]]
    credited_partner = [r for r in partner_results if r["status"] == "credited"]
    assert len(credited_partner) <= 1
    assert {r["reason"] for r in partner_results if r["status"] == "rejected"} <= {
        "period_taken"}
    assert {c["reason"] for c in claim_results if c["status"] == "rejected"} <= {
        "period_taken", "recorded_by_partner"}
    held = await open_of(app, citizen.id, t)
    assert len(held) == 1
    # Paid once: the partner's 468.0 g (46 points) if one got in, else a claim's 234.0 g.
    assert await balance(client, citizen) == held[0][1] == (46 if credited_partner else 23)


async def test_racing_step_counts_of_one_day_leave_the_highest_paid_once(app, client, admin,
                                                                         citizen):
    health = await other_partner(client, admin, ["walking_steps"])
    ref = card()
    await bind(client, citizen, health, ref)
    counts = [8000, 30000, 12000, 21000, 6000, 16000, 25000, 10000]
    answers = await asyncio.gather(*[
        health.push([steps(ref, today_at(20) + dt.timedelta(seconds=i), n)])
        for i, n in enumerate(counts)])
    results = [r.json()["results"][0] for r in answers]
    assert {r["status"] for r in results} <= {"credited", "rejected"}
    assert {r["reason"] for r in results if r["status"] == "rejected"} <= {"period_taken"}
    held = await open_of(app, citizen.id, "walking_steps")
    assert [p for _, p, _ in held] == [25]  # 30,000: 25,000 × 0.01 = 250.0 g
    assert await balance(client, citizen) == 25


async def test_a_month_in_a_credit_batch_is_not_superseded(app, client, admin, citizen):
    grid = await other_partner(client, admin, ["household_electricity_saving"])
    ref = card()
    await bind(client, citizen, grid, ref)
    yesterday = dt.datetime.combine(now_in_shanghai().date() - dt.timedelta(days=1),
                                    dt.time(9), tzinfo=SHANGHAI)
    (r,) = (await grid.push([power(ref, yesterday, "200", "300")])).json()["results"]
    assert (r["status"], r["points"]) == ("credited", 2697)  # 50 kWh × 539.5 = 26,975.0 g
    # A tonne beside it (37 more such months of other households, stored as the pipeline
    # stores them, so they recompute): 38 × 26,975.0 g = 1,025,050 g.
    async with app.state.db.connect() as conn:
        await conn.execute(text("""
            INSERT INTO behaviours (id, citizen_id, type, occurred_at, programme_day,
                district_code, source, evidence, partner_id, external_id, status, data,
                methodology_id, methodology_code, methodology_version, computed_reduction_g,
                computed_points, reduction_g, points)
            SELECT gen_random_uuid(), :c, 'household_electricity_saving', :at, :day,
                   'yuzhong', 'partner', 'partner_verified', 'test',
                   'filler-' || gen_random_uuid(), 'credited',
                   '{"kwh": "200", "baseline_kwh": "300"}', v.id, v.code, v.version,
                   26975.0, 2697, 26975.0, 0
              FROM methodology_versions v, generate_series(1, 37)
             WHERE v.code = 'CQ-POWER' AND v.version = 1"""),
            {"c": uuid.UUID(citizen.id), "at": yesterday, "day": yesterday.date()})
    proposed = await propose(client, admin, {"methodology_code": "CQ-POWER",
                                             "vintage_from": yesterday.date().isoformat(),
                                             "vintage_to": yesterday.date().isoformat()})
    assert proposed.status_code == 201, proposed.text
    (shown,) = proposed.json()["report"]["methodologies"]  # the report states the rule
    assert shown["once_per"] == {"period": "month", "later": "supersede"}
    (again,) = (await grid.push([power(ref, yesterday + dt.timedelta(hours=2), "150", "300")])
                ).json()["results"]
    assert (again["status"], again["reason"]) == ("rejected", "issued_as_credits")
    assert (await behaviour(client, citizen, r["behaviour_id"]))["status"] == "credited"
    assert await balance(client, citizen) == 2697
    assert (await app.state.registry.verify()).ok


async def test_the_schema_served_shows_the_period_fields(client):
    schema = (await client.get("/v1/methodologies/schema")).json()
    props = schema["$defs"]["Document"]["properties"]
    assert "once_per" in props and "once_per" not in schema["$defs"]["Document"]["required"]
    assert set(schema["$defs"]["OncePer"]["properties"]["later"]["enum"]) == {
        "supersede", "supersede_if_greater", "refuse"}
    assert "per_month" in schema["$defs"]["Limits"]["properties"]


async def test_the_period_scenes_are_published_by_the_seed(client):
    for code in ("CQ-STEPS", "CQ-POWER"):
        r = await client.get(f"/v1/methodologies/{code}/versions/1")
        assert r.status_code == 200, r.text
        assert r.json()["document"]["once_per"]["period"] in ("day", "month")
        assert Decimal(r.json()["document"]["params"]["g_per_point"]["value"]) == 10


async def test_a_bad_period_rule_is_a_422_naming_the_field_and_stores_nothing(client, admin):
    for extra, field in (({"once_per": {"period": "year", "later": "refuse"}},
                          "once_per.period"),
                         ({"limits": {"per_month": {"grams": "-1"}}},
                          "limits.per_month.grams")):
        doc = document("T-" + secrets.token_hex(3).upper(), **extra)
        r = await client.post(ADMIN + "/", headers=admin.headers, json=doc)
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == [field]
        listed = await client.get(ADMIN + "/", headers=admin.headers,
                                  params={"limit": 100})
        assert listed.status_code == 200, listed.text
        assert doc["code"] not in listed.text
        version = await client.get(f"{ADMIN}/{doc['code']}/versions/1", headers=admin.headers)
        assert version.status_code == 404, version.text
    good = document("T-" + secrets.token_hex(3).upper(),
                    once_per={"period": "month", "later": "refuse"})
    assert (await client.post(ADMIN + "/", headers=admin.headers, json=good)).status_code == 201
    stored = await client.get(f"{ADMIN}/{good['code']}/versions/1", headers=admin.headers)
    assert stored.status_code == 200, stored.text
    assert stored.json()["document"]["once_per"] == {"period": "month", "later": "refuse"}
