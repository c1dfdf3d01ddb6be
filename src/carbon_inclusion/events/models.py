"""Events measured for their footprint, retirements of credits, and certificates.

A retirement takes whole credits out of circulation for one purpose (an event's
neutrality, or a compliance offset); its serial blocks point at it. An event has at most one
neutralising retirement (``pre_event``, on its estimate, or ``post_event``, on its actual
figures) and at most one ``true_up`` retirement (the shortfall the actual figures showed
after a pre-event one). A certificate states a retirement; its content and SHA-256 are never
changed (a trigger refuses it): a mistake is cancelled with a reason and a new certificate
issued for the same retirement, and an estimate's certificate is superseded by the final one
(``replaced_by``) when the actual figures come in.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from carbon_inclusion.db.base import Base, uuid_pk
from carbon_inclusion.db.base import created_at as timestamp_now


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="dates_order"),
        CheckConstraint("total_g >= 0", name="total_not_negative"),
        CheckConstraint("basis IN ('estimated', 'actual')", name="basis"),
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
    # estimated: recorded on or before ends_on (programme day); actual: after it
    basis: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[dt.datetime] = timestamp_now()


class EventActuals(Base):
    """The actual figures of an event first measured on estimates, submitted once after it
    ended, scored like the estimate; the event's footprint from then on."""

    __tablename__ = "event_actuals"
    __table_args__ = (
        CheckConstraint("total_g >= 0", name="total_not_negative"),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id"), primary_key=True)
    attendees: Mapped[int] = mapped_column(Integer)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    lines: Mapped[list[Any]] = mapped_column(JSONB)
    breakdown: Mapped[dict[str, Any]] = mapped_column(JSONB)
    total_g: Mapped[Decimal] = mapped_column(Numeric(20, 3))
    methodology_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("methodology_versions.id"))
    methodology_code: Mapped[str] = mapped_column(String(32))
    methodology_version: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    submitted_by: Mapped[uuid.UUID]
    submitted_at: Mapped[dt.datetime] = timestamp_now()


class Retirement(Base):
    __tablename__ = "retirements"
    __table_args__ = (
        CheckConstraint("quantity_t > 0", name="quantity_positive"),
        CheckConstraint("kind IN ('event', 'compliance')", name="kind"),
        CheckConstraint("(kind = 'event') = (event_id IS NOT NULL)", name="event_kind"),
        CheckConstraint("stage IN ('pre_event', 'post_event', 'true_up')", name="stage"),
        CheckConstraint("(kind = 'event') = (stage IS NOT NULL)", name="event_stage"),
        # One retirement neutralises an event (on its estimate or its actuals), and at most
        # one trues it up.
        Index("uq_retirements_event_neutralised", "event_id", unique=True,
              postgresql_where="stage IN ('pre_event', 'post_event')"),
        Index("uq_retirements_event_true_up", "event_id", unique=True,
              postgresql_where="stage = 'true_up'"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"),
                                                       index=True)
    kind: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("events.id"))
    stage: Mapped[str | None] = mapped_column(String(16))  # an event's; see the module
    quantity_t: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[dict[str, Any]] = mapped_column(JSONB)  # what it was for, as certified
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[dt.datetime] = timestamp_now()


class Certificate(Base):
    __tablename__ = "certificates"
    __table_args__ = (
        CheckConstraint("status IN ('valid', 'cancelled', 'superseded')", name="status"),
        CheckConstraint("status <> 'cancelled' OR cancel_reason IS NOT NULL",
                        name="cancel_reason"),
        CheckConstraint("status <> 'superseded' OR (replaced_by IS NOT NULL AND "
                        "superseded_at IS NOT NULL)", name="superseded_by"),
        # One valid certificate per retirement; cancelled ones stay on record.
        Index("uq_certificates_valid_retirement", "retirement_id", unique=True,
              postgresql_where="status = 'valid'"),
        # The administrators' list by status, newest first; the newest valid ones.
        Index("ix_certificates_status_issued_at_id", "status", "issued_at", "id"),
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
    superseded_at: Mapped[dt.datetime | None]
