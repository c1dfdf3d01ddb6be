from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec


class PrivacyNoticeOut(msgspec.Struct):
    version: int
    effective_on: dt.date
    # The notice as published (zh and en text, the sensitive-information statement,
    # purposes, retention, rights): ``seed/privacy/notice-v<version>.json``.
    notice: dict[str, Any]


class ConsentIn(msgspec.Struct, forbid_unknown_fields=True):
    version: Annotated[int, msgspec.Meta(ge=1, le=10_000, examples=[1])]


class ConsentOut(msgspec.Struct):
    version: int
    accepted_at: dt.datetime
    consent_required: bool


class ExportOut(msgspec.Struct):
    """Every record of the signed-in user's own, as stored (no secrets, no one else's)."""

    exported_at: dt.datetime
    profile: dict[str, Any]
    consents: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    bindings: list[dict[str, Any]]
    behaviours: list[dict[str, Any]]
    partner_records: list[dict[str, Any]]
    wallet: dict[str, Any] | None
    ledger_entries: list[dict[str, Any]]
    redemptions: list[dict[str, Any]]
    badges: list[dict[str, Any]]
    challenges: list[dict[str, Any]]
    photos: list[dict[str, Any]]  # what was uploaded; each image itself is at its GET


class ReductionOut(msgspec.Struct):
    before: dt.datetime
    behaviours: int
    partner_records: int
    photos: int = 0  # deleted: of behaviours before ``before``, or never attached
