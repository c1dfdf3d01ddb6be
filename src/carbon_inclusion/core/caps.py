"""Daily caps: what is paid of a behaviour after what the day has already paid.

Per citizen, per programme day, per behaviour type, a methodology may cap the number of
paid behaviours (``count``), the grams of CO2e credited (``grams``, ``Decimal``, exact) and
the points paid (``points``, ``int``). A behaviour that would cross a cap is paid the
remainder up to it; past a count cap, nothing. Counters are kept as absolute values
(``Usage``), accumulated with ``after`` and given back with ``release``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

ZERO = Decimal(0)


class Caps(Protocol):
    """The caps of one behaviour type (``None``: no cap of that kind)."""

    @property
    def count(self) -> int | None: ...
    @property
    def grams(self) -> Decimal | None: ...
    @property
    def points(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Usage:
    """What one citizen has been credited on one day for one behaviour type."""

    count: int = 0
    reduction_g: Decimal = ZERO
    points: int = 0


@dataclass(frozen=True, slots=True)
class Paid:
    reduction_g: Decimal
    points: int
    capped_by: tuple[str, ...] = ()  # "count", "grams", "points"


def pay(caps: Caps | None, used: Usage, reduction_g: Decimal, points: int,
        points_for: Callable[[Decimal], int]) -> Paid:
    """What is paid for a behaviour worth ``reduction_g``/``points`` after ``used`` today.

    * count: beyond the n-th behaviour of the day, nothing is paid;
    * grams: the remainder up to the cap is credited, and the points are recomputed from
      the grams actually credited (``points_for``), never more than the uncapped points;
    * points: the remainder up to the cap is paid.
    Never pays a negative amount, and ``used`` + paid never exceeds a cap that ``used`` had
    not already reached.
    """
    if caps is None:
        return Paid(reduction_g, points)
    capped: list[str] = []
    if caps.count is not None and used.count >= caps.count:
        return Paid(ZERO, 0, ("count",))
    if caps.grams is not None:
        room = max(caps.grams - used.reduction_g, ZERO)
        if reduction_g > room:
            reduction_g = room
            points = min(points, max(points_for(room), 0))
            capped.append("grams")
    if caps.points is not None:
        room_points = max(caps.points - used.points, 0)
        if points > room_points:
            points = room_points
            capped.append("points")
    return Paid(reduction_g, points, tuple(capped))


def after(used: Usage, paid: Paid) -> Usage:
    """The day's counters once one more behaviour is paid ``paid`` (a capped one counts)."""
    return Usage(used.count + 1, used.reduction_g + paid.reduction_g, used.points + paid.points)


def release(used: Usage, reduction_g: Decimal, points: int) -> Usage:
    """The day's counters once a behaviour paid ``reduction_g``/``points`` is taken back;
    never below zero (counters written before a cap was introduced may hold less)."""
    return Usage(max(used.count - 1, 0), max(used.reduction_g - reduction_g, ZERO),
                 max(used.points - points, 0))
