from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated

import msgspec

Year = Annotated[int, msgspec.Meta(ge=2000, le=2100)]


class EmissionsIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    year: Year
    verified_emissions_t: Decimal  # t CO2e, above 0, at most 10^9, to 0.001 t
    # The verification report or statement the figure is taken from, and its date.
    report_reference: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    verified_on: dt.date | None = None
    # Required to correct a year already in the register: why the figure changes.
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=500)] | None = None


class VerificationBodyOut(msgspec.Struct):
    id: uuid.UUID
    name: str


class EmissionsEntryOut(msgspec.Struct):
    id: uuid.UUID
    organisation_id: uuid.UUID
    year: int
    revision: int  # 1 for the first entry of the year, then one more per correction
    status: str  # current, superseded
    verified_emissions_t: Decimal
    report_reference: str | None
    verified_on: dt.date | None
    reason: str | None
    supersedes: uuid.UUID | None  # the revision this one corrects
    superseded_by: uuid.UUID | None  # the revision that corrected this one
    verification_body: VerificationBodyOut
    entered_by: uuid.UUID
    entered_at: dt.datetime


class EmissionsYearOut(msgspec.Struct):
    year: int
    verified_emissions_t: Decimal  # the current revision's
    cap_t: int  # whole tonnes that may be offset for the year (the cap share, rounded down)
    offset_t: int  # retired against the year so far
    remaining_t: int  # cap_t - offset_t, never below 0
    entries: list[EmissionsEntryOut]  # every revision, the current one first


class EmissionsRegisterOut(msgspec.Struct):
    organisation_id: uuid.UUID
    cap_share: Decimal  # COMPLIANCE_OFFSET_CAP
    items: list[EmissionsYearOut]  # newest year first
    next_cursor: str | None
