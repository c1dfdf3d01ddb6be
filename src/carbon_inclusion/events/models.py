"""Events measured for their footprint, retirements of credits, and certificates.

A retirement takes whole credits out of circulation for one purpose (an event's
neutrality, or a compliance offset); its serial blocks point at it. A certificate states a
retirement; its content and SHA-256 are never changed (a trigger refuses it): a mistake is
cancelled with a reason and a new certificate issued for the same retirement.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from carbon_inclusion.db.base import Base, uuid_pk
from carbon_inclusion.db.base import created_at as timestamp_now


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="dates_order"),
        CheckConstraint("total_g >= 0", name="total_not_negative"),
        Index("ix_events_organisation", "organisation_id", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(Text)
    starts_on: Mapped[dt.date]
    ends_on: Mapped[dt.date]
    venue: Mapped[str] = mapped_column(Text)
    attendees: Mapped[int] = mapped_column(Integer)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB)  # as submitted
    lines: Mapped[list[Any]] = mapped_column(JSONB)  # each line scored, with its source
    breakdown: Mapped[dict[str, Any]] = mapped_column(JSONB)  # grams by source
    total_g: Mapped[Decimal] = mapped_column(Numeric(20, 3))
    methodology_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("methodology_versions.id"))
    methodology_code: Mapped[str] = mapped_column(String(32))
    methodology_version: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[dt.datetime] = timestamp_now()


class Retirement(Base):
    __tablename__ = "retirements"
    __table_args__ = (
        CheckConstraint("quantity_t > 0", name="quantity_positive"),
        CheckConstraint("kind IN ('event', 'compliance')", name="kind"),
        CheckConstraint("(kind = 'event') = (event_id IS NOT NULL)", name="event_kind"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"),
                                                       index=True)
    kind: Mapped[str] = mapped_column(String(16))
    # At most one retirement neutralises an event.
    event_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("events.id"), unique=True)
    quantity_t: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[dict[str, Any]] = mapped_column(JSONB)  # what it was for, as certified
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[dt.datetime] = timestamp_now()


class Certificate(Base):
    __tablename__ = "certificates"
    __table_args__ = (
        CheckConstraint("status IN ('valid', 'cancelled')", name="status"),
        CheckConstraint("status = 'valid' OR cancel_reason IS NOT NULL", name="cancel_reason"),
        # One valid certificate per retirement; cancelled ones stay on record.
        Index("uq_certificates_valid_retirement", "retirement_id", unique=True,
              postgresql_where="status = 'valid'"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    number: Mapped[str] = mapped_column(String(48), unique=True)
    retirement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("retirements.id"))
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    replaced_by: Mapped[uuid.UUID | None]
    issued_at: Mapped[dt.datetime] = timestamp_now()
    cancelled_at: Mapped[dt.datetime | None]
