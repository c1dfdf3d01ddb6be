"""The services read "now" from the clock they are given, so a test can stand anywhere."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from carbon_inclusion.behaviours.schemas import ClaimIn
from carbon_inclusion.behaviours.service import BehaviourService
from carbon_inclusion.common.clock import FixedClock
from carbon_inclusion.errors import InvalidInput
from tests.behaviours.conftest import SHANGHAI, key


@pytest.fixture
def make_service(app):
    """A behaviour service on its own clock, beside the app's (which keeps crediting
    bindings: only ``app.py`` wires that hook)."""
    s = app.state

    def make(clock: FixedClock) -> BehaviourService:
        return BehaviourService(s.db, s.settings.with_overrides(claim_window_days=3650),
                                s.methodologies, s.partners, s.limiter, clock=clock)

    return make


async def test_a_claim_after_the_clocks_now_is_in_the_future(make_service, citizen):
    clock = FixedClock(dt.datetime(2026, 12, 31, 23, 50, tzinfo=SHANGHAI))
    service = make_service(clock)
    at = dt.datetime(2027, 1, 1, 0, 30, tzinfo=SHANGHAI)
    body = ClaimIn("transit_trip", at, {"mode": "bus", "distance_km": "8"})
    with pytest.raises(InvalidInput) as caught:
        await service.claim(uuid.UUID(citizen.id), "yuzhong", key(), body)
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("occurred_at", "is in the future")]


async def test_points_earned_on_new_years_eve_go_to_that_years_lot(app, make_service,
                                                                   citizen):
    clock = FixedClock(dt.datetime(2026, 12, 31, 23, 59, tzinfo=SHANGHAI))
    service = make_service(clock)
    at = dt.datetime(2026, 12, 31, 23, 40, tzinfo=SHANGHAI)
    out, created = await service.claim(uuid.UUID(citizen.id), "yuzhong", key(),
                                       ClaimIn("transit_trip", at, {"mode": "bus",
                                                                    "distance_km": "8"}))
    assert created and out.status == "credited" and out.points > 0
    assert out.created_at == clock.now()
    async with app.state.db.engine.connect() as conn:
        lots = (await conn.execute(text(
            "SELECT lot, balance FROM point_lots WHERE citizen_id = :c"),
            {"c": uuid.UUID(citizen.id)})).all()
    assert [tuple(r) for r in lots] == [(2026, out.points)]


def test_a_second_behaviour_service_leaves_the_app_s_binding_hook_alone(app, make_service):
    """The hook that credits a new binding's waiting records (with the consent filter) is the
    app's: a service a test makes beside it once took it, and a later binding of a citizen
    without consent credited what waited (a full run's order dependence, now gone)."""
    before = app.state.partners.on_bound
    make_service(FixedClock(dt.datetime(2026, 6, 1, tzinfo=SHANGHAI)))
    assert app.state.partners.on_bound == before
    assert before == app.state.behaviours.credit_bound
