"""Pooling grams of reductions into whole-tonne credits, with a carry between batches.

Units: grams of CO2e as ``Decimal`` (exact; never ``float``), credits as ``int`` tonnes,
one credit = ``GRAMS_PER_TONNE`` g. A batch issues ``floor((carry_in + allocated) / 1 t)``
credits; what is left under a whole tonne is carried out to the methodology's next batch,
so ``carry_in + allocated - carry_out == quantity * 1 t`` and ``0 <= carry_out < 1 t``
(the registry's "whole tonnes" check and the ``credit_batches`` CHECK say the same).
Rounding: down to whole tonnes (``ROUND_FLOOR``); nothing is rounded away, only carried.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

GRAMS_PER_TONNE = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class TonneSplit:
    carry_in_g: Decimal
    allocated_g: Decimal
    quantity_t: int
    carry_out_g: Decimal

    @property
    def total_g(self) -> Decimal:
        """What the batch had to issue from: the carry in and the newly allocated grams."""
        return self.carry_in_g + self.allocated_g


def split_tonnes(carry_in_g: Decimal, allocated_g: Decimal) -> TonneSplit:
    """Whole tonnes of ``carry_in_g + allocated_g`` and the grams carried out.

    Both inputs are non-negative grams; ``carry_in_g`` is under a tonne when it comes from
    a previous batch (it is not required here). Raises ``ValueError`` on a negative or
    non-finite amount.
    """
    for name, value in (("carry_in_g", carry_in_g), ("allocated_g", allocated_g)):
        if not value.is_finite() or value < 0:
            raise ValueError(f"{name} must be a finite, non-negative number of grams: {value}")
    total = carry_in_g + allocated_g
    quantity = int((total / GRAMS_PER_TONNE).to_integral_value(rounding=ROUND_FLOOR))
    return TonneSplit(carry_in_g, allocated_g, quantity, total - quantity * GRAMS_PER_TONNE)
