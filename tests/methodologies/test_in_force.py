"""Which version is in force at an instant: written once, half-open periods."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbon_inclusion.methodologies.repository import Version, in_force

T = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def v(version: int, start: dt.datetime, end: dt.datetime | None, code: str = "CQ-T") -> Version:
    return Version(uuid.UUID(int=version), code, version, "sha", start, end, "transit_trip")


V1 = v(1, T, T + 10 * DAY)
V2 = v(2, T + 10 * DAY, None)


@pytest.mark.parametrize(("at", "expected"), [
    (T - dt.timedelta(microseconds=1), None),
    (T, V1),
    (T + 10 * DAY - dt.timedelta(microseconds=1), V1),
    (T + 10 * DAY, V2),
    (T + 1000 * DAY, V2),
])
def test_the_period_is_half_open(at, expected):
    assert in_force([V2, V1], at) == expected


def test_overlapping_codes_resolve_to_the_one_in_force_last():
    other = v(7, T + 5 * DAY, None, code="CQ-B")
    assert in_force([V1, other], T + 6 * DAY) == other
    assert in_force([V1, other], T + 4 * DAY) == V1


@given(st.lists(st.integers(0, 100), min_size=1, max_size=8, unique=True), st.integers(-5, 120))
def test_consecutive_versions_cover_time_without_gaps_or_overlaps(starts, day):
    starts = sorted(starts)
    versions = [v(i + 1, T + s * DAY, T + e * DAY if e is not None else None)
                for i, (s, e) in enumerate(zip(starts, [*starts[1:], None], strict=True))]
    at = T + day * DAY
    found = in_force(versions, at)
    if at < versions[0].in_force_from:
        assert found is None
    else:
        assert found is not None and found.in_force(at)
        assert sum(x.in_force(at) for x in versions) == 1
