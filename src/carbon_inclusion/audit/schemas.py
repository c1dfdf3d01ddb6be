from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec


class AuditOut(msgspec.Struct):
    id: uuid.UUID
    at: dt.datetime
    actor_id: uuid.UUID | None  # None: the system (seed, CLI)
    action: str  # e.g. credit_batch.issued, reward.updated
    subject_type: str  # e.g. credit_batch, reward, methodology
    subject_id: str
    document_sha256: str | None  # of the document acted on (a methodology's)
    detail: dict[str, Any]  # what the action recorded


class AuditPage(msgspec.Struct):
    items: list[AuditOut]
    next_cursor: str | None
