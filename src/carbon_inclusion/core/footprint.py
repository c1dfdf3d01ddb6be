"""An event's footprint: its lines, their sum by source, the total and the credits it needs.

Units: each line is a quantity of one category of the footprint methodology (passenger-km,
room nights, meals, kWh, kg); the methodology (``seed/footprints/``, evaluated by the rules
engine) turns each into grams of CO2e; everything here is ``Decimal`` grams, summed exactly.
Rounding, named once:

- ``tonnes``: grams / 1 000 000, to 0.001 t, half to even (``TONNES_ROUNDING``);
- ``share``: a source's part of the total, to 0.0001, half to even;
- ``credits_needed``: whole tonnes, always up (``ROUND_CEILING``): neutralising retires at
  least the footprint;
- ``compliance_cap_t``: whole tonnes of verified emissions times the cap share, down
  (``ROUND_FLOOR``): an offset never exceeds the cap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import NamedTuple

from carbon_inclusion.core.tonnes import GRAMS_PER_TONNE

TONNES_QUANTUM = Decimal("0.001")
SHARE_QUANTUM = Decimal("0.0001")
TONNES_ROUNDING = ROUND_HALF_EVEN
SHARE_ROUNDING = ROUND_HALF_EVEN


class Line(NamedTuple):
    """One non-zero part of an event: its source, methodology category, quantity and the
    request field it came from (for errors)."""

    source: str
    category: str
    quantity: Decimal
    field: str


def lines_of(*, travel: Sequence[tuple[str, Decimal, int]], hotel_room_nights: int,
             meals: int, vegetarian_meals: int, electricity_kwh: Decimal,
             materials: Sequence[tuple[str, Decimal]], waste_kg: Decimal) -> list[Line]:
    """The event's lines, zero ones left out. ``travel``: (mode, distance km, people) per
    leg, a leg's quantity is km × people (passenger-km); ``materials``: (material, kg)."""
    lines = [Line("travel", f"travel_{mode}_pkm", km * people, f"travel[{i}]")
             for i, (mode, km, people) in enumerate(travel)]
    lines += [Line("accommodation", "hotel_room_night", Decimal(hotel_room_nights),
                   "hotel_room_nights"),
              Line("catering", "meal", Decimal(meals), "meals"),
              Line("catering", "meal_vegetarian", Decimal(vegetarian_meals),
                   "vegetarian_meals"),
              Line("venue_energy", "electricity_kwh", electricity_kwh, "electricity_kwh")]
    lines += [Line("materials", f"{material}_kg", kg, f"materials[{i}]")
              for i, (material, kg) in enumerate(materials)]
    lines.append(Line("waste", "waste_kg", waste_kg, "waste_kg"))
    return [x for x in lines if x.quantity != 0]


def breakdown(scored: Iterable[tuple[str, Decimal]]) -> dict[str, Decimal]:
    """Grams by source of ``(source, grams)`` lines, sources in the order first seen."""
    out: dict[str, Decimal] = {}
    for source, grams in scored:
        out[source] = out.get(source, Decimal(0)) + grams
    return out


def total(by_source: dict[str, Decimal]) -> Decimal:
    """The footprint in grams: the sum of its sources, exactly."""
    return sum(by_source.values(), Decimal(0))


def tonnes(grams: Decimal) -> Decimal:
    """Grams as tonnes, to 0.001 t (half to even)."""
    return (grams / GRAMS_PER_TONNE).quantize(TONNES_QUANTUM, rounding=TONNES_ROUNDING)


def share(grams: Decimal, of_total: Decimal) -> Decimal:
    """``grams`` as a part of ``of_total``, to 0.0001 (half to even); 0 of a zero total."""
    if not of_total:
        return Decimal(0)
    return (grams / of_total).quantize(SHARE_QUANTUM, rounding=SHARE_ROUNDING)


def credits_needed(grams: Decimal) -> int:
    """The whole credits that cover ``grams``: tonnes rounded up."""
    return int((grams / GRAMS_PER_TONNE).to_integral_value(rounding=ROUND_CEILING))


def compliance_cap_t(verified_emissions_t: Decimal, cap_share: Decimal) -> int:
    """The most whole tonnes an organisation may offset against ``verified_emissions_t``:
    emissions × the programme's cap share, rounded down."""
    return int((verified_emissions_t * cap_share).to_integral_value(rounding=ROUND_FLOOR))
