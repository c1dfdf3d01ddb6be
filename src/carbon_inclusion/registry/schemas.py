from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

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
    # The batch's monitoring report and behaviour list, at the routes of whoever reads the
    # batch (the public registry's once issued; the verifier's or the administrator's).
    report_url: str | None = None
    behaviours_url: str | None = None
    report: ReportOut | None = None  # inline on the proposal's answer only


# --- provenance to the behaviour: a batch's behaviour list and monitoring report ---------

class BehaviourLineOut(msgspec.Struct):
    """One behaviour a batch holds, without personal data. ``citizen`` is a pseudonym:
    the same within one batch, unrelated across batches (HMAC-SHA256 of the batch and the
    citizen under a key derived from SECRET_KEY, 16 hex digits)."""

    line: int  # 1.. in the batch, by programme day
    citizen: str
    type: str
    programme_day: dt.date
    district_code: str
    source: str  # app, partner
    partner_id: str | None  # the data partner that sent the record
    evidence: str  # partner_verified, or self_reported (then approved on review)
    reviewed: bool  # approved on review by a person
    methodology_code: str
    methodology_version: int
    inputs: dict[str, str]  # the methodology version's declared inputs, as scored
    grams: Decimal  # allocated to the batch (what the citizen was credited)


class BehaviourLinePage(msgspec.Struct):
    items: list[BehaviourLineOut]
    next_cursor: str | None


class ReportParam(msgspec.Struct):
    name: str
    value: str | dict[str, str]
    unit: str
    source: str
    note: str | None = None


class ReportMethodology(msgspec.Struct):
    """A methodology version the batch's behaviours were scored by, as published."""

    code: str
    version: int
    title_zh: str
    title_en: str
    behaviour: str
    sha256: str  # of the published document's canonical JSON
    document_url: str
    in_force_from: dt.datetime
    in_force_to: dt.datetime | None
    steps: list[dict[str, str]]  # name, formula (and unit)
    formula: str  # reduction_g
    rounding: str  # e.g. "1 place, half_even"
    params: list[ReportParam]  # each with its source
    evidence: dict[str, dict[str, Any]]  # tier: factor, review
    daily_limits: dict[str, Any] | None
    plausibility_percentile: Decimal
    behaviours: int  # of the batch, scored by this version
    grams: Decimal
    monthly_limits: dict[str, Any] | None = None  # limits.per_month, when the version has it
    once_per: dict[str, str] | None = None  # a period behaviour's period and later rule


class PartnerShare(msgspec.Struct):
    partner_id: str
    name: str
    behaviours: int
    grams: Decimal


class OutlierGroup(msgspec.Struct):
    methodology_version: int
    percentile: Decimal
    threshold_g: Decimal  # the percentile (nearest rank) of the version's grams in the batch
    behaviours: int  # above the threshold
    grams: Decimal
    largest: list[BehaviourLineOut]  # the largest, at most 20


class OutliersOut(msgspec.Struct):
    definition: str
    groups: list[OutlierGroup]


class CountOut(msgspec.Struct):
    behaviours: int
    grams: Decimal


class ExcludedOut(msgspec.Struct):
    """Behaviours of the methodology and vintage that are not in the batch."""

    definition: str
    rejected_on_review: CountOut  # grams: what the methodology computed for them
    unreviewed_self_reports: CountOut  # credited points, grams never in a credit


class CarryOut(msgspec.Struct):
    previous_batch_id: uuid.UUID | None  # the methodology's batch whose carry this took
    carry_in_g: Decimal
    carry_out_g: Decimal


class VerificationOut(msgspec.Struct):
    proposed_at: dt.datetime
    verification_body: str | None
    verified_at: dt.datetime | None
    statement: str | None
    returned_at: dt.datetime | None
    findings: list[str]
    issued_at: dt.datetime | None


class ReportOut(msgspec.Struct):
    """A batch's monitoring report: what it holds, by what rules, from whom, and what was
    left out. Public once the batch is issued."""

    batch_id: uuid.UUID
    status: BatchStatus
    methodology_code: str
    vintage_from: dt.date
    vintage_to: dt.date
    quantity: int  # t CO2e
    serials: SerialRange | None
    behaviours: int
    allocated_g: Decimal
    carry: CarryOut
    verification: VerificationOut
    methodologies: list[ReportMethodology]
    by_evidence: list[ShareOut]
    by_type: list[ShareOut]
    by_district: list[ShareOut]
    by_day: list[ShareOut]
    partners: list[PartnerShare]
    outliers: OutliersOut
    excluded: ExcludedOut
    report_url: str
    pdf_url: str
    behaviours_url: str


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


class CheckOut(msgspec.Struct):
    name: str
    problems: int


class VerifyOut(msgspec.Struct):
    ok: bool
    batches: int
    problems: list[str]
    checks: list[CheckOut] = msgspec.field(default_factory=list)  # each check and its count
    allocated: int = 0  # behaviours held by batches, each checked and recomputed
    evaluated: int = 0  # distinct inputs the evaluator ran (equal inputs, equal grams)
