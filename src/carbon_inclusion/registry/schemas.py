from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

BatchStatus = Literal["proposed", "verified", "returned", "issued"]
# An order as shown: a quote (reserved until ``expires_at``), paid, or expired.
OrderStatus = Literal["reserved", "paid", "expired"]


class BatchIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    methodology_code: Annotated[str, msgspec.Meta(min_length=1, max_length=32,
                                                  examples=["CQ-TRANSIT"])]
    vintage_from: dt.date  # programme days, both included, within one calendar year
    vintage_to: dt.date


class VerificationIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A verifier's opinion of a proposed batch."""

    statement: Annotated[str, msgspec.Meta(
        min_length=1, max_length=5000,
        examples=["We checked the proposal's behaviours against the partners' records and "
                  "recomputed a sample of 200 from their inputs; no exceptions."])] | None = None


Finding = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class ReturnIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Why a verifier returns a proposed batch: at least one finding."""

    findings: Annotated[list[Finding], msgspec.Meta(
        min_length=1, max_length=100,
        examples=[["312 behaviours of 2026-03-14 repeat trips of the same cards"]])]


class SerialRange(msgspec.Struct):
    first: str  # e.g. CQTHT-TRANSIT-2026-000001
    last: str
    quantity: int


class ShareOut(msgspec.Struct):
    key: str  # behaviour type, district code or month (YYYY-MM)
    behaviours: int
    grams: Decimal


class ProvenanceOut(msgspec.Struct):
    """Where a batch's grams came from, in aggregate: never a person."""

    by_type: list[ShareOut]
    by_district: list[ShareOut]
    by_month: list[ShareOut]


class BatchOut(msgspec.Struct):
    id: uuid.UUID
    status: BatchStatus
    methodology_code: str
    methodology_versions: list[int]
    vintage_from: dt.date
    vintage_to: dt.date
    serials: SerialRange | None  # assigned when the batch is issued
    quantity: int
    available: int
    reserved: int
    held: int
    retired: int
    cancelled: int
    behaviours: int
    allocated_g: Decimal
    carry_in_g: Decimal  # grams under a tonne carried from the methodology's previous batch
    carry_out_g: Decimal  # and carried on to its next
    created_at: dt.datetime  # when it was proposed
    proposed_by: uuid.UUID | None  # None: proposed by the system (seed)
    verified_by: uuid.UUID | None
    verified_at: dt.datetime | None
    verification_body_id: uuid.UUID | None  # the verifier's organisation (verified or returned)
    verification_body: str | None  # its name
    verification_statement: str | None
    returned_by: uuid.UUID | None
    returned_at: dt.datetime | None
    findings: list[str]  # why it was returned
    issued_by: uuid.UUID | None
    issued_at: dt.datetime | None
    provenance: ProvenanceOut | None = None


class BatchPage(msgspec.Struct):
    items: list[BatchOut]
    next_cursor: str | None


class SerialOut(msgspec.Struct):
    serial: str
    batch: BatchOut
    block: SerialRange
    state: str
    certificate_id: uuid.UUID | None = None  # when retired: the valid certificate
    certificate_url: str | None = None
    reason: str | None = None  # when cancelled


class OrderIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    quantity_t: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)]


class OrderOut(msgspec.Struct):
    id: uuid.UUID
    organisation_id: uuid.UUID
    quantity_t: int
    price_cny_per_t: Decimal
    amount_cny: Decimal
    status: str  # reserved (a quote), paid, expired
    expires_at: dt.datetime
    serials: list[SerialRange]
    created_at: dt.datetime
    paid_at: dt.datetime | None
    payment_reference: str | None


class OrderPage(msgspec.Struct):
    items: list[OrderOut]
    next_cursor: str | None


class AdminOrderOut(OrderOut):
    """An order as its organisation sees it, with the organisation's name."""

    organisation_name: str


class AdminOrderPage(msgspec.Struct):
    items: list[AdminOrderOut]
    next_cursor: str | None


class PaymentIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=200,
                                           examples=["ICBC 2026112300042"])]


class HoldingsOut(msgspec.Struct):
    held_t: int
    retired_t: int
    blocks: list[SerialRange]  # held now


class CancelIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    first: Annotated[str, msgspec.Meta(max_length=48, examples=["CQTHT-TRANSIT-2026-000011"])]
    last: Annotated[str, msgspec.Meta(max_length=48, examples=["CQTHT-TRANSIT-2026-000020"])]
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=500)]


class CancelledOut(msgspec.Struct):
    serials: SerialRange
    batch_id: uuid.UUID
    reason: str


class VerifyOut(msgspec.Struct):
    ok: bool
    batches: int
    problems: list[str]
