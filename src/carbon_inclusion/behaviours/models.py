from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from carbon_inclusion.db.base import Base, created_at

STATUSES = ("credited", "pending_review", "rejected", "superseded")


class Behaviour(Base):
    """One low-carbon behaviour of one citizen, scored by the methodology version in force.

    Every unique key includes ``citizen_id`` and every citizen-facing index starts with it,
    so the table can be distributed by citizen (``db/distribution.py``); partitioned by
    month of ``occurred_at`` (``db/partitions.py``). The figures the citizen was paid
    (``reduction_g``, ``points``) sit beside what the methodology computed before daily caps
    (``computed_*``), with the inputs and the version, so any figure can be recomputed later.
    """

    __tablename__ = "behaviours"
    __table_args__ = (
        CheckConstraint(
            "status IN ('credited', 'pending_review', 'rejected', 'superseded')", name="status"
        ),
        CheckConstraint("source IN ('app', 'partner')", name="source"),
        CheckConstraint("points >= 0 AND computed_points >= 0", name="points_not_negative"),
        CheckConstraint("(source = 'app') = (idempotency_key IS NOT NULL)", name="app_key"),
        # Partitioned by month of ``occurred_at``: the primary key holds it and the citizen.
        # The Idempotency-Key's uniqueness is ``behaviour_keys`` (across months).
        PrimaryKeyConstraint("id", "occurred_at", "citizen_id"),
        Index("ix_behaviours_citizen_occurred", "citizen_id", "occurred_at", "id"),
        Index("ix_behaviours_citizen_type_occurred", "citizen_id", "type", "occurred_at"),
        Index("ix_behaviours_citizen_created", "citizen_id", "created_at", "id"),
        Index("ix_behaviours_pending", "created_at",
              postgresql_where=text("status = 'pending_review'")),
        Index("ix_behaviours_type_occurred", "type", "occurred_at"),
        # The programme's statistics by day, across citizens (migration 0021).
        Index("ix_behaviours_credited_day", "programme_day",
              postgresql_include=["type", "district_code", "reduction_g", "points",
                                  "citizen_id"],
              postgresql_where=text("status = 'credited'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[dt.datetime]
    programme_day: Mapped[dt.date] = mapped_column(Date)
    district_code: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[str] = mapped_column(String(32))
    partner_id: Mapped[str | None] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(48))
    reason_detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list,
                                             server_default=text("'{}'"))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    methodology_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("methodology_versions.id", ondelete="RESTRICT"))
    methodology_code: Mapped[str | None] = mapped_column(String(32))
    methodology_version: Mapped[int | None]
    computed_reduction_g: Mapped[Decimal] = mapped_column(Numeric(20, 3))
    computed_points: Mapped[int] = mapped_column(Integer)
    reduction_g: Mapped[Decimal] = mapped_column(Numeric(20, 3))
    points: Mapped[int] = mapped_column(Integer)
    ledger_entry_id: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = created_at()
    decided_at: Mapped[dt.datetime | None]
    reviewed_by: Mapped[uuid.UUID | None]
    review_reason: Mapped[str | None] = mapped_column(Text)
    # The first programme day of the behaviour's period, when its methodology declares
    # ``once_per`` (a period behaviour); held unique while open by ``behaviour_period_keys``.
    period_start: Mapped[dt.date | None] = mapped_column(Date)


class PartnerRecord(Base):
    """A record as a partner sent it: the dedup key and the inbox of unbound references."""

    __tablename__ = "partner_records"
    __table_args__ = (
        # Partitioned by month of ``received_at``; the de-duplication key (partner,
        # external id) is ``partner_record_keys``, which holds across months.
        PrimaryKeyConstraint("id", "received_at", "partner_id"),
        CheckConstraint("status IN ('received', 'credited', 'unbound', 'rejected', 'expired')",
                        name="status"),
        Index("ix_partner_records_unbound", "partner_id", "ref_hash",
              postgresql_where=text("status = 'unbound'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    external_id: Mapped[str] = mapped_column(String(128))
    ref_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[dt.datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(48))
    citizen_id: Mapped[uuid.UUID | None]
    behaviour_id: Mapped[uuid.UUID | None]
    received_at: Mapped[dt.datetime] = created_at()


class BehaviourKey(Base):
    """A claim's Idempotency-Key, unique per citizen across every month of ``behaviours``
    (written by the behaviours' insert trigger; the primary key keeps the name the unique
    key of the unpartitioned table had, which claims answer a replay by)."""

    __tablename__ = "behaviour_keys"
    __table_args__ = (PrimaryKeyConstraint(
        "citizen_id", "idempotency_key", name="uq_behaviours_citizen_id_idempotency_key"),)

    citizen_id: Mapped[uuid.UUID]
    idempotency_key: Mapped[str] = mapped_column(String(128))
    behaviour_id: Mapped[uuid.UUID]
    occurred_at: Mapped[dt.datetime]


class PartnerRecordKey(Base):
    """A partner record's de-duplication key across months (and after its month is
    detached): the insert trigger of ``partner_records`` skips a record whose key is here."""

    __tablename__ = "partner_record_keys"
    __table_args__ = (PrimaryKeyConstraint(
        "partner_id", "external_id", name="uq_partner_records_partner_id_external_id"),)

    partner_id: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    record_id: Mapped[uuid.UUID]
    received_at: Mapped[dt.datetime]


class BehaviourPeriodKey(Base):
    """The open (credited or waiting) behaviour of a citizen's period, for a period
    behaviour's type: one per (citizen, type, period), across every month of
    ``behaviours`` (written and removed by the behaviours' triggers, migration 0025)."""

    __tablename__ = "behaviour_period_keys"
    __table_args__ = (PrimaryKeyConstraint("citizen_id", "type", "period_start",
                                           name="uq_behaviours_period"),)

    citizen_id: Mapped[uuid.UUID]
    type: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[dt.date] = mapped_column(Date)
    behaviour_id: Mapped[uuid.UUID]
    occurred_at: Mapped[dt.datetime]


class DailyTotal(Base):
    """What one citizen was paid for one behaviour type on one programme day (cap counter)."""

    __tablename__ = "daily_totals"
    __table_args__ = (
        PrimaryKeyConstraint("citizen_id", "type", "day"),
        CheckConstraint("count >= 0 AND grams >= 0 AND points >= 0", name="not_negative"),
    )

    citizen_id: Mapped[uuid.UUID]
    type: Mapped[str] = mapped_column(String(64))
    day: Mapped[dt.date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(Integer, default=0)
    grams: Mapped[Decimal] = mapped_column(Numeric(20, 3), default=Decimal(0))
    points: Mapped[int] = mapped_column(Integer, default=0)
