"""Footprint arithmetic of events."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbon_inclusion.core.footprint import (
    GRAMS_PER_TONNE,
    Line,
    breakdown,
    compliance_cap_t,
    credits_needed,
    lines_of,
    share,
    tonnes,
    total,
)

D = Decimal


def test_an_event_becomes_its_non_zero_lines_in_order():
    lines = lines_of(travel=[("rail", D("300"), 40), ("car", D("12.5"), 2)],
                     hotel_room_nights=30, meals=0, vegetarian_meals=80,
                     electricity_kwh=D("0"), materials=[("paper", D("12.5"))],
                     waste_kg=D("40"))
    assert lines == [
        Line("travel", "travel_rail_pkm", D("12000"), "travel[0]"),
        Line("travel", "travel_car_pkm", D("25.0"), "travel[1]"),
        Line("accommodation", "hotel_room_night", D(30), "hotel_room_nights"),
        Line("catering", "meal_vegetarian", D(80), "vegetarian_meals"),
        Line("materials", "paper_kg", D("12.5"), "materials[0]"),
        Line("waste", "waste_kg", D("40"), "waste_kg"),
    ]


def test_an_empty_event_has_no_lines():
    assert lines_of(travel=[], hotel_room_nights=0, meals=0, vegetarian_meals=0,
                    electricity_kwh=D(0), materials=[], waste_kg=D(0)) == []


@pytest.mark.parametrize(("grams", "t", "credits"), [
    ("0", "0.000", 0),
    ("1", "0.000", 1),
    ("500", "0.000", 1),   # half to even: 0.0005 → 0.000
    ("1500", "0.002", 1),  # half to even: 0.0015 → 0.002
    ("999999.9", "1.000", 1),
    ("1000000", "1.000", 1),
    ("1000000.001", "1.000", 2),
    ("2345678", "2.346", 3),
])
def test_tonnes_round_half_to_even_and_credits_round_up(grams, t, credits):
    assert tonnes(D(grams)) == D(t)
    assert credits_needed(D(grams)) == credits


@pytest.mark.parametrize(("part", "of", "expected"), [
    ("1", "3", "0.3333"), ("2", "3", "0.6667"), ("5", "0", "0"), ("7", "7", "1.0000"),
])
def test_a_share_is_to_four_places(part, of, expected):
    assert share(D(part), D(of)) == D(expected)


@pytest.mark.parametrize(("emissions", "cap", "expected"), [
    ("100", "0.05", 5), ("99.99", "0.05", 4), ("1", "0.05", 0), ("2000", "0.1", 200),
])
def test_the_compliance_cap_rounds_down(emissions, cap, expected):
    assert compliance_cap_t(D(emissions), D(cap)) == expected


def test_breakdown_sums_by_source_in_first_seen_order():
    by = breakdown([("travel", D("1.5")), ("waste", D(2)), ("travel", D("0.5"))])
    assert list(by.items()) == [("travel", D("2.0")), ("waste", D(2))]
    assert total(by) == D("4.0")


amounts = st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False,
                      allow_infinity=False)
sources = st.sampled_from(["travel", "accommodation", "catering", "venue_energy",
                           "materials", "waste"])


@given(st.lists(st.tuples(sources, amounts), max_size=20))
def test_the_total_is_every_line_exactly(scored):
    assert total(breakdown(scored)) == sum((g for _, g in scored), D(0))


@given(amounts)
def test_the_credits_needed_cover_the_footprint_by_less_than_a_tonne(grams):
    credits = credits_needed(grams)
    assert credits * GRAMS_PER_TONNE >= grams > (credits - 1) * GRAMS_PER_TONNE
    assert abs(tonnes(grams) - grams / GRAMS_PER_TONNE) <= D("0.0005")


@given(st.lists(amounts, min_size=1, max_size=6))
def test_shares_add_up_to_one_within_rounding(parts):
    whole = sum(parts, D(0))
    if whole:
        assert abs(sum(share(p, whole) for p in parts) - 1) <= D("0.00005") * len(parts)
