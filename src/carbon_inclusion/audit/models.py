from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from carbon_inclusion.db.base import Base, created_at, uuid_pk


class AuditRecord(Base):
    """Who did what to which object, when. Append-only (a trigger refuses UPDATE/DELETE)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_subject", "subject_type", "subject_id", "at"),
        # The administrators' list, newest first, by action or by actor.
        Index("ix_audit_log_action_id", "action", "id"),
        Index("ix_audit_log_actor_id_id", "actor_id", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    at: Mapped[dt.datetime] = created_at()
    actor_id: Mapped[uuid.UUID | None]  # None: the system (seed, CLI)
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(Text)
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
