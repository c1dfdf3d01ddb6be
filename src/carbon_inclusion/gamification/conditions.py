"""Badge conditions: a badge's formulas checked against the citizen statistics they may
name, and evaluated over one citizen's statistics. No I/O: the service reads the statistics
and the badges, this module decides.

Formulas are the methodology language (``rules.expressions``), type-checked when a badge is
written (``compile_badge``), so evaluating them cannot meet an unknown name or a wrong type.
Grams are ``Decimal`` grams of CO2e, counts whole ``Decimal`` numbers; compared exactly.

Statistics (all numbers unless said):

* ``total_g``, ``behaviours``: grams and count of credited behaviours, lifetime;
* ``active_days``: distinct programme days with a credited behaviour;
* ``streak``, ``best_streak``: consecutive programme days, current and best;
* ``count_<behaviour>``, ``grams_<behaviour>`` for each behaviour a methodology scores
  (``count_transit_trip``, ``grams_waste_sorting``…);
* ``district``: the citizen's district code (an enum; ``none`` when not set).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from carbon_inclusion.errors import FieldError, InvalidInput
from carbon_inclusion.gamification.levels import streaks
from carbon_inclusion.gamification.schemas import BadgeIn, BadgeUpdate
from carbon_inclusion.rules.evaluate import FUNCTIONS, OPERATORS, CheckedEval
from carbon_inclusion.rules.expressions import (
    BOOL,
    Formula,
    FormulaError,
    Type,
    number,
    parse,
)

BIG = Decimal(10) ** 15
NO_DISTRICT = "none"


def statistic_names(behaviours: list[str], districts: list[str]) -> dict[str, Type]:
    grams, count = number(Decimal(0), BIG), number(Decimal(0), BIG, integer=True)
    names = {"total_g": grams, "behaviours": count, "active_days": count, "streak": count,
             "best_streak": count,
             "district": Type("enum", values=frozenset([*districts, NO_DISTRICT]))}
    for b in behaviours:
        names[f"count_{b}"], names[f"grams_{b}"] = count, grams
    return names


@dataclass(frozen=True, slots=True)
class Level:
    level: int
    at_least: Decimal
    bonus_points: int
    condition: Formula | None


@dataclass(frozen=True, slots=True)
class CompiledBadge:
    code: str
    version: int
    name_zh: str
    name_en: str
    measure: Formula
    levels: tuple[Level, ...]


def compile_badge(code: str, version: int, doc: BadgeIn | BadgeUpdate,
                  names: dict[str, Type]) -> CompiledBadge:
    """Check every formula against the statistics; InvalidInput names each field at fault."""
    errors: list[FieldError] = []
    measure = None
    try:
        measure = parse(doc.measure, names)
        if not measure.type.numeric:
            errors.append(FieldError("measure", f"must be a number, not "
                                                f"{measure.type.describe()}"))
    except FormulaError as exc:
        errors.append(FieldError("measure", str(exc)))
    levels = []
    seen: set[int] = set()
    previous: Decimal | None = None
    for i, lv in enumerate(sorted(doc.levels, key=lambda x: x.level)):
        at = f"levels[{i}]"
        if lv.level in seen:
            errors.append(FieldError(f"{at}.level", f"level {lv.level} is given twice"))
        seen.add(lv.level)
        if not lv.at_least.is_finite() or lv.at_least < 0 or lv.at_least > BIG:
            errors.append(FieldError(f"{at}.at_least", "must be a number from 0 to 10^15"))
        elif previous is not None and lv.at_least <= previous:
            errors.append(FieldError(f"{at}.at_least", "must rise with the level"))
        previous = lv.at_least
        condition = None
        if lv.condition is not None:
            try:
                condition = parse(lv.condition, names)
                if condition.type != BOOL:
                    errors.append(FieldError(f"{at}.condition", "must be a condition, not "
                                                                f"{condition.type.describe()}"))
            except FormulaError as exc:
                errors.append(FieldError(f"{at}.condition", str(exc)))
        levels.append(Level(lv.level, lv.at_least, lv.bonus_points, condition))
    if errors or measure is None:
        raise InvalidInput("The badge does not check.", code="badge_invalid", errors=errors)
    return CompiledBadge(code, version, doc.name_zh, doc.name_en, measure, tuple(levels))




class Statistics(dict[str, Any]):
    """A citizen's statistics by name; behaviours never done count zero."""

    def __missing__(self, name: str) -> Decimal:
        if name.startswith(("count_", "grams_")):
            return Decimal(0)
        raise KeyError(name)


_evaluator = CheckedEval(operators=dict(OPERATORS), functions=dict(FUNCTIONS), names={})


def run(formula: Formula, stats: Statistics) -> Any:
    _evaluator.names = stats
    return _evaluator._eval(formula.tree)  # checked when the badge was written


def reached(badge: CompiledBadge, stats: Statistics) -> tuple[Decimal, list[Level]]:
    """The measure's value and the levels it reaches."""
    value = Decimal(run(badge.measure, stats))
    return value, [lv for lv in badge.levels if value >= lv.at_least
                   and (lv.condition is None or run(lv.condition, stats) is True)]


def statistics_of(days: Sequence[dt.date], by_type: Mapping[str, tuple[Decimal, Decimal]],
                  district: str | None, today: dt.date) -> Statistics:
    """One citizen's statistics from their credited days (sorted), lifetime ``(count,
    grams)`` per behaviour type and district."""
    streak = streaks(days, today)
    s = Statistics(
        total_g=Decimal(0), behaviours=Decimal(0), active_days=Decimal(len(days)),
        streak=Decimal(streak.current), best_streak=Decimal(streak.best),
        district=district or NO_DISTRICT)
    for kind, (count, grams) in by_type.items():
        s[f"count_{kind}"] = Decimal(count)
        s[f"grams_{kind}"] = Decimal(grams)
        s["total_g"] += Decimal(grams)
        s["behaviours"] += Decimal(count)
    return s
