"""`carbon-inclusion seed --demo`: a month of a programme, in a database of its own."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from carbon_inclusion.cli import main
from carbon_inclusion.db.migrate import upgrade
from carbon_inclusion.devservices import drop_database, ensure_database
from tests.conftest import client_of, own_app

pytestmark = pytest.mark.slow


async def test_the_demo_fills_an_empty_database_and_only_that(monkeypatch, settings):
    url = make_url(settings.database_url).set(database=f"ci_demo_{secrets.token_hex(4)}")
    database_url = url.render_as_string(hide_password=False)
    await asyncio.to_thread(ensure_database, database_url)
    try:
        await asyncio.to_thread(upgrade, database_url)
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("REDIS_URL", settings.redis_url)
        monkeypatch.setenv("REDIS_PREFIX", settings.redis_prefix + "demo:")
        runner = CliRunner()
        filled = await asyncio.to_thread(runner.invoke, main, ["seed", "--demo"])
        assert filled.exit_code == 0, filled.output
        report = json.loads(filled.stdout[filled.stdout.index("\n{") + 1:])  # not stderr
        assert report["citizens"] == 400 and report["partner_records"] > 20000
        assert report["batch_t"] >= 12 and report["certificate"].startswith("http")
        assert report["batch_steps"] == ["proposed", "verified", "issued"]
        assert [b["steps"] for b in report["batches"]] == [["proposed", "verified",
                                                            "issued"]] * 2
        for step in ("proposed by the administrator", "verified by", "issued by the "
                     "administrator", "citizens registered: 400 of 400"):
            assert step in filled.stderr, step  # each step said as it happens
        assert report["redemptions"] > 0
        assert report["available_t"] >= 12  # after the demo's own forum
        verify = await asyncio.to_thread(runner.invoke, main, ["registry", "verify"])
        assert verify.exit_code == 0, verify.output
        assert "grams recompute from inputs and the published version: ok" in verify.output
        await _a_two_day_event_of_120_people_is_neutralised(settings, database_url, report)
        again = await asyncio.to_thread(runner.invoke, main, ["seed", "--demo"])
        assert again.exit_code != 0 and "without citizens" in again.output
    finally:
        await asyncio.to_thread(drop_database, database_url)


# A two-day meeting of 120 people in Chongqing: most come by metro or bus, 20 by rail from
# 300 km, 40 room-nights, two meals a day each (about 5 t with the footprint methodology).
MEETING = {"name": "两江新区低碳产业大会", "venue": "重庆悦来国际会议中心", "attendees": 120,
           "travel": [{"mode": "metro", "distance_km": "15", "people": 80},
                      {"mode": "bus", "distance_km": "10", "people": 20},
                      {"mode": "rail", "distance_km": "300", "people": 20}],
           "hotel_room_nights": 40, "meals": 480, "vegetarian_meals": 48,
           "electricity_kwh": "2000", "waste_kg": "40",
           "materials": [{"material": "paper", "kg": "20"}]}


async def _a_two_day_event_of_120_people_is_neutralised(settings, database_url: str,
                                                        report: dict) -> None:
    """What the demo issued is enough for the enterprise to neutralise a 120-person two-day
    event after its own forum: one order, within the share one buyer may reserve."""
    async with own_app(settings, database_url=database_url,
                       redis_prefix=settings.redis_prefix + "demo-order:") as app, \
            client_of(app, "203.0.113.9") as client:
        tokens = {}
        for role in ("enterprise", "admin"):
            r = await client.post("/v1/auth/token", json={
                "phone": report["sign_in"][role], "password": report["sign_in"]["password"]})
            assert r.status_code == 200, r.text
            tokens[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
        event = await client.post("/v1/events", headers=tokens["enterprise"], json=MEETING | {
            "starts_on": str(today - dt.timedelta(days=3)),
            "ends_on": str(today - dt.timedelta(days=2))})
        assert event.status_code == 201, event.text
        needed = event.json()["footprint"]["credits_needed"]
        assert needed >= 5, event.json()["footprint"]
        order = await client.post("/v1/orders", json={"quantity_t": needed}, headers={
            **tokens["enterprise"], "Idempotency-Key": "meeting-order"})
        assert order.status_code == 201, order.text
        paid = await client.post(f"/v1/admin/orders/{order.json()['id']}/confirm-payment",
                                 headers=tokens["admin"], json={"reference": "bank 0001"})
        assert paid.status_code == 200, paid.text
        done = await client.post(f"/v1/events/{event.json()['id']}/neutralize",
                                 headers=tokens["enterprise"])
        assert done.status_code == 201, done.text
