from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Count = Annotated[int, msgspec.Meta(ge=0, le=100_000_000)]


class TravelLeg(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    mode: Literal["air", "rail", "car", "bus", "metro"]
    distance_km: Decimal  # one way, per person; 0 < d ≤ 40,000
    people: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class MaterialUse(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    material: Literal["paper", "plastic"]
    kg: Decimal


class EventIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    starts_on: dt.date
    ends_on: dt.date
    venue: Name
    attendees: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    travel: Annotated[list[TravelLeg], msgspec.Meta(max_length=1000)] = msgspec.field(
        default_factory=list)
    hotel_room_nights: Count = 0
    meals: Count = 0  # catered meals, standard
    vegetarian_meals: Count = 0
    electricity_kwh: Decimal = Decimal(0)  # the venue's, metered
    materials: Annotated[list[MaterialUse], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=list)
    waste_kg: Decimal = Decimal(0)


class LineOut(msgspec.Struct):
    source: str  # venue_energy, travel, accommodation, catering, materials, waste
    category: str  # the footprint methodology's category
    quantity: Decimal
    grams: Decimal
    field: str  # the input it came from


class SourceOut(msgspec.Struct):
    source: str
    grams: Decimal
    share: Decimal  # of the total, 0–1


class FootprintOut(msgspec.Struct):
    total_g: Decimal
    total_t: Decimal
    credits_needed: int  # whole tonnes, rounded up
    methodology_code: str
    methodology_version: int
    breakdown: list[SourceOut]
    lines: list[LineOut]


class EventOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    starts_on: dt.date
    ends_on: dt.date
    venue: str
    attendees: int
    footprint: FootprintOut
    status: str  # measured, neutralized
    certificate_id: uuid.UUID | None
    created_at: dt.datetime
    inputs: dict[str, Any]


class EventPage(msgspec.Struct):
    items: list[EventOut]
    next_cursor: str | None


class CertificateOut(msgspec.Struct):
    id: uuid.UUID
    number: str
    status: str  # valid, cancelled
    sha256: str  # of the canonical JSON of ``content``
    content: dict[str, Any]
    issued_at: dt.datetime
    url: str
    cancel_reason: str | None = None
    replaced_by: uuid.UUID | None = None


class CertificateCancellationIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=500)]
    reissue: bool = True  # issue a corrected certificate for the same retirement


class ComplianceIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    year: Annotated[int, msgspec.Meta(ge=2000, le=2100)]
    quantity_t: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)]
    # The cap comes from the register of verified emissions; a figure stated here is only
    # checked against it (422 when it disagrees).
    verified_emissions_t: Decimal | None = None
