"""The conservative versions are seeded, published and in force for new behaviours, and a
behaviour recorded today is paid what the cited factors give by hand (the arithmetic is in
``tests/rules/test_golden_conservative.py``, from named, sourced constants)."""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

import pytest

from tests.behaviours.conftest import bind, card, days_ago, partner
from tests.methodologies.conftest import document
from tests.rules.conftest import seed_document
from tests.rules.test_golden_conservative import (
    AVOIDED_G_PER_KG,
    EV_G_PER_KWH,
    SELF_REPORTED_TRANSIT,
    bus,
    paid,
)

__all__ = ["partner"]

NOVEMBER_FIRST = dt.datetime(2026, 11, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
ADMIN = "/v1/admin/methodologies"


async def versions(client, code: str) -> dict[int, dict]:
    r = await client.get("/v1/methodologies", params={"code": code, "limit": 100})
    assert r.status_code == 200, r.text
    return {v["version"]: v for v in r.json()["items"]}


@pytest.mark.parametrize(("code", "before", "new"), [
    ("CQ-TRANSIT", 2, 3), ("CQ-WASTE", 1, 2), ("CQ-EV", 1, 2)])
async def test_the_seed_publishes_each_new_version_in_force_from_november_2026(
        client, code, before, new):
    found = await versions(client, code)
    assert found[new]["status"] == "published"
    assert dt.datetime.fromisoformat(found[new]["in_force_from"]) == NOVEMBER_FIRST
    assert found[new]["in_force_to"] is None
    # The previous version is closed where the new one starts; its document is unchanged.
    assert dt.datetime.fromisoformat(found[before]["in_force_to"]) == NOVEMBER_FIRST
    assert found[new]["document"]["plausibility_percentile"] == "99"
    assert "plausibility_percentile" not in found[before]["document"]
    for name, param in found[new]["document"]["params"].items():
        assert param["source"].strip(), name


async def test_the_older_documents_keep_their_hash(client):
    from carbon_inclusion import rules
    for code, version, seed in (("CQ-TRANSIT", 2, "cq-transit-v2"), ("CQ-WASTE", 1, "cq-waste-v1"),
                                ("CQ-EV", 1, "cq-ev-v1")):
        served = (await versions(client, code))[version]
        assert served["sha256"] == rules.load_document(seed_document(seed)).sha256


async def evaluate(client, admin, code: str, version: int, data: dict,
                   evidence: str = "partner_verified") -> tuple[Decimal, int]:
    r = await client.post(f"{ADMIN}/{code}/versions/{version}/evaluate", headers=admin.headers,
                          json={"data": data, "evidence": evidence})
    assert r.status_code == 200, r.text
    return Decimal(r.json()["reduction_g"]), r.json()["points"]


async def test_the_evaluate_endpoint_gives_the_hand_computed_figures(client, admin):
    assert await evaluate(client, admin, "CQ-TRANSIT", 3, {"mode": "bus"}) == paid(bus(None))
    assert await evaluate(client, admin, "CQ-TRANSIT", 3, {"mode": "bus"}, "self_reported") == \
        paid(bus(None), SELF_REPORTED_TRANSIT)
    assert await evaluate(client, admin, "CQ-WASTE", 2,
                          {"category": "recyclable", "weight_kg": "2.35"}) == \
        paid(Decimal("2.35") * AVOIDED_G_PER_KG)
    assert await evaluate(client, admin, "CQ-EV", 2, {"kwh": "30"}) == \
        paid(30 * EV_G_PER_KWH)


async def test_behaviours_recorded_now_are_paid_by_the_conservative_versions(
        client, citizen, partner):
    ref = card()
    await bind(client, citizen, partner, ref)
    cases = [  # (type, data, days back, hand-computed exact grams)
        ("transit_trip", {"mode": "bus"}, 1, bus(None)),
        ("transit_trip", {"mode": "bus", "distance_km": "0.1"}, 2, bus(Decimal("0.1"))),
        ("transit_trip", {"mode": "bus", "distance_km": "3"}, 3, bus(Decimal(3))),
        ("waste_sorting", {"category": "recyclable", "weight_kg": "1.20"}, 1,
         Decimal("1.20") * AVOIDED_G_PER_KG),
        ("waste_sorting", {"category": "kitchen", "weight_kg": "1.20"}, 2, Decimal(0)),
        ("waste_sorting", {"category": "hazardous", "weight_kg": "0.30"}, 3, Decimal(0)),
        ("waste_sorting", {"category": "other", "weight_kg": "5"}, 4, Decimal(0)),
        ("waste_sorting", {"category": "recyclable"}, 5, Decimal(0)),  # not weighed
        ("ev_charging", {"kwh": "12.34"}, 1, Decimal("12.34") * EV_G_PER_KWH),  # < daily cap
    ]
    records = [{"external_id": "c-" + secrets.token_hex(6), "external_ref": ref, "type": t,
                "occurred_at": days_ago(back, hour=10).isoformat(), "data": data}
               for t, data, back, _ in cases]
    r = await partner.push(records)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    expected_version = {"transit_trip": ("CQ-TRANSIT", 3), "waste_sorting": ("CQ-WASTE", 2),
                        "ev_charging": ("CQ-EV", 2)}
    paid_by_case = []
    for (type_, _, _, exact), result in zip(cases, results, strict=True):
        assert result["status"] == "credited", result
        b = (await client.get(f"/v1/behaviours/{result['behaviour_id']}",
                              headers=citizen.headers)).json()
        code, version = expected_version[type_]
        assert b["methodology"] == {"code": code, "version": version}
        assert (Decimal(b["reduction_g"]), b["points"]) == paid(exact), (type_, b)
        paid_by_case.append((Decimal(b["reduction_g"]), b["points"]))
    no_distance, shortest, three_km = paid_by_case[:3]
    assert no_distance <= shortest <= three_km


async def test_plausibility_percentile_is_checked_on_submission_and_described(
        client, admin, code):
    bad = await client.post(ADMIN + "/", headers=admin.headers,
                            json={**document(code), "plausibility_percentile": 40})
    assert bad.status_code == 422, bad.text
    assert [e["field"] for e in bad.json()["errors"]] == ["plausibility_percentile"]
    wrong_type = await client.post(ADMIN + "/", headers=admin.headers,
                                   json={**document(code), "plausibility_percentile": [99]})
    assert wrong_type.status_code == 422
    assert wrong_type.json()["errors"][0]["field"] == "plausibility_percentile"
    good = await client.post(ADMIN + "/", headers=admin.headers,
                             json={**document(code), "plausibility_percentile": 99.5})
    assert good.status_code == 201, good.text
    assert good.json()["document"]["plausibility_percentile"] == "99.5"
    schema = (await client.get("/v1/methodologies/schema")).json()
    prop = schema["$defs"]["Document"]["properties"]["plausibility_percentile"]
    assert prop["default"] == "99"
    assert {"type": "number", "minimum": 50, "maximum": 100} in prop["anyOf"]
    assert "plausibility_percentile" not in schema["$defs"]["Document"]["required"]
