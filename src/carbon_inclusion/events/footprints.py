"""An event's figures turned into its footprint: checked, scored line by line by the
footprint methodology in force on the event's first day, and shaped for the answer.

The same scoring serves an event's first figures (estimated or, when recorded after it
ended, actual) and the actual figures submitted later, so the two compare line for line.
Each scored line keeps the factor the methodology applied (``factor``, from its
``params.g_per_unit``, whose ``source`` cites it).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion import rules
from carbon_inclusion.common.periods import local_midnight
from carbon_inclusion.core import footprint
from carbon_inclusion.errors import FieldError, InvalidInput
from carbon_inclusion.events.schemas import (
    EventFiguresIn,
    EventIn,
    EventOut,
    FootprintOut,
    LineOut,
    SourceOut,
    TrueUpOut,
)
from carbon_inclusion.methodologies import repository as methodologies

MAX_KM = Decimal(40_000)
MAX_AMOUNT = Decimal(1_000_000_000)
AMOUNTS = ("electricity_kwh", "natural_gas_m3", "diesel_l", "heat_gj", "heat_kwh", "waste_kg")


def footprint_lines(body: EventFiguresIn) -> list[footprint.Line]:
    """(source, category, quantity, field) for each non-zero part of the event."""
    return footprint.lines_of(
        travel=[footprint.Leg(leg.mode, leg.distance_km, leg.people, leg.round_trip)
                for leg in body.travel],
        hotel_room_nights=body.hotel_room_nights, meals=body.meals,
        vegetarian_meals=body.vegetarian_meals, electricity_kwh=body.electricity_kwh,
        natural_gas_m3=body.natural_gas_m3, diesel_l=body.diesel_l, heat_gj=body.heat_gj,
        heat_kwh=body.heat_kwh, materials=[(m.material, m.kg) for m in body.materials],
        waste_kg=body.waste_kg)


def check_event(body: EventIn, today: dt.date) -> None:
    """422 naming every field out of range, dates included."""
    errors = []
    if body.ends_on < body.starts_on:
        errors.append(FieldError("ends_on", "is before starts_on"))
    if body.starts_on < today - dt.timedelta(days=366):
        errors.append(FieldError("starts_on", "is more than a year ago"))
    check_figures(body, errors)


def check_figures(body: EventFiguresIn, errors: list[FieldError] | None = None) -> None:
    """422 naming every footprint figure out of range (and any ``errors`` found before)."""
    errors = [] if errors is None else errors
    for i, leg in enumerate(body.travel):
        if not leg.distance_km.is_finite() or not 0 < leg.distance_km <= MAX_KM:
            errors.append(FieldError(f"travel[{i}].distance_km", "must be above 0 and at "
                                                                 "most 40000 km"))
    for i, m in enumerate(body.materials):
        if not m.kg.is_finite() or not 0 < m.kg <= MAX_AMOUNT:
            errors.append(FieldError(f"materials[{i}].kg", "must be above 0 and at most 10^9"))
    for name in AMOUNTS:
        value = getattr(body, name)
        if not value.is_finite() or not 0 <= value <= MAX_AMOUNT:
            errors.append(FieldError(name, "must be from 0 to 10^9"))
    if errors:
        raise InvalidInput("The event's footprint cannot be worked out.", errors=errors)


class Scored:
    """An event's figures as scored: its lines, their breakdown and the version used."""

    def __init__(self, lines: list[dict[str, str]], breakdown: dict[str, Decimal],
                 version: Any) -> None:
        self.lines, self.breakdown, self.version = lines, breakdown, version

    def values(self) -> dict[str, Any]:
        """The statement parameters both events and their actual figures store."""
        return {"lines": msgspec.json.encode(self.lines).decode(),
                "breakdown": msgspec.json.encode(
                    {k: str(v) for k, v in self.breakdown.items()}).decode(),
                "total": footprint.total(self.breakdown), "mid": self.version.id,
                "code": self.version.code, "v": self.version.version}


