"""A debit spends the soonest-expiring lot first and never more than the lots hold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbon_inclusion.core import lots


@pytest.mark.parametrize(("held", "points", "parts"), [
    ([(2025, 10), (2026, 50)], 30, ((2025, -10), (2026, -20))),
    ([(2026, 50), (2025, 10)], 5, ((2025, -5),)),
    ([(2025, 10), (2026, 50)], 60, ((2025, -10), (2026, -50))),
    ([(2025, 10), (2026, 50)], 100, ((2025, -10), (2026, -50))),
    ([(2025, 0), (2026, 7)], 3, ((2026, -3),)),
    ([], 3, ()),
    ([(2025, 10)], 0, ()),
])
def test_allocate_takes_the_oldest_lot_first(held, points, parts):
    assert lots.allocate(held, points) == parts


@pytest.mark.parametrize(("parts", "points", "taken", "left"), [
    (((2025, -10), (2026, -20)), 15, ((2025, -10), (2026, -5)), ((2026, -15),)),
    (((2025, -10), (2026, -20)), 10, ((2025, -10),), ((2026, -20),)),
    (((2025, -10),), 25, ((2025, -10),), ()),
    ((), 5, (), ()),
])
def test_split_cuts_the_first_points_off(parts, points, taken, left):
    assert lots.split(parts, points) == (taken, left)


lot_lists = st.lists(st.tuples(st.integers(2020, 2030), st.integers(0, 1000)),
                     unique_by=lambda x: x[0], max_size=8)


@given(lot_lists, st.integers(0, 10_000))
def test_allocation_never_spends_more_than_the_lots_hold(held, points):
    parts = lots.allocate(held, points)
    spent = -sum(a for _, a in parts)
    assert spent == min(points, lots.held(held))
    assert all(a < 0 for _, a in parts)
    balances = dict(held)
    assert all(-a <= balances[lot] for lot, a in parts)
    assert [lot for lot, _ in parts] == sorted(lot for lot, _ in parts)


@given(lot_lists, st.integers(0, 10_000))
def test_only_the_newest_lot_spent_is_left_partly_full(held, points):
    parts = lots.allocate(held, points)
    balances = dict(held)
    assert all(-a == balances[lot] for lot, a in parts[:-1])
    if parts:
        spent_up_to = parts[-1][0]
        assert all(balances[lot] == 0 for lot in balances
                   if lot < spent_up_to and lot not in dict(parts))


@given(lot_lists, st.integers(0, 10_000), st.lists(st.integers(0, 2000), max_size=6))
def test_splitting_an_allocation_shares_it_out_exactly(held, points, debits):
    left = lots.allocate(held, points)
    total = -sum(a for _, a in left)
    shared = 0
    for d in debits:
        taken, left = lots.split(left, d)
        assert -sum(a for _, a in taken) == min(d, total - shared)
        shared += -sum(a for _, a in taken)
    assert shared - sum(a for _, a in left) == total
