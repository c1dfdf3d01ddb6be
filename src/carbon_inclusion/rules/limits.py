"""Caps per citizen and behaviour type, per period: the remainder up to a cap is paid.

The arithmetic is ``carbon_inclusion.core.caps`` (one copy); this module names it in the
vocabulary of methodology documents, whose ``limits.per_day`` and ``limits.per_month`` are
the caps. The periods are applied in turn (the day's, then the month's), each to what the
one before left: the same as the least room of them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from carbon_inclusion.core.caps import Paid, Usage, pay
from carbon_inclusion.rules.document import DailyLimits

DayUsage = Usage

__all__ = ["DayUsage", "Paid", "PeriodPaid", "apply_daily_limits", "apply_limits"]


def apply_daily_limits(limits: DailyLimits | None, used: DayUsage, reduction_g: Decimal,
                       points: int, points_for: Callable[[Decimal], int]) -> Paid:
    """What is paid for a behaviour worth ``reduction_g``/``points`` after ``used`` today
    (``core.caps.pay`` with the document's daily limits as the caps)."""
    return pay(limits, used, reduction_g, points, points_for)


@dataclass(frozen=True, slots=True)
class PeriodPaid:
    """What is paid, which caps bit (``capped_by``), and by period unit (``day``,
    ``month``) which caps of that period bit (a period whose caps did not bite is absent)."""

    reduction_g: Decimal
    points: int
    capped_by: tuple[str, ...] = ()
    capped_in: dict[str, tuple[str, ...]] = field(default_factory=dict)


def apply_limits(limits: Mapping[str, DailyLimits], used: Mapping[str, Usage],
                 reduction_g: Decimal, points: int,
                 points_for: Callable[[Decimal], int]) -> PeriodPaid:
    """What is paid after ``used[unit]`` in each period whose caps ``limits[unit]`` declares
    (``day`` before ``month``): each period's caps applied to what the previous left."""
    capped_in: dict[str, tuple[str, ...]] = {}
    capped: list[str] = []
    paid = Paid(reduction_g, points)
    for unit in ("day", "month"):
        caps = limits.get(unit)
        if caps is None:
            continue
        paid = pay(caps, used.get(unit, Usage()), paid.reduction_g, paid.points, points_for)
        if paid.capped_by:
            capped_in[unit] = paid.capped_by
            capped += [c for c in paid.capped_by if c not in capped]
    return PeriodPaid(paid.reduction_g, paid.points, tuple(capped), capped_in)
