"""The four scene documents through the product, with no scene-specific code: a partner of
kind ``other`` reports them, citizens claim them, caps hold under concurrent records, a ride
too fast for a bicycle waits for review with the reason shown, simulate and the public
list know them, and a scene written here (not in ``seed/``) is published through the admin
API and scores claims and partner batches at once.

The expected figures are the hand-computed ones of ``tests/rules/test_scenes.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from decimal import Decimal

import pytest

from tests.behaviours.conftest import Partner, balance, bind, card, claim, days_ago
from tests.methodologies.conftest import document
from tests.rules.test_scenes import (
    BIKE_G_PER_KM,
    G_PER_PAPER_DOCUMENT,
    PHONE_G_PER_TRADE,
    SELF_REPORTED_BIKE,
    TEXTILES_G_PER_KG,
    paid,
    plate,
)

SCENES = {"shared_bike_ride": ("CQ-BIKE", 1), "clean_plate_meal": ("CQ-PLATE", 1),
          "e_ticket": ("CQ-PAPERLESS", 1), "second_hand_trade": ("CQ-REUSE", 1)}
ADMIN = "/v1/admin/methodologies"


async def other_partner(client, admin, types: list[str]) -> Partner:
    """A partner of kind ``other``: it reports exactly the types it is given."""
    pid = "o-" + secrets.token_hex(4)
    r = await client.post("/v1/admin/partners/", headers=admin.headers,
                          json={"id": pid, "name": "场景合作方", "kind": "other",
                                "behaviour_types": types})
    assert r.status_code == 201, r.text
    return Partner(client, r.json())


@pytest.fixture
async def scene_partner(client, admin) -> Partner:
    return await other_partner(client, admin, sorted(SCENES))


def record(ref: str, type_: str, at: dt.datetime, data: dict) -> dict:
    return {"external_id": "s-" + secrets.token_hex(8), "external_ref": ref, "type": type_,
            "occurred_at": at.isoformat(), "data": data}


async def behaviour(client, user, behaviour_id: str) -> dict:
    r = await client.get(f"/v1/behaviours/{behaviour_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()


def figures(b: dict) -> tuple[Decimal, int]:
    return Decimal(b["reduction_g"]), b["points"]


async def in_review_queue(client, admin, behaviour_id: str) -> dict:
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/v1/admin/reviews/", headers=admin.headers, params=params)
        assert r.status_code == 200, r.text
        for item in r.json()["items"]:
            if item["id"] == behaviour_id:
                return item
        cursor = r.json()["next_cursor"]
        assert cursor, f"{behaviour_id} is not in the review queue"


async def test_the_seed_publishes_the_four_scenes_and_lists_them(client):
    for type_, (code, version) in SCENES.items():
        r = await client.get("/v1/methodologies", params={"code": code, "limit": 100})
        assert r.status_code == 200, r.text
        (item,) = [v for v in r.json()["items"] if v["version"] == version]
        assert (item["status"], item["behaviour"]) == ("published", type_)
        for name, param in item["document"]["params"].items():
            assert param["source"].strip(), (code, name)
    bike = (await client.get("/v1/methodologies", params={"code": "CQ-BIKE"})).json()
    assert bike["items"][0]["document"]["review_flags"][0]["flag"] == "too_fast_for_a_bicycle"
    plate_doc = (await client.get("/v1/methodologies",
                                  params={"code": "CQ-PLATE"})).json()["items"][0]["document"]
    assert "review_flags" not in plate_doc  # absent, not null, where a document has none


async def test_partner_records_of_each_scene_are_paid_the_hand_computed_figures(
        client, citizen, scene_partner):
    ref = card()
    await bind(client, citizen, scene_partner, ref)
    cases = [  # (type, data, days back, exact grams before caps, paid grams/points)
        ("shared_bike_ride", {"distance_km": "3.2", "duration_min": "15"}, 1,
         Decimal("3.2") * BIKE_G_PER_KM),
        ("clean_plate_meal", {"leftover_g": 10}, 1, plate(10)),
        ("clean_plate_meal", {"leftover_g": 35}, 2, plate(35)),  # not a clean plate: 0 g
        ("e_ticket", {"document_kind": "invoice"}, 1, G_PER_PAPER_DOCUMENT),
        ("second_hand_trade", {"category": "textiles", "weight_kg": "0.40"}, 1,
         Decimal("0.40") * TEXTILES_G_PER_KG),
        ("second_hand_trade", {"category": "other", "weight_kg": "3"}, 2, Decimal(0)),
    ]
    r = await scene_partner.push([record(ref, t, days_ago(back, hour=12), data)
                                  for t, data, back, _ in cases])
    assert r.status_code == 200, r.text
    for (type_, _, _, exact), result in zip(cases, r.json()["results"], strict=True):
        assert result["status"] == "credited", result
        b = await behaviour(client, citizen, result["behaviour_id"])
        assert b["methodology"] == dict(zip(("code", "version"), SCENES[type_], strict=True))
        expected = paid(exact)
        if type_ == "e_ticket":  # points rounded up: 5 g earns a point
            expected = (expected[0], 1)
        assert figures(b) == expected, (type_, b)
        assert b["flags"] == []


async def test_a_phone_trade_is_capped_by_the_daily_points_not_its_grams(
        client, citizen, scene_partner):
    ref = card()
    await bind(client, citizen, scene_partner, ref)
    r = await scene_partner.push([record(ref, "second_hand_trade", days_ago(3, hour=10),
                                         {"category": "phone", "weight_kg": "0.35"})])
    (result,) = r.json()["results"]
    b = await behaviour(client, citizen, result["behaviour_id"])
    assert figures(b) == (paid(PHONE_G_PER_TRADE)[0], 300)
    assert b["reason"] == "daily_cap_reached"
    assert b["reason_detail"]["capped_by"] == ["points"]
    heavy = await scene_partner.push([record(ref, "second_hand_trade", days_ago(3, hour=11),
                                             {"category": "phone", "weight_kg": "1.5"})])
    (refused,) = heavy.json()["results"]
    assert refused["status"] == "rejected"
    assert [e["field"] for e in refused["errors"]] == ["data.weight_kg"]


async def test_a_ride_too_fast_for_a_bicycle_waits_for_review_from_a_partner_and_a_claim(
        client, citizen, admin, scene_partner):
    ref = card()
    await bind(client, citizen, scene_partner, ref)
    before = await balance(client, citizen)
    fast = {"distance_km": "10", "duration_min": "20"}  # 30 km/h
    r = await scene_partner.push([record(ref, "shared_bike_ride", days_ago(2, hour=8), fast)])
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert (result["status"], result["reason"], result["points"]) == \
        ("pending_review", "flagged_for_review", 0)
    claimed = await claim(client, citizen, "shared_bike_ride", days_ago(2, hour=18), fast)
    assert claimed.status_code == 201, claimed.text
    normal = await claim(client, citizen, "shared_bike_ride", days_ago(2, hour=20),
                         {"distance_km": "3.2", "duration_min": "15"})
    assert normal.json()["status"] == "credited"
    assert figures(normal.json()) == paid(Decimal("3.2") * BIKE_G_PER_KM, SELF_REPORTED_BIKE)
    for b in (await behaviour(client, citizen, result["behaviour_id"]), claimed.json()):
        assert (b["status"], b["reason"], b["points"]) == \
            ("pending_review", "flagged_for_review", 0)
        assert b["flags"] == ["too_fast_for_a_bicycle"]
        (detail,) = b["reason_detail"]["review_flags"]
        assert detail["flag"] == "too_fast_for_a_bicycle"
        assert detail["field"] == "duration_min"
        assert "25 km/h" in detail["message"]
        # The reviewer sees why, in the queue itself.
        queued = await in_review_queue(client, admin, b["id"])
        assert queued["reason_detail"] == b["reason_detail"]
        assert queued["flags"] == ["too_fast_for_a_bicycle"]
    assert await balance(client, citizen) == before + normal.json()["points"]
    # Approved, the partner's ride is paid its grams (10 × 40 = 400.0 g, 40 points).
    approved = await client.post(f"/v1/admin/reviews/{result['behaviour_id']}/approve",
                                 headers=admin.headers, json={"reason": "checked the track"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "credited"
    assert figures(approved.json()) == paid(10 * BIKE_G_PER_KM)
    rejected = await client.post(f"/v1/admin/reviews/{claimed.json()['id']}/reject",
                                 headers=admin.headers, json={"reason": "an e-bike"})
    assert rejected.json()["status"] == "rejected"
    assert await balance(client, citizen) == before + normal.json()["points"] + 40


async def test_concurrent_e_tickets_pay_up_to_the_daily_cap_only(
        client, citizen, scene_partner):
    ref = card()
    await bind(client, citizen, scene_partner, ref)
    day = days_ago(4, hour=9)
    pushes = [scene_partner.push([record(ref, "e_ticket", day + dt.timedelta(minutes=i),
                                         {"document_kind": "receipt"})])
              for i in range(9)]
    responses = await asyncio.gather(*pushes)
    ids = []
    for r in responses:
        assert r.status_code == 200, r.text
        (result,) = r.json()["results"]
        assert result["status"] == "credited", result
        ids.append(result["behaviour_id"])
    got = [await behaviour(client, citizen, i) for i in ids]
    assert sum(Decimal(b["reduction_g"]) for b in got) == 5 * G_PER_PAPER_DOCUMENT == 25
    assert sum(b["points"] for b in got) == 5
    assert sorted(b["points"] for b in got) == [0] * 4 + [1] * 5
    assert sum(b["reason"] == "daily_cap_reached" for b in got) == 4


async def test_concurrent_clean_plates_pay_up_to_the_daily_grams(
        client, citizen, scene_partner):
    ref = card()
    await bind(client, citizen, scene_partner, ref)
    day = days_ago(5, hour=11)
    responses = await asyncio.gather(*[
        scene_partner.push([record(ref, "clean_plate_meal", day + dt.timedelta(hours=i),
                                   {"leftover_g": 0})]) for i in range(4)])
    got = [await behaviour(client, citizen, r.json()["results"][0]["behaviour_id"])
           for r in responses]
    grams = sorted(Decimal(b["reduction_g"]) for b in got)
    # Two meals a day and 360 g: one plate in full (186.8 g), one the remainder (173.2 g).
    assert grams == [0, 0, Decimal("173.2"), Decimal("186.8")]
    assert sum(b["points"] for b in got) == 18 + 17


async def test_simulate_scores_the_new_scenes(client, admin, citizen, scene_partner):
    ref = card()
    await bind(client, citizen, scene_partner, ref)
    await scene_partner.push([
        record(ref, "shared_bike_ride", days_ago(6, hour=9),
               {"distance_km": "4", "duration_min": "20"}),
        record(ref, "second_hand_trade", days_ago(6, hour=9),
               {"category": "textiles", "weight_kg": "1"})])
    window = {"occurred_from": days_ago(7, hour=0).isoformat(),
              "occurred_to": days_ago(5, hour=0).isoformat()}
    for code, type_ in (("CQ-BIKE", "shared_bike_ride"), ("CQ-REUSE", "second_hand_trade")):
        r = await client.post(f"{ADMIN}/{code}/versions/1/simulate", headers=admin.headers,
                              json=window)
        assert r.status_code == 200, r.text
        rows = [row for row in r.json()["rows"] if row["type"] == type_]
        assert rows and sum(row["behaviours"] for row in rows) >= 1
        assert all(row["changed"] == 0 and row["not_scorable"] == 0 for row in rows)


async def test_a_new_scene_published_through_the_admin_api_scores_claims_and_batches(
        client, admin, citizen):
    """A scene nobody wrote code for: refilling a bottle at a public tap, per litre, with a
    review flag for a refill larger than a bottle. Written here, published, used at once."""
    suffix = secrets.token_hex(3)
    code, type_ = f"T-REFILL-{suffix.upper()}", f"tap_refill_{suffix}"
    doc = document(
        code, behaviour=type_, title={"zh": "自带水杯接水", "en": "Bottle refills"},
        inputs={"litres": {"type": "decimal", "min": "0.1", "max": "5", "places": 1,
                           "unit": "L"},
                "vessel": {"type": "enum", "values": ["bottle", "flask"]}},
        params={"g_per_litre": {"value": {"bottle": "80", "flask": "60"},
                                "unit": "g CO2e/L", "source": "test figure (unconfirmed)"},
                "bottle_litres": {"value": "1.5", "unit": "L", "source": "test bound"},
                "g_per_point": {"value": "10", "unit": "g/point", "source": "seed peg"}},
        reduction_g={"formula": "litres * g_per_litre[vessel]",
                     "rounding": {"places": 1, "mode": "half_even"}},
        review_flags=[{"flag": "more_than_a_bottle", "when": "litres > bottle_litres",
                       "field": "litres", "message": "more than one bottle at a time"}],
        evidence={"partner_verified": {"factor": "1", "review": False},
                  "self_reported": {"factor": "0.5", "review": False}},
        limits={"per_day": {"count": 3, "grams": "300"}})
    r = await client.post(ADMIN + "/", headers=admin.headers, json=doc)
    assert r.status_code == 201, r.text
    assert r.json()["document"]["review_flags"][0]["flag"] == "more_than_a_bottle"
    r = await client.post(f"{ADMIN}/{code}/versions/1/publish", headers=admin.headers)
    assert r.status_code == 200, r.text
    listed = (await client.get("/v1/methodologies", params={"code": code})).json()["items"]
    assert [(v["behaviour"], v["status"]) for v in listed] == [(type_, "published")]

    # An app claim: 1.2 L in a bottle × 80 g × 0.5 = 48.0 g, 4 points.
    c = await claim(client, citizen, type_, days_ago(1, hour=10),
                    {"litres": "1.2", "vessel": "bottle"})
    assert c.status_code == 201, c.text
    assert (c.json()["status"], *figures(c.json())) == ("credited", Decimal("48.0"), 4)
    # A partner batch: 1.5 L in a flask = 90.0 g (9 points); 2 L waits for review (flagged);
    # a vessel the document does not know is refused naming the field.
    partner = await other_partner(client, admin, [type_])
    ref = card()
    await bind(client, citizen, partner, ref)
    r = await partner.push([
        record(ref, type_, days_ago(1, hour=11), {"litres": "1.5", "vessel": "flask"}),
        record(ref, type_, days_ago(1, hour=12), {"litres": "2", "vessel": "bottle"}),
        record(ref, type_, days_ago(1, hour=13), {"litres": "1", "vessel": "cup"})])
    assert r.status_code == 200, r.text
    ok, flagged, bad = r.json()["results"]
    assert (ok["status"], ok["points"]) == ("credited", 9)
    assert figures(await behaviour(client, citizen, ok["behaviour_id"])) == \
        (Decimal("90.0"), 9)
    assert (flagged["status"], flagged["reason"]) == ("pending_review", "flagged_for_review")
    b = await behaviour(client, citizen, flagged["behaviour_id"])
    assert b["flags"] == ["more_than_a_bottle"]
    assert b["reason_detail"]["review_flags"][0]["field"] == "litres"
    assert bad["status"] == "rejected"
    assert [e["field"] for e in bad["errors"]] == ["data.vessel"]
    # A partner of another scope may not report it.
    outsider = await other_partner(client, admin, ["e_ticket"])
    await bind(client, citizen, outsider, ref2 := card())
    r = await outsider.push([record(ref2, type_, days_ago(1, hour=14),
                                    {"litres": "1", "vessel": "flask"})])
    assert r.json()["results"][0]["status"] == "rejected"
    assert r.json()["results"][0]["reason"] == "outside_partner_scope"


async def test_the_scene_badges_are_seeded_and_checked(client, admin, seed_badges):
    await seed_badges()
    r = await client.get("/v1/admin/badges/", headers=admin.headers, params={"limit": 100})
    assert r.status_code == 200, r.text
    measures = {b["code"]: b["measure"] for b in r.json()["items"]}
    assert {k: measures.get(k) for k in ("bike_rider", "clean_plate", "paperless",
                                          "second_life")} == {
        "bike_rider": "count_shared_bike_ride", "clean_plate": "count_clean_plate_meal",
        "paperless": "count_e_ticket", "second_life": "count_second_hand_trade"}


async def test_the_same_ride_from_the_app_and_the_partner_is_paid_once_but_receipts_are_not_one(
        client, citizen, scene_partner):
    """CQ-BIKE keeps the programme's same-trip window; CQ-PAPERLESS sets
    ``same_behaviour_window_s`` to 0: two receipts a minute apart are two documents."""
    ref = card()
    await bind(client, citizen, scene_partner, ref)
    at = days_ago(8, hour=9)
    ride = {"distance_km": "3.2", "duration_min": "15"}
    mine = await claim(client, citizen, "shared_bike_ride", at, ride)
    assert mine.json()["status"] == "credited"
    r = await scene_partner.push([
        record(ref, "shared_bike_ride", at + dt.timedelta(minutes=2), ride),
        record(ref, "e_ticket", at, {"document_kind": "ticket"}),
        record(ref, "e_ticket", at + dt.timedelta(minutes=1), {"document_kind": "ticket"})])
    partner_ride, first, second = r.json()["results"]
    assert partner_ride["status"] == "credited"
    superseded = await behaviour(client, citizen, mine.json()["id"])
    assert superseded["status"] == "superseded"
    assert (first["status"], first["points"], second["status"], second["points"]) == \
        ("credited", 1, "credited", 1)


async def test_a_bad_review_flag_is_a_422_naming_the_field_and_nothing_is_stored(
        client, admin):
    code = "T-BADFLAG-" + secrets.token_hex(2).upper()
    doc = document(code, review_flags=[{"flag": "odd", "when": "distance_km + 1",
                                        "field": "distanse_km", "message": "m"}])
    r = await client.post(ADMIN + "/", headers=admin.headers, json=doc)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert sorted(e["field"] for e in r.json()["errors"]) == [
        "review_flags[0].field", "review_flags[0].when"]
    wrong_window = await client.post(ADMIN + "/", headers=admin.headers,
                                     json={**document(code), "same_behaviour_window_s": -5})
    assert wrong_window.status_code == 422
    assert [e["field"] for e in wrong_window.json()["errors"]] == ["same_behaviour_window_s"]
    listed = await client.get(ADMIN + "/", headers=admin.headers, params={"code": code})
    assert listed.json()["items"] == []
    schema = (await client.get("/v1/methodologies/schema")).json()
    props = schema["$defs"]["Document"]["properties"]
    assert {"review_flags", "same_behaviour_window_s"} <= set(props)
    assert schema["$defs"]["ReviewFlag"]["properties"]["when"]["type"] == "string"


async def test_a_partner_only_scene_refuses_an_app_claim_and_stores_nothing(client, citizen):
    for type_, data in (("clean_plate_meal", {"leftover_g": 0}),
                        ("e_ticket", {"document_kind": "invoice"})):
        r = await claim(client, citizen, type_, days_ago(1), data)
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["evidence"]
    mine = await client.get("/v1/behaviours/", headers=citizen.headers)
    assert mine.json()["items"] == []


async def test_concurrent_ride_claims_pay_up_to_the_daily_grams_only(client, citizen):
    # 40 km in 4 h, self-reported: 40 × 40 × 0.5 = 800.0 g (80 points) each; the day pays
    # 1,000 g: one in full, one the remaining 200.0 g (20 points), the rest nothing.
    day = days_ago(9, hour=7)
    answers = await asyncio.gather(*[
        claim(client, citizen, "shared_bike_ride", day + dt.timedelta(minutes=15 * i),
              {"distance_km": "40", "duration_min": "240"}) for i in range(6)])
    assert [r.status_code for r in answers] == [201] * 6, [r.text for r in answers]
    grams = sorted(Decimal(r.json()["reduction_g"]) for r in answers)
    assert grams == [0, 0, 0, 0, Decimal("200.0"), Decimal("800.0")]
    assert sum(r.json()["points"] for r in answers) == 100
    assert await balance(client, citizen) == 100
