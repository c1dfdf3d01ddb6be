"""Daily limits per citizen and behaviour type: the remainder up to a cap is paid.

Pure arithmetic, so every edge can be tested exhaustively: given what a citizen has already
been paid today and what this behaviour would earn, what is paid now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from carbon_inclusion.rules.document import DailyLimits

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class DayUsage:
    """What one citizen has been credited today for one behaviour type."""

    count: int = 0
    reduction_g: Decimal = ZERO
    points: int = 0


@dataclass(frozen=True, slots=True)
class Paid:
    reduction_g: Decimal
    points: int
    capped_by: tuple[str, ...] = ()  # "count", "grams", "points"


def apply_daily_limits(limits: DailyLimits | None, used: DayUsage, reduction_g: Decimal,
                       points: int, points_for: Callable[[Decimal], int]) -> Paid:
    """What is paid for a behaviour worth ``reduction_g``/``points`` after ``used`` today.

    * count: beyond the n-th behaviour of the day, nothing is paid;
    * grams: the remainder up to the cap is credited, and the points are recomputed from
      the grams actually credited (``points_for``), never more than the uncapped points;
    * points: the remainder up to the cap is paid.
    Never pays a negative amount, and ``used`` + paid never exceeds a cap that ``used`` had
    not already reached.
    """
    if limits is None:
        return Paid(reduction_g, points)
    capped: list[str] = []
    if limits.count is not None and used.count >= limits.count:
        return Paid(ZERO, 0, ("count",))
    if limits.grams is not None:
        room = max(limits.grams - used.reduction_g, ZERO)
        if reduction_g > room:
            reduction_g = room
            points = min(points, max(points_for(room), 0))
            capped.append("grams")
    if limits.points is not None:
        room_points = max(limits.points - used.points, 0)
        if points > room_points:
            points = room_points
            capped.append("points")
    return Paid(reduction_g, points, tuple(capped))