class Scorer:
    """Scores figures with the footprint methodology in force on a day; each published
    version is compiled once per process."""

    def __init__(self, tz: dt.tzinfo) -> None:
        self.tz = tz
        self._compiled: dict[str, rules.CompiledMethodology] = {}

    async def score(self, conn: AsyncConnection, body: EventFiguresIn,
                    starts_on: dt.date) -> Scored:
        """Every line of ``body`` scored by the footprint methodology in force on
        ``starts_on``; 422 naming the fields it cannot score."""
        found = await methodologies.footprint_in_force(conn, local_midnight(starts_on, self.tz))
        if found is None:
            raise InvalidInput.field("starts_on", "no footprint methodology is in force "
                                     "on this day", code="no_footprint_methodology")
        version, document = found
        methodology = self._compiled.get(version.sha256)
        if methodology is None:
            methodology = rules.compile_methodology(rules.load_document(document))
            self._compiled[version.sha256] = methodology
        factors = _factors(document)
        lines, errors = [], []
        for source, category, quantity, field in footprint_lines(body):
            try:
                e = methodology.evaluate({"category": category, "quantity": str(quantity)},
                                         "partner_verified")
            except rules.InputError as exc:
                errors += [FieldError(field, f"{x.message} (as {category} {quantity}, "
                                             f"{version.code} v{version.version})")
                           for x in exc.errors]
                continue
            line = {"source": source, "category": category, "quantity": str(quantity),
                    "grams": str(e.reduction_g), "field": field}
            if category in factors:
                line["factor"] = factors[category]
            lines.append(line)
        if errors:
            raise InvalidInput("The event's footprint cannot be worked out.", errors=errors)
        breakdown = footprint.breakdown((x["source"], Decimal(x["grams"])) for x in lines)
        return Scored(lines, breakdown, version)


def _factors(document: dict[str, Any]) -> dict[str, str]:
    """A footprint document's factor by category (``params.g_per_unit``), to show beside
    each line; empty for a document shaped otherwise."""
    value = (document.get("params", {}).get("g_per_unit") or {}).get("value")
    return {k: str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def footprint_out(total_g: Any, breakdown: dict[str, str], lines: list[Any], code: str,
                  version: int, basis: str) -> FootprintOut:
    total = Decimal(total_g)
    return FootprintOut(
        total_g=total, total_t=footprint.tonnes(total),
        credits_needed=footprint.credits_needed(total), methodology_code=code,
        methodology_version=version, basis=basis,  # type: ignore[arg-type]
        breakdown=[SourceOut(s, Decimal(g), footprint.share(Decimal(g), total))
                   for s, g in sorted(breakdown.items(), key=lambda x: -Decimal(x[1]))],
        lines=[LineOut(x["source"], x["category"], Decimal(x["quantity"]),
                       Decimal(x["grams"]), x["field"],
                       Decimal(x["factor"]) if "factor" in x else None) for x in lines])


def event_out(r: Any) -> EventOut:
    """An ``events.repository.event`` row as the answer: its footprint is the actual one
    once submitted, with the estimate beside it."""
    recorded = footprint_out(r.total_g, r.breakdown, r.lines, r.methodology_code,
                             r.methodology_version, r.basis)
    actual = None if r.actual_total_g is None else footprint_out(
        r.actual_total_g, r.actual_breakdown, r.actual_lines, r.actual_methodology_code,
        r.actual_methodology_version, "actual")
    return EventOut(
        id=r.id, name=r.name, starts_on=r.starts_on, ends_on=r.ends_on, venue=r.venue,
        attendees=r.attendees if actual is None else r.actual_attendees,
        status="neutralized" if r.neutralized else "measured",
        certificate_id=r.certificate_id, created_at=r.created_at, inputs=r.inputs,
        footprint=recorded if actual is None else actual,
        estimate=None if actual is None else recorded, actual_inputs=r.actual_inputs,
        actuals_submitted_at=r.actuals_submitted_at,
        awaiting_actuals=r.pre_event and actual is None,
        true_up=None if r.true_up is None else msgspec.convert(r.true_up, TrueUpOut))
