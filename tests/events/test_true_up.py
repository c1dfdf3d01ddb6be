"""Neutralisation after the fact: an event neutralised on its estimate before it ends is
trued up from its actual figures after it, and the final certificate supersedes the
estimate's. Also the footprint methodology v2 (city bus and coach, fuel, heat, round trips),
recomputed by hand from the factors it cites.

The module's app stands at ``CLOCK`` (the real time when the module starts) so a test can
move past an event's last day; tokens are still checked against the real time, which the
clock never leaves by more than days.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import secrets
from collections.abc import AsyncIterator
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import text

from carbon_inclusion.common.clock import FixedClock
from tests.behaviours.conftest import SHANGHAI
from tests.conftest import client_of, own_app
from tests.events.test_events import buy, org
from tests.registry.conftest import methodology

__all__ = ["methodology", "org"]  # the fixtures, used by name

ROOT = Path(__file__).resolve().parents[2]
V2 = json.loads((ROOT / "seed" / "footprints" / "cq-event-v2.json").read_text(encoding="utf-8"))
V2_FACTORS = {k: Decimal(v) for k, v in V2["params"]["g_per_unit"]["value"].items()}
CLOCK = FixedClock(dt.datetime.now(SHANGHAI))
MILLION = Decimal(1_000_000)


@pytest.fixture(scope="module")
async def app(app, settings) -> AsyncIterator:
    """The session's app (migrated and seeded) again, standing at ``CLOCK``."""
    async with own_app(settings, clock=CLOCK) as application:
        yield application


@pytest.fixture(scope="module")
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app, "203.0.113.7") as c:
        yield c


@pytest.fixture(autouse=True)
def now():
    """Each test starts at the real time."""
    CLOCK.set(dt.datetime.now(SHANGHAI))
    return CLOCK


def today() -> dt.date:
    return CLOCK.now().astimezone(SHANGHAI).date()


def event(days_from_now: int = 1, days: int = 2, **figures) -> dict:
    """An event starting ``days_from_now`` programme days from the clock's, of ``days``."""
    start = today() + dt.timedelta(days=days_from_now)
    assert start >= dt.date(2026, 12, 1)  # CQ-EVENT v2 is in force
    return {
        "name": f"成渝双城碳中和峰会 {secrets.token_hex(2)}",
        "starts_on": start.isoformat(),
        "ends_on": (start + dt.timedelta(days=days - 1)).isoformat(),
        "venue": "重庆国际博览中心",
        "attendees": 200,
    } | figures


def actuals_of(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("name", "starts_on", "ends_on", "venue")}


def after_the_event(body: dict) -> None:
    """Move the clock to noon of the day after the event's last day."""
    ends = dt.date.fromisoformat(body["ends_on"])
    CLOCK.set(dt.datetime.combine(ends + dt.timedelta(days=1), dt.time(12), tzinfo=SHANGHAI))


# Figures whose footprints are whole-ish tonnes: 2.5 t (3 credits) and 4.6 t (5 credits).
ESTIMATE = {"hotel_room_nights": 40, "meals": 144}  # 40 × 53.5 kg + 144 × 2.5 kg = 2.5 t
BIGGER = {"hotel_room_nights": 80, "meals": 128}  # 4.28 t + 0.32 t = 4.6 t
SMALLER = {"hotel_room_nights": 10, "meals": 100}  # 0.535 t + 0.25 t = 0.785 t


def grams(true_up: dict) -> dict:
    """A true-up with its grams as numbers."""
    return true_up | {k: Decimal(true_up[k]) for k in ("estimated_g", "actual_g")}


async def post_actuals(client, org, event_id, figures, key=None):
    return await client.post(
        f"/v1/events/{event_id}/actuals",
        json=figures,
        headers={**org.headers, "Idempotency-Key": key or "act-" + secrets.token_hex(8)},
    )


async def holdings(client, org) -> tuple[int, int]:
    h = (await client.get("/v1/holdings", headers=org.headers)).json()
    return h["held_t"], h["retired_t"]


