"""Properties that hold for every input, checked with hypothesis."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from carbon_inclusion import rules
from tests.methodologies.conftest import document
from tests.rules.conftest import compiled, seed_document

TRANSIT = compiled("cq-transit-v2")
WASTE = compiled("cq-waste-v1")
EV = compiled("cq-ev-v1")
# The conservative versions in force since 2026-11-01.
TRANSIT_V3 = compiled("cq-transit-v3")
WASTE_V2 = compiled("cq-waste-v2")
EV_V2 = compiled("cq-ev-v2")

tenths = st.integers(min_value=1, max_value=600).map(lambda n: str(Decimal(n) / 10))
transit_data = st.one_of(
    st.fixed_dictionaries({"mode": st.sampled_from(["metro", "rail"]), "distance_km": tenths}),
    st.fixed_dictionaries({"mode": st.just("bus")},
                          optional={"distance_km": tenths.filter(lambda d: Decimal(d) <= 40)}),
)
waste_data = st.fixed_dictionaries(
    {"category": st.sampled_from(["recyclable", "kitchen", "hazardous", "other"])},
    optional={"weight_kg": st.integers(0, 3000).map(lambda n: str(Decimal(n) / 100))})
ev_data = st.fixed_dictionaries(
    {"kwh": st.integers(10, 15000).map(lambda n: str(Decimal(n) / 100))})
evidence = st.sampled_from(["partner_verified", "self_reported"])


@settings(max_examples=200, deadline=None)
@given(data=transit_data, tier=evidence)
def test_evaluation_is_deterministic_and_survives_a_reload(data, tier):
    again = rules.compile_methodology(rules.load_document(TRANSIT.methodology.to_dict()))
    first, second, third = TRANSIT.evaluate(data, tier), TRANSIT.evaluate(data, tier), \
        again.evaluate(data, tier)
    assert first == second == third
    assert first.intermediates == third.intermediates
    assert again.sha256 == TRANSIT.sha256


@settings(max_examples=400, deadline=None)
@given(case=st.one_of(transit_data.map(lambda d: (TRANSIT, d)),
                      waste_data.map(lambda d: (WASTE, d)), ev_data.map(lambda d: (EV, d)),
                      transit_data.map(lambda d: (TRANSIT_V3, d)),
                      waste_data.map(lambda d: (WASTE_V2, d)),
                      ev_data.map(lambda d: (EV_V2, d))),
       tier=evidence)
def test_seed_grams_are_never_negative_and_points_are_the_peg(case, tier):
    methodology, data = case
    result = methodology.evaluate(data, tier)
    assert result.reduction_g >= 0
    assert result.points == int(result.reduction_g // 10)
    assert result.reduction_g == result.reduction_g.quantize(Decimal("0.1"))
    for value in result.intermediates.values():
        if isinstance(value, str):
            assert str(Decimal(value)) == value  # exact decimals, never a float's digits


bus_km = tenths.filter(lambda d: Decimal(d) <= 40)


@settings(max_examples=300, deadline=None)
@given(a=bus_km, b=bus_km, tier=evidence)
def test_a_longer_bus_ride_never_pays_less_and_no_distance_pays_least(a, b, tier):
    shorter, longer = sorted([a, b], key=Decimal)
    short = TRANSIT_V3.evaluate({"mode": "bus", "distance_km": shorter}, tier)
    long = TRANSIT_V3.evaluate({"mode": "bus", "distance_km": longer}, tier)
    none = TRANSIT_V3.evaluate({"mode": "bus"}, tier)
    assert none.reduction_g <= short.reduction_g <= long.reduction_g
    assert none.points <= short.points <= long.points


@settings(max_examples=300, deadline=None)
@given(data=waste_data, tier=evidence)
def test_a_drop_without_a_weight_never_pays_more_than_a_weighed_one(data, tier):
    weighed = WASTE_V2.evaluate(data, tier)
    unweighed = WASTE_V2.evaluate({"category": data["category"]}, tier)
    assert unweighed.reduction_g <= weighed.reduction_g
    assert unweighed.points <= weighed.points


NEGATIVE = document("T-NEG", reduction_g={"formula": "factor_g_per_pkm - distance_km * 10",
                                          "rounding": {"places": 1, "mode": "half_even"}})


@settings(max_examples=100, deadline=None)
@given(km=tenths, allow=st.booleans())
def test_a_negative_reduction_is_zero_unless_the_document_allows_it(km, allow):
    m = rules.compile_methodology(rules.load_document({**NEGATIVE, "allow_negative": allow}))
    result = m.evaluate({"distance_km": km})
    exact = Decimal("46.8") - Decimal(km) * 10
    if allow:
        assert result.reduction_g == exact.quantize(Decimal("0.1"))
    else:
        assert result.reduction_g == max(exact, Decimal(0)).quantize(Decimal("0.1"))
        assert result.reduction_g >= 0 and result.points >= 0


caps = st.builds(
    rules.DailyLimits,
    count=st.one_of(st.none(), st.integers(1, 20)),
    grams=st.one_of(st.none(), st.integers(1, 10_000).map(Decimal)),
    points=st.one_of(st.none(), st.integers(1, 1000)))


@settings(max_examples=500, deadline=None)
@given(limits=caps, behaviours=st.lists(st.integers(0, 5000), min_size=1, max_size=30))
def test_a_day_of_behaviours_never_pays_past_a_cap_and_pays_the_remainder(limits, behaviours):
    used = rules.DayUsage()
    for raw in behaviours:
        grams = Decimal(raw) / 10
        points = int(grams // 10)
        paid = rules.apply_daily_limits(limits, used, grams, points,
                                        lambda g: int(g // 10))
        assert 0 <= paid.reduction_g <= grams and 0 <= paid.points <= points
        if limits.count is not None and used.count >= limits.count:
            assert (paid.reduction_g, paid.points) == (0, 0)
        else:
            if limits.grams is not None:
                room = max(limits.grams - used.reduction_g, Decimal(0))
                assert paid.reduction_g == min(grams, room)
            elif limits.points is None:
                assert (paid.reduction_g, paid.points) == (grams, points)
            if limits.points is not None and limits.grams is None:
                assert paid.points == min(points, max(limits.points - used.points, 0))
        used = rules.DayUsage(used.count + 1, used.reduction_g + paid.reduction_g,
                              used.points + paid.points)
        if limits.grams is not None:
            assert used.reduction_g <= limits.grams
        if limits.points is not None:
            assert used.points <= limits.points


@settings(max_examples=50, deadline=None)
@given(seed=st.integers())
def test_the_hash_does_not_depend_on_key_order(seed):
    doc = seed_document("cq-ev-v1")
    shuffled = _shuffle(doc, random.Random(seed))
    assert rules.load_document(shuffled).sha256 == rules.load_document(doc).sha256


def _shuffle(value, rng: random.Random):
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffle(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffle(v, rng) for v in value]
    return value


@settings(max_examples=300, deadline=None)
@given(day=caps, month=caps, behaviours=st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 5000)), min_size=1, max_size=40))
def test_a_month_of_behaviours_never_pays_past_its_day_or_month_caps(day, month, behaviours):
    """Behaviours spread over five days of one month: each day's counters stay within the
    daily caps and the month's (their sum) within the monthly ones."""
    days = [rules.DayUsage() for _ in range(5)]
    for d, raw in behaviours:
        grams = Decimal(raw) / 10
        points = int(grams // 10)
        month_used = rules.DayUsage(sum(u.count for u in days),
                                    sum((u.reduction_g for u in days), Decimal(0)),
                                    sum(u.points for u in days))
        paid = rules.apply_limits({"day": day, "month": month},
                                  {"day": days[d], "month": month_used}, grams, points,
                                  lambda g: int(g // 10))
        assert 0 <= paid.reduction_g <= grams and 0 <= paid.points <= points
        assert set(paid.capped_in) <= {"day", "month"}
        days[d] = rules.DayUsage(days[d].count + 1, days[d].reduction_g + paid.reduction_g,
                                 days[d].points + paid.points)
        for caps_, used in [(day, days[d]), (month, rules.DayUsage(
                sum(u.count for u in days), sum((u.reduction_g for u in days), Decimal(0)),
                sum(u.points for u in days)))]:
            if caps_.grams is not None:
                assert used.reduction_g <= caps_.grams
            if caps_.points is not None:
                assert used.points <= caps_.points
