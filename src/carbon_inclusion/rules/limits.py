"""Daily limits per citizen and behaviour type: the remainder up to a cap is paid.

The arithmetic is ``carbon_inclusion.core.caps`` (one copy); this module names it in the
vocabulary of methodology documents, whose ``limits.daily`` (``DailyLimits``) are the caps.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from carbon_inclusion.core.caps import Paid, Usage, pay
from carbon_inclusion.rules.document import DailyLimits

DayUsage = Usage

__all__ = ["DayUsage", "Paid", "apply_daily_limits"]


def apply_daily_limits(limits: DailyLimits | None, used: DayUsage, reduction_g: Decimal,
                       points: int, points_for: Callable[[Decimal], int]) -> Paid:
    """What is paid for a behaviour worth ``reduction_g``/``points`` after ``used`` today
    (``core.caps.pay`` with the document's daily limits as the caps)."""
    return pay(limits, used, reduction_g, points, points_for)
