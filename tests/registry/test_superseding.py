"""A partner record never supersedes an app report whose grams are issued as credits."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from carbon_inclusion.app import create_app
from carbon_inclusion.common.clock import FixedClock
from tests.behaviours.conftest import SHANGHAI, bind, card, claim, partner, trip

__all__ = ["partner"]  # the fixture, used by name


def pinned_now() -> dt.datetime:
    """The moment this module's app stands at: now, except in the first days of January,
    when three days back is last year and a vintage ending yesterday would cross the year
    boundary; then noon on the 28th of December before. Always in the past and within the
    claim window of the real now, so whatever still reads the system clock (a partner's
    signed timestamp) agrees with it."""
    now = dt.datetime.now(SHANGHAI)
    if now.month == 1 and now.day <= 3:
        return dt.datetime(now.year - 1, 12, 28, 12, tzinfo=SHANGHAI)
    return now


CLOCK = FixedClock(pinned_now())


@pytest.fixture(scope="module")
async def app(app, settings) -> AsyncIterator:
    """The session's app (migrated and seeded) again, standing at ``CLOCK``."""
    application = create_app(settings, clock=CLOCK)
    yield application
    await application.state.db.dispose()
    await application.state.redis.close()


@pytest.fixture(scope="module")
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def days_ago(days: int, *, hour: int = 9) -> dt.datetime:
    """``hour`` o'clock Shanghai time ``days`` programme days before ``CLOCK`` (or earlier
    than that hour, halfway through the day so far, if that would be after ``CLOCK``)."""
    now = CLOCK.now().astimezone(SHANGHAI)
    day = now.date() - dt.timedelta(days=days)
    at = dt.datetime.combine(day, dt.time(hour), tzinfo=SHANGHAI)
    if at > now:
        midnight = dt.datetime.combine(day, dt.time(0), tzinfo=SHANGHAI)
        at = midnight + (now - midnight) / 2
    return at


async def test_an_issued_app_report_stays_and_the_partner_record_is_refused(
        app, client, admin, citizen, partner):
    today = CLOCK.now().astimezone(SHANGHAI).date()
    assert days_ago(3).year == today.year  # the vintage below lies within one year
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
