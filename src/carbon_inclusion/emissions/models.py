"""The register of verified annual emissions: an organisation's emissions for a year, as an
independent verification body (核证机构) stated them.

Compliance offsets (碳履约) are capped by the register, never by what the buyer says. Rows
are never edited or deleted (a trigger refuses it): a correction is a new revision of the
same organisation-year that supersedes the one before, with its reason; the cap uses the
latest revision.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carbon_inclusion.db.base import Base, created_at, uuid_pk


class VerifiedEmissions(Base):
    __tablename__ = "verified_emissions"
    __table_args__ = (
        CheckConstraint("year BETWEEN 2000 AND 2100", name="year"),
        CheckConstraint("verified_emissions_t > 0", name="emissions_positive"),
        CheckConstraint("revision >= 1", name="revision_positive"),
        # The first entry of a year supersedes nothing; every correction says why.
        CheckConstraint("(revision = 1) = (supersedes IS NULL)", name="supersedes_previous"),
        CheckConstraint("revision = 1 OR reason IS NOT NULL", name="correction_reason"),
        UniqueConstraint("organisation_id", "year", "revision"),
        UniqueConstraint("entered_by", "idempotency_key"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    year: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer)
    verified_emissions_t: Mapped[Decimal]  # t CO2e, to 0.001 t
    report_reference: Mapped[str | None] = mapped_column(Text)  # the verification report
    verified_on: Mapped[dt.date | None]  # the date of the verification statement
    reason: Mapped[str | None] = mapped_column(Text)  # why a correction was made
    supersedes: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("verified_emissions.id"), unique=True)
    verification_body_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    entered_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    request_sha256: Mapped[bytes] = mapped_column(LargeBinary)
    entered_at: Mapped[dt.datetime] = created_at()