async def neutralise_on_estimate(
    app, client, admin, verifier, citizen, methodology, org, bought: int, figures: dict = ESTIMATE
) -> tuple[dict, dict]:
    """An event created and neutralised before it starts; ``(event body, certificate)``."""
    body = event(**figures)
    created = await client.post("/v1/events/", headers=org.headers, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["footprint"]["basis"] == "estimated"
    await buy(app, client, admin, verifier, citizen, methodology, org, bought)
    cert = await client.post(f"/v1/events/{created.json()['id']}/neutralize", headers=org.headers)
    assert cert.status_code == 201, cert.text
    return created.json(), cert.json()


async def test_a_shortfall_is_retired_with_the_actuals_and_the_final_certificate_supersedes(
    app, client, admin, verifier, citizen, methodology, org
):
    ev, estimate = await neutralise_on_estimate(
        app, client, admin, verifier, citizen, methodology, org, bought=6
    )
    assert ev["footprint"]["credits_needed"] == 3
    assert (
        estimate["basis"],
        estimate["content"]["basis"],
        estimate["content"]["neutralisation"],
    ) == ("estimated", "estimated", "pre-event")
    assert "预估" in (await client.get(f"/v1/certificates/{estimate['id']}/html")).text
    shown = (await client.get(f"/v1/events/{ev['id']}", headers=org.headers)).json()
    assert (shown["status"], shown["awaiting_actuals"]) == ("neutralized", True)
    assert await holdings(client, org) == (3, 3)

    # Before the event has ended, actual figures are refused and change nothing.
    early = await post_actuals(client, org, ev["id"], actuals_of(event(**BIGGER)))
    assert (early.status_code, early.json()["code"]) == (409, "event_not_over")

    after_the_event(ev)
    key = "act-" + secrets.token_hex(8)
    r = await post_actuals(client, org, ev["id"], actuals_of(event(**BIGGER)), key)
    assert r.status_code == 201, r.text
    assert r.headers["Idempotent-Replayed"] == "false"
    got = r.json()
    assert (got["footprint"]["basis"], Decimal(got["footprint"]["total_g"])) == (
        "actual",
        4_600_000,
    )
    assert (got["estimate"]["basis"], Decimal(got["estimate"]["total_g"])) == (
        "estimated",
        2_500_000,
    )
    assert got["awaiting_actuals"] is False
    assert grams(got["true_up"]) == {
        "estimated_g": 2_500_000,
        "actual_g": 4_600_000,
        "needed_t": 5,
        "retired_for_estimate_t": 3,
        "additionally_retired_t": 2,
        "voluntary_surplus_t": 0,
        "estimate_certificate_id": estimate["id"],
    }
    assert await holdings(client, org) == (1, 5)  # two more retired

    final = (await client.get(f"/v1/certificates/{got['certificate_id']}")).json()
    assert final["id"] != estimate["id"] and final["status"] == "valid"
    c = final["content"]
    assert (c["basis"], c["neutralisation"], c["event"]["footprint_t"]) == (
        "actual",
        "post-event",
        "4.600",
    )
    assert c["supersedes"] == {"certificate_id": estimate["id"], "number": estimate["number"]}
    assert c["retired"]["quantity_t"] == 5 == sum(s["quantity"] for s in c["retired"]["serials"])
    assert (
        c["retired"]["serials"][: len(estimate["content"]["retired"]["serials"])]
        == (estimate["content"]["retired"]["serials"])
    )

    # The estimate certificate is kept as issued, marked superseded, leading to the final.
    old = (await client.get(f"/v1/certificates/{estimate['id']}")).json()
    assert (old["status"], old["replaced_by"], old["replaced_by_url"]) == (
        "superseded",
        final["id"],
        final["url"],
    )
    assert (old["content"], old["sha256"]) == (estimate["content"], estimate["sha256"])
    page = (await client.get(f"/v1/certificates/{estimate['id']}/html")).text
    assert "SUPERSEDED" in page and final["url"] in page
    pdf = await client.get(f"/v1/certificates/{estimate['id']}/pdf")
    words = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "SUPERSEDED" in words
    # Every retired serial, the estimate's too, now leads to the final certificate.
    for s in c["retired"]["serials"]:
        found = (await client.get(f"/v1/registry/serials/{s['first']}")).json()
        assert (found["state"], found["certificate_id"]) == ("retired", final["id"])
    again = await client.post(f"/v1/events/{ev['id']}/neutralize", headers=org.headers)
    assert (again.status_code, again.json()["id"]) == (200, final["id"])
    cancel = await client.post(
        f"/v1/admin/certificates/{estimate['id']}/cancel",
        headers=admin.headers,
        json={"reason": "try"},
    )
    assert (cancel.status_code, cancel.json()["code"]) == (409, "superseded")


async def test_a_surplus_stays_retired_and_the_final_certificate_states_the_actual_footprint(
    app, client, admin, verifier, citizen, methodology, org
):
    ev, estimate = await neutralise_on_estimate(
        app, client, admin, verifier, citizen, methodology, org, bought=4
    )
    after_the_event(ev)
    r = await post_actuals(client, org, ev["id"], actuals_of(event(**SMALLER)))
    assert r.status_code == 201, r.text
    assert grams(r.json()["true_up"]) | {"estimate_certificate_id": None} == {
        "estimated_g": 2_500_000,
        "actual_g": 785_000,
        "needed_t": 1,
        "retired_for_estimate_t": 3,
        "additionally_retired_t": 0,
        "voluntary_surplus_t": 2,
        "estimate_certificate_id": None,
    }
    assert await holdings(client, org) == (1, 3)  # nothing more retired, nothing returned
    final = (await client.get(f"/v1/certificates/{r.json()['certificate_id']}")).json()
    c = final["content"]
    assert (c["basis"], Decimal(c["event"]["footprint_g"]), c["event"]["footprint_t"]) == (
        "actual",
        785_000,
        "0.785",
    )
    assert c["retired"] == estimate["content"]["retired"]  # the estimate's credits, retired
    assert c["retirement_id"] == estimate["content"]["retirement_id"]
    assert "voluntary surplus" in c["statement"]["en"] and "自愿" in c["statement"]["zh"]
    assert (await client.get(f"/v1/certificates/{estimate['id']}")).json()["status"] == (
        "superseded"
    )
    assert "自愿额外注销" in (await client.get(f"/v1/certificates/{final['id']}/html")).text


async def test_a_shortfall_beyond_the_holding_is_refused_and_changes_nothing(
    app, client, admin, verifier, citizen, methodology, org
):
    ev, estimate = await neutralise_on_estimate(
        app, client, admin, verifier, citizen, methodology, org, bought=4
    )
    after_the_event(ev)
    key = "act-" + secrets.token_hex(8)
    short = await post_actuals(client, org, ev["id"], actuals_of(event(**BIGGER)), key)
    assert (short.status_code, short.json()["code"]) == (409, "insufficient_credits")
    assert (short.json()["needed_t"], short.json()["held_t"], short.json()["shortfall_t"]) == (
        2,
        1,
        1,
    )
    shown = (await client.get(f"/v1/events/{ev['id']}", headers=org.headers)).json()
    assert (shown["awaiting_actuals"], shown["footprint"]["basis"], shown["certificate_id"]) == (
        True,
        "estimated",
        estimate["id"],
    )
    assert (await client.get(f"/v1/certificates/{estimate['id']}")).json()["status"] == "valid"
    assert await holdings(client, org) == (1, 3)
    # Once the organisation holds enough, the same request goes through.
    await buy(app, client, admin, verifier, citizen, methodology, org, 1)
    done = await post_actuals(client, org, ev["id"], actuals_of(event(**BIGGER)), key)
    assert done.status_code == 201, done.text
    assert done.json()["true_up"]["additionally_retired_t"] == 2
    assert await holdings(client, org) == (0, 5)


async def test_actual_figures_before_the_event_has_ended_are_refused(client, org):
    bodies = [event(days_from_now=1, days=1), event(days_from_now=0, days=1)]  # its last day
    if today() - dt.timedelta(days=1) >= dt.date(2026, 12, 1):  # begun yesterday, ends today
        bodies.append(
            event(days_from_now=0)
            | {
                "starts_on": (today() - dt.timedelta(days=1)).isoformat(),
                "ends_on": today().isoformat(),
            }
        )
    for body in bodies:
        ev = (await client.post("/v1/events/", headers=org.headers, json=body)).json()
        r = await post_actuals(client, org, ev["id"], actuals_of(body))
        assert (r.status_code, r.json()["code"]) == (409, "event_not_over"), body
        assert r.json()["ends_on"] == body["ends_on"]
        shown = (await client.get(f"/v1/events/{ev['id']}", headers=org.headers)).json()
        assert shown["actuals_submitted_at"] is None and shown["estimate"] is None


async def test_after_the_event_an_estimate_is_neutralised_only_from_actuals_straight_to_final(
    app, client, admin, verifier, citizen, methodology, org
):
    body = event(**ESTIMATE)
    ev = (await client.post("/v1/events/", headers=org.headers, json=body)).json()
    await buy(app, client, admin, verifier, citizen, methodology, org, 5)
    after_the_event(body)
    refused = await client.post(f"/v1/events/{ev['id']}/neutralize", headers=org.headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "actuals_required")
    r = await post_actuals(client, org, ev["id"], actuals_of(event(**BIGGER)))
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["true_up"]) == ("measured", None)
    assert await holdings(client, org) == (5, 0)  # actual figures alone retire nothing
    cert = await client.post(f"/v1/events/{ev['id']}/neutralize", headers=org.headers)
    assert cert.status_code == 201, cert.text
    c = cert.json()["content"]
    assert (c["basis"], c["neutralisation"], c["retired"]["quantity_t"]) == (
        "actual",
        "post-event",
        5,
    )
    assert "supersedes" not in c and "true_up" not in c
    # An event recorded after it ended has actual figures from the start.
    late = (
        event(days_from_now=-30)
        if today() - dt.timedelta(days=30) >= dt.date(2026, 12, 1)
        else body
    )
    recorded = (await client.post("/v1/events/", headers=org.headers, json=late)).json()
    assert recorded["footprint"]["basis"] == "actual"
    again = await post_actuals(client, org, recorded["id"], actuals_of(late))
    assert (again.status_code, again.json()["code"]) == (409, "already_actual")


