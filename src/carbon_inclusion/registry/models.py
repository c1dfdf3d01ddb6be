"""The credit registry: batches of whole tonnes, the behaviours behind them, serial blocks.

* ``credit_batches``: one batch of one methodology and vintage, ``proposed`` by an
  administrator, ``verified`` or ``returned`` (with findings) by a verifier of a
  verification body, then ``issued`` by an administrator (``registry.batches``). Its grams
  are the behaviours allocated to it plus what the previous batch of the methodology carried
  over, minus what it carries to the next: ``carry_in_g + allocated_g - carry_out_g =
  quantity tonnes`` exactly (a CHECK), with ``0 <= carry_out_g < 1 t``. Serials
  (``serial_prefix``, ``first_serial``) exist only once it is issued.
* ``credit_allocations``: which behaviour's grams a batch holds (from its proposal on); the
  behaviour is the primary key, so no gram is ever in two batches. ``line`` numbers a
  batch's behaviours from 1 by programme day: the order of its public behaviour list.
* ``credit_allocations_released``: what a returned batch held, moved here when it was
  returned (its behaviours may go into a later batch).
* ``credit_blocks``: inclusive serial ranges of a batch in one state each; a range splits when
  part of it is sold or retired. An exclusion constraint forbids two blocks of a batch from
  overlapping, whatever the code does.

Serials are ``CQTHT-<METHOD>-<YEAR>-<NNNNNN>``: the programme, the methodology code without
its ``CQ-`` prefix, the vintage year and a number counted per methodology and year from 1,
continuing across batches (``CQTHT-TRANSIT-2026-000001``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from carbon_inclusion.db.base import Base, uuid_pk
from carbon_inclusion.db.base import created_at as timestamp_now

BLOCK_STATES = ("available", "reserved", "held", "retired", "cancelled")
BATCH_STATUSES = ("proposed", "verified", "returned", "issued")


class CreditBatch(Base):
    __tablename__ = "credit_batches"
    __table_args__ = (
        UniqueConstraint("serial_prefix", "first_serial"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("first_serial >= 1", name="first_serial_positive"),
        CheckConstraint("vintage_to >= vintage_from", name="vintage_order"),
        CheckConstraint("carry_out_g >= 0 AND carry_out_g < 1000000 AND carry_in_g >= 0",
                        name="carry_under_a_tonne"),
        CheckConstraint("carry_in_g + allocated_g - carry_out_g = quantity * 1000000",
                        name="whole_tonnes"),
        CheckConstraint("status IN ('proposed', 'verified', 'returned', 'issued')",
                        name="status"),
        CheckConstraint("(status = 'issued') = (serial_prefix IS NOT NULL) "
                        "AND (serial_prefix IS NULL) = (first_serial IS NULL)",
                        name="serials_when_issued"),
        CheckConstraint("status <> 'verified' OR (verified_by IS NOT NULL "
                        "AND verified_at IS NOT NULL AND verification_body_id IS NOT NULL)",
                        name="verified_by_someone"),
        CheckConstraint("(status = 'returned') = (returned_at IS NOT NULL) AND "
                        "(status <> 'returned' OR (returned_by IS NOT NULL "
                        "AND cardinality(findings) > 0))", name="returned_with_findings"),
        CheckConstraint("(status = 'issued') = (issued_at IS NOT NULL)",
                        name="issued_by_someone"),
        CheckConstraint("proposed_by IS NULL OR ((verified_by IS NULL OR verified_by "
                        "<> proposed_by) AND (returned_by IS NULL OR returned_by "
                        "<> proposed_by))", name="verifier_not_proposer"),
        # One batch in progress per methodology: the carry passes along one chain.
        Index("uq_credit_batches_in_progress", "methodology_code", unique=True,
              postgresql_where=text("status IN ('proposed', 'verified')")),
        Index("ix_credit_batches_status", "status", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    methodology_code: Mapped[str] = mapped_column(String(32), index=True)
    methodology_versions: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger))
    vintage_from: Mapped[dt.date]
    vintage_to: Mapped[dt.date]
    status: Mapped[str] = mapped_column(String(16))
    serial_prefix: Mapped[str | None] = mapped_column(String(48))  # set at issue
    first_serial: Mapped[int | None] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    allocated_g: Mapped[Decimal] = mapped_column(Numeric(20, 3))
    carry_in_g: Mapped[Decimal] = mapped_column(Numeric(20, 3))
    carry_out_g: Mapped[Decimal] = mapped_column(Numeric(20, 3))
    behaviours: Mapped[int] = mapped_column(Integer)
    proposed_by: Mapped[uuid.UUID | None]  # None: the system (seed, CLI)
    created_at: Mapped[dt.datetime] = timestamp_now()  # when it was proposed
    verified_by: Mapped[uuid.UUID | None]
    verified_at: Mapped[dt.datetime | None]
    verification_body_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id"))
    verification_statement: Mapped[str | None] = mapped_column(Text)
    returned_by: Mapped[uuid.UUID | None]
    returned_at: Mapped[dt.datetime | None]
    findings: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list,
                                                server_default=text("'{}'"))
    issued_by: Mapped[uuid.UUID | None]
    issued_at: Mapped[dt.datetime | None]


class CreditAllocation(Base):
    __tablename__ = "credit_allocations"
    __table_args__ = (CheckConstraint("grams > 0", name="grams_positive"),
                      CheckConstraint("line >= 1", name="line_positive"),
                      UniqueConstraint("batch_id", "line"))

    behaviour_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("behaviours.id"),
                                                    primary_key=True)
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_batches.id"))
    grams: Mapped[Decimal] = mapped_column(Numeric(20, 3))
    line: Mapped[int] = mapped_column(Integer)  # 1.. in the batch, by programme day


class ReleasedAllocation(Base):
    """What a returned batch held: kept so the returned batch stays readable."""

    __tablename__ = "credit_allocations_released"
    __table_args__ = (CheckConstraint("grams > 0", name="grams_positive"),
                      CheckConstraint("line >= 1", name="line_positive"),
                      UniqueConstraint("batch_id", "line"))

    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_batches.id"),
                                                primary_key=True)
    behaviour_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("behaviours.id"),
                                                    primary_key=True)
    grams: Mapped[Decimal] = mapped_column(Numeric(20, 3))
    line: Mapped[int] = mapped_column(Integer)  # as it was in the batch
    released_at: Mapped[dt.datetime] = timestamp_now()


class CreditOrder(Base):
    """An enterprise's order: a quote that reserves credits until ``expires_at``."""

    __tablename__ = "credit_orders"
    __table_args__ = (
        UniqueConstraint("organisation_id", "idempotency_key"),
        CheckConstraint("quantity_t > 0", name="quantity_positive"),
        CheckConstraint("status IN ('reserved', 'paid', 'expired')", name="status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    quantity_t: Mapped[int] = mapped_column(Integer)
    price_cny_per_t: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    amount_cny: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[dt.datetime]
    idempotency_key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[dt.datetime] = timestamp_now()
    paid_at: Mapped[dt.datetime | None]
    payment_reference: Mapped[str | None] = mapped_column(Text)
    confirmed_by: Mapped[uuid.UUID | None]


class CreditBlock(Base):
    __tablename__ = "credit_blocks"
    __table_args__ = (
        CheckConstraint("last_serial >= first_serial", name="range_order"),
        CheckConstraint(
            "state IN ('available', 'reserved', 'held', 'retired', 'cancelled')", name="state"),
        CheckConstraint("(state IN ('available', 'cancelled')) = (organisation_id IS NULL)",
                        name="owner"),
        CheckConstraint("state <> 'reserved' OR order_id IS NOT NULL", name="reserved_by_order"),
        CheckConstraint("state <> 'cancelled' OR reason IS NOT NULL", name="cancel_reason"),
        CheckConstraint("(state = 'retired') = (retirement_id IS NOT NULL)", name="retired_for"),
        Index("ix_credit_blocks_state", "state", "batch_id", "first_serial"),
        Index("ix_credit_blocks_organisation", "organisation_id", "state"),
        # The database forbids two blocks of a batch from sharing a serial (see migration):
        # EXCLUDE USING gist (batch_id WITH =, int4range(first_serial, last_serial, '[]') WITH &&)
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("credit_batches.id"))
    first_serial: Mapped[int] = mapped_column(Integer)
    last_serial: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("credit_orders.id"),
                                                       index=True)
    retirement_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("retirements.id"),
                                                            index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = timestamp_now()
