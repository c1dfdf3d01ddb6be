"""A partner record never supersedes an app report whose grams are in a credit batch."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from carbon_inclusion.common.clock import FixedClock
from tests.behaviours.conftest import SHANGHAI, bind, card, claim, partner
from tests.conftest import client_of, own_app
from tests.registry.conftest import issue, propose, verify_batch

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


@pytest.fixture(autouse=True)
def _clock_at_the_test_s_start() -> None:
    """Each test stands at its own start: pinned once at import, a full run reached this
    module more than the signatures' five minutes later and every partner push was stale."""
    CLOCK.set(pinned_now())


@pytest.fixture(scope="module")
async def app(app, settings) -> AsyncIterator:
    """The session's app (migrated and seeded) again, standing at ``CLOCK``."""
    async with own_app(settings, clock=CLOCK) as application:
        yield application


@pytest.fixture(scope="module")
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app, "203.0.113.7") as c:
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


def charge(ref: str, occurred_at: dt.datetime, kwh: str = "30.00") -> dict:
    return {"external_id": "c-" + secrets.token_hex(6), "external_ref": ref,
            "type": "ev_charging", "occurred_at": occurred_at.isoformat(),
            "data": {"kwh": kwh}}


async def test_an_app_report_in_a_batch_stays_and_the_partner_record_is_refused(
        app, client, admin, verifier, citizen, partner):
    """Only a reviewed self-report can be in a batch: a charging session the citizen
    reported, approved on review, then proposed in a batch and issued. Its operator's record
    of the same session, sent while the batch is proposed and again once it is issued, would
    count the grams twice: refused, and the app's report stays."""
    today = CLOCK.now().astimezone(SHANGHAI).date()
    assert days_ago(3).year == today.year  # the vintage below lies within one year
    at = days_ago(2, hour=21)
    reported = await claim(client, citizen, "ev_charging", at, {"kwh": "30.00"})
    assert reported.json()["status"] == "pending_review", reported.text  # CQ-EV: reviewed
    approved = await client.post(f"/v1/admin/reviews/{reported.json()['id']}/approve",
                                 headers=admin.headers, json={"reason": "charger receipt"})
    assert approved.json()["status"] == "credited", approved.text
    # A tonne beside it, so a batch can be made: 50 sessions of 150 kWh under CQ-EV v2,
    # each 150 × 0.85 × 5 km × 7 L/100 km × 2270 g/L − 150 × 539.5 g = 20373.75 g, rounded
    # half even to 20373.8 g (stored as the pipeline stores them, so they recompute).
    async with app.state.db.connect() as conn:
        await conn.execute(text("""
            INSERT INTO behaviours (id, citizen_id, type, occurred_at, programme_day,
                district_code, source, evidence, partner_id, external_id, status, data,
                methodology_id, methodology_code, methodology_version, computed_reduction_g,
                computed_points, reduction_g, points)
            SELECT gen_random_uuid(), :c, 'ev_charging', :at, :day, 'yuzhong', 'partner',
                   'partner_verified', 'test', 'filler-' || gen_random_uuid(), 'credited',
                   '{"kwh": "150"}', v.id, v.code, v.version, 20373.8, 2037, 20373.8, 0
              FROM methodology_versions v, generate_series(1, 50)
             WHERE v.code = 'CQ-EV' AND v.version = 2"""), {
            "c": uuid.UUID(citizen.id), "at": days_ago(3), "day": days_ago(3).date()})
    proposed = await propose(client, admin, {
        "methodology_code": "CQ-EV",
        "vintage_from": max(today - dt.timedelta(days=29), today.replace(month=1, day=1)
                            ).isoformat(),
        "vintage_to": (today - dt.timedelta(days=1)).isoformat()})
    assert proposed.status_code == 201, proposed.text
    async with app.state.db.engine.connect() as conn:
        assert await conn.scalar(text(
            "SELECT batch_id FROM credit_allocations WHERE behaviour_id = :b"),
            {"b": reported.json()["id"]}) == uuid.UUID(proposed.json()["id"])

    ref = card()
    await bind(client, citizen, partner, ref)
    for step in ("proposed", "issued"):
        if step == "issued":
            assert (await verify_batch(client, verifier, proposed.json()["id"])
                    ).status_code == 200
            assert (await issue(client, admin, proposed.json()["id"])).status_code == 200
        pushed = await partner.push([charge(ref, at + dt.timedelta(minutes=2))])  # the same
        assert pushed.status_code == 200, pushed.text
        assert pushed.json()["counts"] == {"rejected": 1}, step
        assert pushed.json()["results"][0]["reason"] == "issued_as_credits"
        kept = (await client.get(f"/v1/behaviours/{reported.json()['id']}",
                                 headers=citizen.headers)).json()
        assert kept["status"] == "credited"
    assert (await app.state.registry.verify()).ok
