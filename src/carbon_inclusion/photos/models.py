from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carbon_inclusion.db.base import Base, created_at

CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp")


class Photo(Base):
    """A photo a citizen uploaded as evidence of a self-report: its metadata here, its bytes
    in the object store under ``key`` (made of the citizen's and the photo's ids).

    Attached to at most one behaviour (``behaviour_id``; one photo per behaviour, by the
    unique key), a behaviour of the same citizen (the foreign key holds the citizen id):
    rows of one citizen, so distributed by citizen like behaviours."""

    __tablename__ = "photos"
    __table_args__ = (
        PrimaryKeyConstraint("citizen_id", "id"),
        UniqueConstraint("citizen_id", "idempotency_key"),
        UniqueConstraint("citizen_id", "behaviour_id"),
        UniqueConstraint("citizen_id", "key"),
        # A reviewer opens a photo by its id alone (db/distribution.py: fans out on Citus).
        Index("ix_photos_id", "id"),
        CheckConstraint("content_type IN ('image/jpeg', 'image/png', 'image/webp')",
                        name="content_type"),
        CheckConstraint("bytes > 0", name="bytes_positive"),
        CheckConstraint("(behaviour_id IS NULL) = (behaviour_occurred_at IS NULL)",
                        name="behaviour_whole"),
        ForeignKeyConstraint(
            ["behaviour_id", "behaviour_occurred_at", "citizen_id"],
            ["behaviours.id", "behaviours.occurred_at", "behaviours.citizen_id"],
            ondelete="RESTRICT", name="fk_photos_behaviour_behaviours"),
    )

    id: Mapped[uuid.UUID]
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    key: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    behaviour_id: Mapped[uuid.UUID | None]
    behaviour_occurred_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_at()
    attached_at: Mapped[dt.datetime | None]
