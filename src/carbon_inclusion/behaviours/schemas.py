from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec

# The wallet's Structs are the ledger's; named here too for the routes that serve them.
from carbon_inclusion.ledger.schemas import (  # noqa: F401
    EntryOut,
    EntryPage,
    ExpiryOut,
    WalletOut,
)
from carbon_inclusion.photos.schemas import PhotoRef

BehaviourType = Annotated[str, msgspec.Meta(pattern="^[a-z][a-z0-9_]{1,47}$",
                                            examples=["transit_trip"])]
Status = Literal["credited", "pending_review", "rejected", "superseded"]


class ClaimIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A behaviour the citizen reports from the app (paid as ``self_reported`` evidence).

    ``photo_id``: a photo uploaded before (``POST /v1/photos``), attached to this behaviour
    only; the methodology says whether one is required. (Left out of the request's hash
    when absent, so a claim hashes as it did before photos existed.)"""

    type: BehaviourType
    occurred_at: Annotated[dt.datetime, msgspec.Meta(tz=True)]
    data: dict[str, Any]
    photo_id: uuid.UUID | None = None


class MethodologyRef(msgspec.Struct):
    code: str
    version: int


class Explanation(msgspec.Struct):
    """Why this many points: what the methodology version computed, before daily caps."""

    inputs: dict[str, Any]
    params: dict[str, Any]
    intermediates: dict[str, Any]
    computed_reduction_g: str
    computed_points: int


class BehaviourOut(msgspec.Struct, omit_defaults=False):
    id: uuid.UUID
    type: str
    status: Status
    occurred_at: dt.datetime
    source: Literal["app", "partner"]
    evidence: str
    reduction_g: str
    points: int
    methodology: MethodologyRef | None
    reason: str | None
    reason_detail: dict[str, Any] | None
    flags: list[str]
    partner_id: str | None
    created_at: dt.datetime
    explanation: Explanation | None = None
    photo: PhotoRef | None = None  # the photo it carries (its owner and reviewers open it)


class BehaviourPage(msgspec.Struct):
    items: list[BehaviourOut]
    next_cursor: str | None


class PartnerRecordIn(msgspec.Struct, forbid_unknown_fields=True):
    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128,
                                             pattern=r"^[\x21-\x7e]+$")]
    external_ref: Annotated[str, msgspec.Meta(min_length=4, max_length=64,
                                              pattern="^[A-Za-z0-9-]+$")]
    type: BehaviourType
    occurred_at: Annotated[dt.datetime, msgspec.Meta(tz=True)]
    data: dict[str, Any]


class PartnerBatchIn(msgspec.Struct, forbid_unknown_fields=True):
    # Records are checked one by one, so one bad record never sinks the batch; the document
    # still says what a record is.
    records: Annotated[list[Any], msgspec.Meta(
        min_length=1, max_length=1000,
        description="Each a `PartnerRecordIn`; one that is not is answered `rejected`.",
        extra_json_schema={"items": {"$ref": "#/components/schemas/PartnerRecordIn"}})]


class RecordResult(msgspec.Struct):
    index: int
    external_id: str | None
    # superseded: kept, then replaced by a later record of its period in the same batch
    status: Literal["credited", "pending_review", "duplicate", "unbound", "rejected",
                    "superseded"]
    reason: str | None = None
    errors: list[dict[str, str]] | None = None
    behaviour_id: uuid.UUID | None = None
    points: int | None = None


class BatchResult(msgspec.Struct):
    received: int
    counts: dict[str, int]
    results: list[RecordResult]


class IngestionStatusOut(msgspec.Struct):
    """How a partner's data is arriving: what it sent lately and what still waits.

    Counts are of the records kept (``credited``, ``unbound``, ``expired``); a refused record
    is not stored (it may be sent again), so it counts nowhere here."""

    partner_id: str
    as_of: dt.datetime
    last_received_at: dt.datetime | None  # within ``window_days``
    window_days: int
    last_24h: dict[str, int]  # kept records received in the last 24 hours, by status
    window: dict[str, int]  # the same over ``window_days``
    waiting_for_binding: int  # unbound records within the claim window, any age of receipt


class ReviewDecision(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class SimulateIn(msgspec.Struct, forbid_unknown_fields=True):
    occurred_from: Annotated[dt.datetime, msgspec.Meta(tz=True)]
    occurred_to: Annotated[dt.datetime, msgspec.Meta(tz=True)]


class SimulationRow(msgspec.Struct):
    type: str
    district: str
    behaviours: int
    paid_reduction_g: str
    paid_points: int
    simulated_reduction_g: str
    simulated_points: int
    changed: int
    not_scorable: int


class SimulationOut(msgspec.Struct):
    code: str
    version: int
    occurred_from: dt.datetime
    occurred_to: dt.datetime
    rows: list[SimulationRow]