async def test_retried_actuals_apply_once(app, client, admin, verifier, citizen, methodology, org):
    ev, _ = await neutralise_on_estimate(
        app, client, admin, verifier, citizen, methodology, org, bought=7
    )
    after_the_event(ev)
    key, figures = "act-" + secrets.token_hex(8), actuals_of(event(**BIGGER))
    first = await post_actuals(client, org, ev["id"], figures, key)
    assert first.status_code == 201, first.text
    again = await post_actuals(client, org, ev["id"], figures, key)
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (201, "true")
    assert again.json() == first.json()
    assert await holdings(client, org) == (2, 5)  # 3 + 2, once
    reused = await post_actuals(client, org, ev["id"], actuals_of(event(**SMALLER)), key)
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")
    other = await post_actuals(client, org, ev["id"], figures)
    assert (other.status_code, other.json()["code"]) == (409, "actuals_already_submitted")
    missing = await client.post(f"/v1/events/{ev['id']}/actuals", json=figures, headers=org.headers)
    assert (missing.status_code, missing.json()["code"]) == (422, "idempotency_key_required")
    assert await holdings(client, org) == (2, 5)


async def test_concurrent_actuals_for_one_event_apply_once(
    app, client, admin, verifier, citizen, methodology, org
):
    ev, _ = await neutralise_on_estimate(
        app, client, admin, verifier, citizen, methodology, org, bought=9
    )
    after_the_event(ev)
    figures, shared = actuals_of(event(**BIGGER)), "act-" + secrets.token_hex(8)
    keys = [shared] * 5 + ["act-" + secrets.token_hex(8) for _ in range(15)]
    answers = await asyncio.gather(*[post_actuals(client, org, ev["id"], figures, k) for k in keys])
    applied = [
        r for r in answers if r.status_code == 201 and r.headers["Idempotent-Replayed"] == "false"
    ]
    assert len(applied) == 1, [r.text for r in answers]
    for r in answers:
        assert r.status_code in (201, 409), r.text
        if r.status_code == 409:
            assert r.json()["code"] == "actuals_already_submitted"
    assert await holdings(client, org) == (4, 5)
    async with app.state.db.engine.connect() as conn:
        stages = (
            await conn.execute(
                text(
                    "SELECT stage, quantity_t FROM retirements WHERE event_id = :e ORDER BY stage"
                ),
                {"e": ev["id"]},
            )
        ).all()
        valid = await conn.scalar(
            text(
                "SELECT count(*) FROM certificates c JOIN retirements t ON t.id = c.retirement_id "
                "WHERE t.event_id = :e AND c.status = 'valid'"
            ),
            {"e": ev["id"]},
        )
    assert [tuple(s) for s in stages] == [("pre_event", 3), ("true_up", 2)] and valid == 1


