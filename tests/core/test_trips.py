"""One trip recorded by the app and by a partner is paid once."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbon_inclusion.core import trips

T0 = dt.datetime(2026, 5, 1, 8, tzinfo=dt.UTC)
WINDOW = dt.timedelta(minutes=10)
A, B, C = (uuid.UUID(int=i) for i in (1, 2, 3))


@dataclass(frozen=True)
class R:
    id: uuid.UUID
    source: str
    occurred_at: dt.datetime = T0


@pytest.mark.parametrize(("source", "trip", "issued", "expected"), [
    ("app", [], (), trips.Settlement()),
    ("app", [R(A, "app")], (), trips.Settlement(overlapping=True)),
    ("app", [R(A, "app"), R(B, "partner")], (),
     trips.Settlement(refused="recorded_by_partner", because=B)),
    ("partner", [], (), trips.Settlement()),
    ("partner", [R(A, "app"), R(C, "app")], (),
     trips.Settlement(supersedes=(A, C))),
    # Issue #16: a trip another partner record already recorded is a duplicate, not paid.
    ("partner", [R(A, "app"), R(B, "partner"), R(C, "app")], (),
     trips.Settlement(duplicate_of=B)),
    ("partner", [R(A, "app"), R(B, "partner")], (A,), trips.Settlement(duplicate_of=B)),
    ("partner", [R(A, "app"), R(C, "app")], (C,),
     trips.Settlement(refused="issued_as_credits", because=C)),
    ("partner", [R(B, "partner")], (), trips.Settlement(duplicate_of=B)),
])
def test_which_record_of_a_trip_pays(source, trip, issued, expected):
    assert trips.settle(source, trip, issued) == expected


@pytest.mark.parametrize(("offset", "inside"), [
    (dt.timedelta(0), True), (WINDOW, True), (-WINDOW, True),
    (WINDOW + dt.timedelta(microseconds=1), False), (-WINDOW - dt.timedelta(seconds=1), False),
])
def test_the_window_is_inclusive_on_both_sides(offset, inside):
    found = trips.same_trip(T0, [R(A, "app", T0 + offset)], WINDOW)
    assert bool(found) is inside


def test_same_trip_leaves_out_what_is_already_superseded():
    assert trips.same_trip(T0, [R(A, "app"), R(B, "app")], WINDOW, ignore={A}) == [R(B, "app")]


records = st.lists(st.builds(R, st.uuids(), st.sampled_from(["app", "partner"])), max_size=6,
                   unique_by=lambda r: r.id)


@given(st.sampled_from(["app", "partner"]), records, st.data())
def test_a_trip_is_never_paid_twice(source, trip, data):
    issued = data.draw(st.sets(st.sampled_from([r.id for r in trip])) if trip else st.just(set()))
    s = trips.settle(source, trip, issued)
    if s.refused is not None:
        assert s.because in {r.id for r in trip} and not s.supersedes
        return
    if s.duplicate_of is not None:  # kept for review, not paid, replaces nothing
        assert s.duplicate_of in {r.id for r in trip if r.source == "partner"}
        assert source == "partner" and not s.supersedes
        return
    if source == "partner":  # paid: no other partner record of the trip
        assert all(r.source == "app" for r in trip)
    # Accepted: no partner record of the trip stays beside a new app record, and a partner
    # record replaces every app record of the trip (none of which backs credits).
    if source == "app":
        assert all(r.source == "app" for r in trip) and s.overlapping == bool(trip)
    else:
        assert set(s.supersedes) == {r.id for r in trip if r.source == "app"}
        assert not set(s.supersedes) & set(issued)
