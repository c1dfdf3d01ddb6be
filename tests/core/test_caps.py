"""Daily caps pay the remainder up to the cap, and counters never go below zero."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbon_inclusion.core import caps

D = Decimal


@dataclass(frozen=True)
class Caps:
    count: int | None = None
    grams: Decimal | None = None
    points: int | None = None


def points_for(grams: Decimal) -> int:
    return int(grams // 10)


@pytest.mark.parametrize(("limits", "used", "worth", "paid"), [
    (None, caps.Usage(99, D(10**6), 10**5), (D(5), 1), (D(5), 1, ())),
    (Caps(count=3), caps.Usage(2, D(0), 0), (D(120), 12), (D(120), 12, ())),
    (Caps(count=3), caps.Usage(3, D(0), 0), (D(120), 12), (D(0), 0, ("count",))),
    (Caps(grams=D(4000)), caps.Usage(2, D(2808), 280), (D(1404), 140),
     (D(1192), 119, ("grams",))),
    (Caps(grams=D(1000)), caps.Usage(1, D("950.5"), 95), (D("585.0"), 58),
     (D("49.5"), 4, ("grams",))),
    (Caps(grams=D(1000)), caps.Usage(1, D(1200), 120), (D(10), 1), (D(0), 0, ("grams",))),
    (Caps(points=100), caps.Usage(1, D(0), 90), (D(200), 20), (D(200), 10, ("points",))),
    (Caps(points=100), caps.Usage(1, D(0), 100), (D(200), 20), (D(200), 0, ("points",))),
    (Caps(grams=D(100), points=5), caps.Usage(0, D(0), 0), (D(200), 20),
     (D(100), 5, ("grams", "points"))),
])
def test_pay_takes_the_remainder_up_to_each_cap(limits, used, worth, paid):
    out = caps.pay(limits, used, worth[0], worth[1], points_for)
    assert (out.reduction_g, out.points, out.capped_by) == paid


def test_after_counts_a_capped_behaviour_too():
    used = caps.after(caps.Usage(1, D(10), 1), caps.Paid(D(0), 0, ("points",)))
    assert used == caps.Usage(2, D(10), 1)


@pytest.mark.parametrize(("used", "back", "left"), [
    (caps.Usage(2, D(30), 3), (D(10), 1), caps.Usage(1, D(20), 2)),
    (caps.Usage(0, D(0), 0), (D(10), 1), caps.Usage(0, D(0), 0)),
    (caps.Usage(1, D(5), 0), (D(10), 1), caps.Usage(0, D(0), 0)),
])
def test_release_gives_back_and_never_goes_below_zero(used, back, left):
    assert caps.release(used, *back) == left


grams = st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False,
                    allow_infinity=False)
limits_st = st.builds(Caps, st.none() | st.integers(1, 20), st.none() | grams.filter(bool),
                      st.none() | st.integers(1, 10**5))


@given(limits_st, st.lists(st.tuples(grams, st.integers(0, 10**5)), max_size=30))
def test_a_day_of_behaviours_never_pays_past_a_cap(limits, behaviours):
    used = caps.Usage()
    for g, p in behaviours:
        before = used
        paid = caps.pay(limits, used, g, p, points_for)
        assert D(0) <= paid.reduction_g <= g and 0 <= paid.points <= p
        if limits.grams is not None:
            assert paid.reduction_g <= max(limits.grams - before.reduction_g, D(0))
            assert before.reduction_g + paid.reduction_g <= max(limits.grams,
                                                                before.reduction_g)
        if limits.points is not None:
            assert paid.points <= max(limits.points - before.points, 0)
            assert before.points + paid.points <= max(limits.points, before.points)
        if limits.count is not None and before.count >= limits.count:
            assert (paid.reduction_g, paid.points) == (D(0), 0)
        used = caps.after(used, paid)
    assert used.count == len(behaviours)


@given(st.builds(caps.Usage, st.integers(0, 50), grams, st.integers(0, 10**5)), grams,
       st.integers(0, 10**5))
def test_release_undoes_after(used, g, p):
    paid = caps.Paid(g, p)
    assert caps.release(caps.after(used, paid), g, p) == used