def up_to_tenth(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.1"), rounding=ROUND_CEILING)


async def test_the_v2_footprint_is_recomputed_by_hand_from_its_cited_factors(client, org):
    # The cited figures (seed/footprints/cq-event-v2.json, params.g_per_unit.source):
    gwp_ch4, gwp_n2o = 28, 265  # IPCC AR5, 100 years
    gas_gj_per_m3, gas_c, gas_ox = Decimal("0.038931"), Decimal("15.3"), Decimal("0.99")
    diesel_gj_per_kg, diesel_c, diesel_ox = Decimal("0.042652"), Decimal("20.2"), Decimal("0.98")
    diesel_kg_per_l = Decimal("0.845")
    c_to_co2 = Decimal(44) / Decimal(12)
    gas = up_to_tenth(
        gas_gj_per_m3
        * (
            gas_c * gas_ox * c_to_co2 * 1000  # kg C/GJ → g CO2
            + 5 * gwp_ch4
            + Decimal("0.1") * gwp_n2o
        )
    )  # g/GJ
    diesel = up_to_tenth(
        diesel_kg_per_l
        * diesel_gj_per_kg
        * (diesel_c * diesel_ox * c_to_co2 * 1000 + 10 * gwp_ch4 + Decimal("0.6") * gwp_n2o)
    )
    heat_gj = Decimal("0.11") * MILLION  # 0.11 t CO2/GJ
    heat_kwh = heat_gj * Decimal("0.0036")  # 1 kWh = 0.0036 GJ
    city_bus, coach = Decimal("0.12552") * 1000, Decimal("0.03948") * 1000  # kg → g per pkm
    assert (gas, diesel, heat_gj, heat_kwh, city_bus, coach) == (
        Decimal("2168.7"),
        Decimal("2631.9"),
        110000,
        396,
        Decimal("125.52"),
        Decimal("39.48"),
    )
    assert [
        V2_FACTORS[k]
        for k in (
            "natural_gas_m3",
            "diesel_l",
            "heat_gj",
            "heat_kwh",
            "travel_bus_pkm",
            "travel_coach_pkm",
        )
    ] == [gas, diesel, heat_gj, heat_kwh, city_bus, coach]

    body = event(
        travel=[
            {"mode": "bus", "distance_km": "8.5", "people": 120},  # both ways
            {"mode": "bus", "distance_km": "8.5", "people": 30, "round_trip": False},
            {"mode": "coach", "distance_km": "310", "people": 45},
        ],
        natural_gas_m3="420.5",
        diesel_l="180",
        heat_gj="12.25",
        heat_kwh="3400",
    )
    r = await client.post("/v1/events/", headers=org.headers, json=body)
    assert r.status_code == 201, r.text
    fp = r.json()["footprint"]
    assert (fp["methodology_code"], fp["methodology_version"]) == ("CQ-EVENT", 2)

    def g(x: Decimal) -> Decimal:  # the document's rounding: 0.1 g, half up, per line
        return x.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    want = [
        ("travel_bus_pkm", Decimal("2040.0"), g(Decimal("8.5") * 120 * 2 * city_bus)),
        ("travel_bus_pkm", Decimal("255.0"), g(Decimal("8.5") * 30 * city_bus)),
        ("travel_coach_pkm", Decimal(27900), g(Decimal(310) * 45 * 2 * coach)),
        ("natural_gas_m3", Decimal("420.5"), g(Decimal("420.5") * gas)),
        ("diesel_l", Decimal(180), g(180 * diesel)),
        ("heat_gj", Decimal("12.25"), g(Decimal("12.25") * heat_gj)),
        ("heat_kwh", Decimal(3400), g(3400 * heat_kwh)),
    ]
    got = [(x["category"], Decimal(x["quantity"]), Decimal(x["grams"])) for x in fp["lines"]]
    assert got == want
    assert [Decimal(x["factor"]) for x in fp["lines"]] == [
        city_bus,
        city_bus,
        coach,
        gas,
        diesel,
        heat_gj,
        heat_kwh,
    ]
    assert want[0][2] == Decimal("256060.8") and want[3][2] == Decimal("911938.4")
    by_source = {s["source"]: Decimal(s["grams"]) for s in fp["breakdown"]}
    assert by_source == {
        "travel": sum(w[2] for w in want[:3]),
        "venue_energy": sum(w[2] for w in want[3:]),
    }
    assert Decimal(fp["total_g"]) == sum(w[2] for w in want)
