"""An event's footprint: its lines, their sum by source, the total and the credits it needs.

Units: each line is a quantity of one category of the footprint methodology (passenger-km,
room nights, meals, kWh, m³ of natural gas, litres of diesel, GJ or kWh of purchased heat,
kg); the methodology (``seed/footprints/``, evaluated by the rules engine) turns each into
grams of CO2e; everything here is ``Decimal`` grams, summed exactly. A travel leg is
``distance_km × people`` passenger-km each way, counted twice unless it is one-way
(``round_trip`` false): the return is part of attending. Rounding, named once:

- ``tonnes``: grams / 1 000 000, to 0.001 t, half to even (``TONNES_ROUNDING``);
- ``share``: a source's part of the total, to 0.0001, half to even;
- ``credits_needed``: whole tonnes, always up (``ROUND_CEILING``): neutralising retires at
  least the footprint;
- ``compliance_cap_t``: whole tonnes of verified emissions times the cap share, down
  (``ROUND_FLOOR``): an offset never exceeds the cap.

A true-up (``true_up``) compares what was retired for an estimate with the credits the actual
footprint needs: a shortfall is retired on top; a surplus stays retired (a retirement is
final) and is stated as voluntary.
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


class Leg(NamedTuple):
    """One travel leg: ``distance_km`` one way per person, ``people`` travelling it, and
    whether they come back the same way (the default)."""

    mode: str
    distance_km: Decimal
    people: int
    round_trip: bool = True

    @property
    def passenger_km(self) -> Decimal:
        return self.distance_km * self.people * (2 if self.round_trip else 1)


class Line(NamedTuple):
    """One non-zero part of an event: its source, methodology category, quantity and the
    request field it came from (for errors)."""

    source: str
    category: str
    quantity: Decimal
    field: str


ZERO = Decimal(0)


def lines_of(*, travel: Sequence[Leg], hotel_room_nights: int, meals: int,
             vegetarian_meals: int, electricity_kwh: Decimal,
             materials: Sequence[tuple[str, Decimal]], waste_kg: Decimal,
             natural_gas_m3: Decimal = ZERO, diesel_l: Decimal = ZERO,
             heat_gj: Decimal = ZERO, heat_kwh: Decimal = ZERO) -> list[Line]:
    """The event's lines, zero ones left out. A leg's quantity is its passenger-km (both
    ways unless one-way); ``materials``: (material, kg). Venue energy is metered
    electricity, stationary fuel burnt at the venue (natural gas, diesel) and purchased
    heat (in GJ or in kWh, whichever the supplier bills)."""
    lines = [Line("travel", f"travel_{leg.mode}_pkm", leg.passenger_km, f"travel[{i}]")
             for i, leg in enumerate(travel)]
    lines += [Line("accommodation", "hotel_room_night", Decimal(hotel_room_nights),
                   "hotel_room_nights"),
              Line("catering", "meal", Decimal(meals), "meals"),
              Line("catering", "meal_vegetarian", Decimal(vegetarian_meals),
                   "vegetarian_meals"),
              Line("venue_energy", "electricity_kwh", electricity_kwh, "electricity_kwh"),
              Line("venue_energy", "natural_gas_m3", natural_gas_m3, "natural_gas_m3"),
              Line("venue_energy", "diesel_l", diesel_l, "diesel_l"),
              Line("venue_energy", "heat_gj", heat_gj, "heat_gj"),
              Line("venue_energy", "heat_kwh", heat_kwh, "heat_kwh")]
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


class TrueUp(NamedTuple):
    """An estimate's retirement against the actual footprint, in whole credits."""

    needed_t: int  # what the actual footprint needs (``credits_needed``)
    retired_t: int  # already retired for the estimate
    additional_t: int  # to retire now: the shortfall, or 0
    surplus_t: int  # retired beyond the need: stays retired, stated as voluntary, or 0


def true_up(retired_t: int, actual_g: Decimal) -> TrueUp:
    """What the actual footprint ``actual_g`` asks of an estimate that retired
    ``retired_t``: ``retired_t + additional_t >= needed_t`` always, and exactly one of
    ``additional_t`` and ``surplus_t`` is above 0 unless the estimate was right."""
    needed = credits_needed(actual_g)
    return TrueUp(needed_t=needed, retired_t=retired_t,
                  additional_t=max(needed - retired_t, 0),
                  surplus_t=max(retired_t - needed, 0))
