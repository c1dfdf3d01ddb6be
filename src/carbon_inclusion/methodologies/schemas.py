from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec


class VersionOut(msgspec.Struct):
    """A methodology version with its whole document (inputs, parameters and their sources)."""

    code: str
    version: int
    behaviour: str
    # "behaviour": it scores citizens' behaviours; "footprint": an event's emissions
    kind: Literal["behaviour", "footprint"]
    status: str
    title: dict[str, str]
    effective_from: dt.datetime
    effective_to: dt.datetime | None
    in_force_from: dt.datetime
    in_force_to: dt.datetime | None
    sha256: str
    created_at: dt.datetime
    published_at: dt.datetime | None
    retired_at: dt.datetime | None
    document: dict[str, Any]


class VersionPage(msgspec.Struct):
    items: list[VersionOut]
    next_cursor: str | None


class EvaluateRequest(msgspec.Struct, forbid_unknown_fields=True):
    data: dict[str, Any]
    evidence: Annotated[str, msgspec.Meta(max_length=32)] = "partner_verified"


class EvaluationOut(msgspec.Struct):
    code: str
    version: int
    reduction_g: str
    points: int
    evidence: str
    needs_review: bool
    inputs: dict[str, Any]
    params: dict[str, Any]
    intermediates: dict[str, Any]
    # The document's review flags that these data raise (each sends it to review), with
    # the field each is about and why.
    review_flags: list[dict[str, Any]] = msgspec.field(default_factory=list)


class RetireRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class CheckResult(msgspec.Struct):
    ok: bool
    sha256: str | None = None
    errors: list[dict[str, str]] = []
