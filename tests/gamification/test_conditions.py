"""The pure parts of gamification: badge conditions over statistics, district standings,
and the challenge join lock's key (the same as the behaviour pipeline's)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbon_inclusion.errors import InvalidInput
from carbon_inclusion.gamification.challenges import citizen_lock, standings
from carbon_inclusion.gamification.conditions import (
    NO_DISTRICT,
    compile_badge,
    reached,
    statistic_names,
    statistics_of,
)
from carbon_inclusion.gamification.schemas import BadgeIn, BadgeLevelIn

D = dt.date(2026, 12, 31)
NAMES = statistic_names(["transit_trip", "waste_sorting"], ["yuzhong", "xiushan"])


def badge(measure: str, *levels: tuple[int, str, str | None]) -> BadgeIn:
    return BadgeIn(code="b_test", name_zh="测", name_en="Test", measure=measure,
                   levels=[BadgeLevelIn(level=lv, at_least=Decimal(at), condition=cond)
                           for lv, at, cond in levels])


def test_statistics_sum_the_behaviour_types_and_count_days_and_streaks():
    days = [D - dt.timedelta(days=n) for n in (4, 1, 0)]
    s = statistics_of(days, {"transit_trip": (Decimal(3), Decimal("1200.5")),
                             "waste_sorting": (Decimal(2), Decimal("300"))}, None, D)
    assert (s["total_g"], s["behaviours"], s["active_days"]) == (
        Decimal("1500.5"), Decimal(5), Decimal(3))
    assert (s["streak"], s["best_streak"], s["district"]) == (Decimal(2), Decimal(2), NO_DISTRICT)
    assert s["count_never_done"] == 0


@pytest.mark.parametrize(("measure", "levels", "by_type", "district", "reached_levels"), [
    ("total_g", [(1, "100", None), (2, "1000", None)], {"transit_trip": (1, 999)}, None, [1]),
    ("total_g", [(1, "100", None), (2, "1000", None)], {"transit_trip": (1, 1000)}, None, [1, 2]),
    ("count_transit_trip", [(1, "1", "district == 'yuzhong'")], {"transit_trip": (4, 1)},
     "xiushan", []),
    ("count_transit_trip", [(1, "1", "district == 'yuzhong'")], {"transit_trip": (4, 1)},
     "yuzhong", [1]),
    ("grams_waste_sorting", [(1, "1", None)], {"transit_trip": (4, 100)}, None, []),
])
def test_a_level_is_reached_when_the_measure_is_at_least_its_threshold_and_its_condition_holds(
        measure, levels, by_type, district, reached_levels):
    compiled = compile_badge("b_test", 1, badge(measure, *levels), NAMES)
    stats = statistics_of([D], {k: (Decimal(c), Decimal(g)) for k, (c, g) in by_type.items()},
                          district, D)
    assert [lv.level for lv in reached(compiled, stats)[1]] == reached_levels


@pytest.mark.parametrize(("doc", "field"), [
    (badge("district", (1, "1", None)), "measure"),
    (badge("unknown_name", (1, "1", None)), "measure"),
    (badge("total_g", (1, "1", "total_g + 1")), "levels[0].condition"),
    (badge("total_g", (1, "10", None), (2, "5", None)), "levels[1].at_least"),
])
def test_a_badge_that_does_not_check_names_the_field(doc, field):
    with pytest.raises(InvalidInput) as refused:
        compile_badge("b_test", 1, doc, NAMES)
    assert field in {e.field for e in refused.value.errors}


def test_standings_rank_by_value_then_fewer_participants_then_code():
    a, b, c, d, e = (uuid.uuid4() for _ in range(5))
    table = standings([(a, "yuzhong"), (b, "yuzhong"), (c, "xiushan"), (d, "beibei"),
                       (e, "wanzhou")],
                      {a: Decimal(5), b: Decimal(5), c: Decimal(10), d: Decimal(10)})
    assert [(s.district, s.value, s.participants) for s in table] == [
        ("beibei", 10, 1), ("xiushan", 10, 1), ("yuzhong", 10, 2), ("wanzhou", 0, 1)]


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]),
                          st.integers(min_value=0, max_value=10**6)), max_size=30))
def test_standings_count_every_participant_and_every_gram_once(members):
    ids = [uuid.uuid4() for _ in members]
    values = {i: Decimal(v) for i, (_, v) in zip(ids, members, strict=True)}
    table = standings([(i, d) for i, (d, _) in zip(ids, members, strict=True)], values)
    assert sum(s.participants for s in table) == len(members)
    assert sum(s.value for s in table) == sum(values.values())
    assert [s.value for s in table] == sorted((s.value for s in table), reverse=True)


def test_joining_a_challenge_takes_the_pipelines_lock_over_all_of_a_citizens_behaviours():
    # The behaviour pipeline's key for this citizen and type "*" (all their behaviours), as
    # its own lock_key computed it before the renovation: the two must stay one lock.
    citizen = uuid.UUID("018f0000-0000-7000-8000-000000000001")
    assert citizen_lock(citizen) == -914269833819257045
