"""Footprint arithmetic of events."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbon_inclusion.core.footprint import (
    GRAMS_PER_TONNE,
    Leg,
    Line,
    breakdown,
    compliance_cap_t,
    credits_needed,
    lines_of,
    share,
    tonnes,
    total,
    true_up,
)

D = Decimal


def test_an_event_becomes_its_non_zero_lines_in_order():
    lines = lines_of(travel=[Leg("rail", D("300"), 40), Leg("car", D("12.5"), 2, False)],
                     hotel_room_nights=30, meals=0, vegetarian_meals=80,
                     electricity_kwh=D("0"), materials=[("paper", D("12.5"))],
                     waste_kg=D("40"), natural_gas_m3=D("120"), heat_kwh=D("800"))
    assert lines == [
        Line("travel", "travel_rail_pkm", D("24000"), "travel[0]"),  # there and back
        Line("travel", "travel_car_pkm", D("25.0"), "travel[1]"),  # one way
        Line("accommodation", "hotel_room_night", D(30), "hotel_room_nights"),
        Line("catering", "meal_vegetarian", D(80), "vegetarian_meals"),
        Line("venue_energy", "natural_gas_m3", D("120"), "natural_gas_m3"),
        Line("venue_energy", "heat_kwh", D("800"), "heat_kwh"),
        Line("materials", "paper_kg", D("12.5"), "materials[0]"),
        Line("waste", "waste_kg", D("40"), "waste_kg"),
    ]


def test_a_leg_counts_twice_unless_it_is_one_way():
    assert Leg("bus", D("7.5"), 4).passenger_km == D("60.0")
    assert Leg("bus", D("7.5"), 4, round_trip=False).passenger_km == D("30.0")


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


@pytest.mark.parametrize(("retired", "actual_g", "needed", "more", "surplus"), [
    (3, "2400000", 3, 0, 0),   # the estimate was right, to the tonne
    (3, "4000000.5", 5, 2, 0),  # a shortfall: two more
    (5, "1200000", 2, 0, 3),   # a surplus: three stay retired, voluntary
    (1, "0", 0, 0, 1),
])
def test_a_true_up_retires_the_shortfall_and_states_the_surplus(retired, actual_g, needed,
                                                                 more, surplus):
    assert true_up(retired, D(actual_g)) == (needed, retired, more, surplus)


@given(st.integers(min_value=0, max_value=10**6), amounts)
def test_after_a_true_up_the_retired_credits_cover_the_actual_footprint(retired, actual_g):
    t = true_up(retired, actual_g)
    assert (retired + t.additional_t) * GRAMS_PER_TONNE >= actual_g
    assert t.additional_t - t.surplus_t == t.needed_t - retired
    assert min(t.additional_t, t.surplus_t) == 0
