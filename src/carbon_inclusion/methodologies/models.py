from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from carbon_inclusion.db.base import Base, created_at, uuid_pk

STATUSES = ("draft", "published", "retired")


# A document scoring this "behaviour" measures an event's footprint (``events/``): its
# grams are emissions, and it never scores a citizen's behaviour or backs a credit.
FOOTPRINT_BEHAVIOUR = "event_footprint"


class MethodologyVersion(Base):
    """One version of a methodology document.

    ``document`` and ``sha256`` never change once published (a trigger enforces it).
    ``in_force_from``/``in_force_to`` is the period the version applies to behaviours: the
    document's own period, closed earlier when the version is retired or superseded by a
    later version published with an open-ended predecessor. Periods of one code never
    overlap (an exclusion constraint, for published and retired versions).
    """

    __tablename__ = "methodology_versions"
    __table_args__ = (
        UniqueConstraint("code", "version"),
        CheckConstraint("status IN ('draft', 'published', 'retired')", name="status"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint(
            "in_force_to IS NULL OR in_force_to >= in_force_from", name="period_order"
        ),
        Index("ix_methodology_versions_behaviour", "behaviour", "in_force_from",
              postgresql_where="status <> 'draft'"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(String(32))
    version: Mapped[int]
    behaviour: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="behaviour", server_default="behaviour")
    status: Mapped[str] = mapped_column(String(16), default="draft", server_default="draft")
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
    sha256: Mapped[str] = mapped_column(String(64))
    in_force_from: Mapped[dt.datetime]
    in_force_to: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_at()
    created_by: Mapped[uuid.UUID | None]
    published_at: Mapped[dt.datetime | None]
    retired_at: Mapped[dt.datetime | None]
    retire_reason: Mapped[str | None] = mapped_column(Text)
