"""A partner record never supersedes an app report whose grams are issued as credits."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from tests.behaviours.conftest import SHANGHAI, bind, card, claim, days_ago, partner, trip

__all__ = ["partner"]  # the fixture, used by name


async def test_an_issued_app_report_stays_and_the_partner_record_is_refused(
        app, client, admin, citizen, partner):
    today = dt.datetime.now(SHANGHAI).date()
    if days_ago(3).year != today.year or (today.month == 1 and today.day <= 3):
        pytest.skip("the vintage would cross a year boundary")
    at = days_ago(2, hour=9)
    reported = await claim(client, citizen, "transit_trip", at,
                           {"mode": "metro", "distance_km": "12.5"})
    assert reported.json()["status"] == "credited", reported.text
    async with app.state.db.connect() as conn:  # a tonne beside it, so a batch can be issued
        await conn.execute(text("""
            INSERT INTO behaviours (id, citizen_id, type, occurred_at, programme_day,
                district_code, source, evidence, partner_id, external_id, status, data,
                methodology_id, methodology_code, methodology_version, computed_reduction_g,
                computed_points, reduction_g, points)
            SELECT :id, :c, 'transit_trip', :at, :day, 'yuzhong', 'partner',
                   'partner_verified', 'test', :ext, 'credited', '{}', v.id, v.code,
                   v.version, 1000000, 0, 1000000, 0
              FROM methodology_versions v WHERE v.code = 'CQ-TRANSIT'
             ORDER BY v.version DESC LIMIT 1"""), {
            "id": uuid.uuid4(), "c": uuid.UUID(citizen.id), "at": days_ago(3),
            "day": days_ago(3).date(), "ext": f"filler-{uuid.uuid4()}"})
    batch = await client.post("/v1/admin/credit-batches", headers=admin.headers, json={
        "methodology_code": "CQ-TRANSIT",
        "vintage_from": max(today - dt.timedelta(days=29), today.replace(month=1, day=1)
                            ).isoformat(),
        "vintage_to": (today - dt.timedelta(days=1)).isoformat()})
    assert batch.status_code == 201, batch.text

    ref = card()
    await bind(client, citizen, partner, ref)
    pushed = await partner.push([trip(ref, at + dt.timedelta(minutes=2))])  # the same trip
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["counts"] == {"rejected": 1}
    assert pushed.json()["results"][0]["reason"] == "issued_as_credits"
    kept = (await client.get(f"/v1/behaviours/{reported.json()['id']}",
                             headers=citizen.headers)).json()
    assert kept["status"] == "credited"
    assert (await app.state.registry.verify()).ok
