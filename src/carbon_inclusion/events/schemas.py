from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec

from carbon_inclusion.common.numbers import Amount
from carbon_inclusion.registry.schemas import SerialRange

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Count = Annotated[int, msgspec.Meta(ge=0, le=100_000_000)]


class TravelLeg(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # bus: a city bus; coach: an intercity or chartered coach (CQ-EVENT v2 on)
    mode: Literal["air", "rail", "car", "bus", "coach", "metro"]
    distance_km: Amount  # one way, per person; 0 < d ≤ 40,000
    people: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    round_trip: bool = True  # the leg counts twice (there and back) unless false


class MaterialUse(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    material: Literal["paper", "plastic"]
    kg: Amount


class EventFiguresIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What an event's footprint is worked out from: estimated before it ends, actual after
    (``POST /v1/events/{id}/actuals`` takes these fields alone)."""

    attendees: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    # 500 legs of the longest form stay within MAX_BODY_BYTES (64 KiB), 1000 would not
    travel: Annotated[list[TravelLeg], msgspec.Meta(max_length=500)] = msgspec.field(
        default_factory=list)
    hotel_room_nights: Count = 0
    meals: Count = 0  # catered meals, standard
    vegetarian_meals: Count = 0
    electricity_kwh: Amount = Decimal(0)  # the venue's, metered
    natural_gas_m3: Amount = Decimal(0)  # burnt at the venue (boilers, kitchens), normal m³
    diesel_l: Amount = Decimal(0)  # burnt at the venue (generators), litres
    heat_gj: Amount = Decimal(0)  # purchased heat (steam, hot water) billed in GJ
    heat_kwh: Amount = Decimal(0)  # or billed in kWh
    materials: Annotated[list[MaterialUse], msgspec.Meta(max_length=100)] = msgspec.field(
        default_factory=list)
    waste_kg: Amount = Decimal(0)


class EventIn(EventFiguresIn, kw_only=True):
    name: Name
    starts_on: dt.date
    ends_on: dt.date
    venue: Name


class LineOut(msgspec.Struct):
    source: str  # venue_energy, travel, accommodation, catering, materials, waste
    category: str  # the footprint methodology's category
    quantity: Decimal
    grams: Decimal
    field: str  # the input it came from
    # g CO2e per unit of the category, as the methodology states it (its source is in the
    # methodology's params.g_per_unit); absent on lines scored before v2
    factor: Decimal | None = None


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
    # estimated: figures recorded on or before ends_on; actual: recorded after it
    basis: Literal["estimated", "actual"] = "estimated"


class TrueUpOut(msgspec.Struct):
    """How the actual footprint settled a neutralisation made on the estimate."""

    estimated_g: Decimal
    actual_g: Decimal
    needed_t: int  # credits the actual footprint needs
    retired_for_estimate_t: int
    additionally_retired_t: int  # the shortfall, retired with the actuals
    voluntary_surplus_t: int  # retired for the estimate beyond the need; stays retired
    estimate_certificate_id: uuid.UUID | None  # now superseded by the final one


class EventOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    starts_on: dt.date
    ends_on: dt.date
    venue: str
    attendees: int
    footprint: FootprintOut
    status: str  # measured, neutralized
    certificate_id: uuid.UUID | None  # the valid certificate: the final one after a true-up
    created_at: dt.datetime
    inputs: dict[str, Any]  # as first submitted
    # The estimate, when actual figures have replaced it in ``footprint``
    estimate: FootprintOut | None = None
    actual_inputs: dict[str, Any] | None = None
    actuals_submitted_at: dt.datetime | None = None
    # Neutralised on the estimate (pre-event) and the actual figures not yet submitted
    awaiting_actuals: bool = False
    true_up: TrueUpOut | None = None


class EventPage(msgspec.Struct):
    items: list[EventOut]
    next_cursor: str | None


class CertificateOut(msgspec.Struct):
    id: uuid.UUID
    number: str
    # valid; cancelled (by an administrator, with a reason); superseded (an event's
    # estimate certificate once its final one is issued)
    status: str
    sha256: str  # of the canonical JSON of ``content``
    content: dict[str, Any]
    issued_at: dt.datetime
    url: str
    cancel_reason: str | None = None
    replaced_by: uuid.UUID | None = None  # the certificate that replaced or superseded it
    replaced_by_url: str | None = None
    # An event's: estimated (neutralised before it ended) or actual; none for compliance
    basis: str | None = None
    superseded_at: dt.datetime | None = None


CertificateStatus = Literal["valid", "cancelled", "superseded"]


class AdminCertificateOut(msgspec.Struct):
    """A certificate in the administrators' list: what it states, without its content."""

    id: uuid.UUID
    number: str
    kind: str  # event, compliance
    status: str  # valid, cancelled, superseded
    organisation_id: uuid.UUID
    organisation_name: str  # as the certificate states it
    subject: str  # the event's name, or the compliance year
    quantity_t: int  # credits it states retired
    issued_at: dt.datetime
    url: str
    sha256: str
    basis: str | None  # an event's: estimated or actual
    event_id: uuid.UUID | None
    retirement_id: uuid.UUID
    serials: list[SerialRange]  # retired, as ranges
    cancel_reason: str | None
    cancelled_at: dt.datetime | None
    replaced_by: uuid.UUID | None  # the certificate that replaced or superseded it
    replaced_by_url: str | None
    superseded_at: dt.datetime | None


class AdminCertificatePage(msgspec.Struct):
    items: list[AdminCertificateOut]
    next_cursor: str | None


class CertificateCancellationIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=500)]
    reissue: bool = True  # issue a corrected certificate for the same retirement


class ComplianceIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    year: Annotated[int, msgspec.Meta(ge=2000, le=2100)]
    quantity_t: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)]
    # The cap comes from the register of verified emissions; a figure stated here is only
    # checked against it (422 when it disagrees).
    verified_emissions_t: Amount | None = None
