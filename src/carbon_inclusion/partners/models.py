from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from carbon_inclusion.db.base import Base, created_at, uuid_pk


class Partner(Base):
    """A data partner (metro, charging or waste-station operator) that signs its requests."""

    __tablename__ = "partners"
    __table_args__ = (
        CheckConstraint("id ~ '^[a-z0-9][a-z0-9-]{1,31}$'", name="id_format"),
        CheckConstraint("status IN ('active', 'disabled')", name="status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    # Sealed with a key derived from SECRET_KEY (security.secrets.SecretBox).
    secret_sealed: Mapped[str] = mapped_column(Text)
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text)
    previous_valid_until: Mapped[dt.datetime | None]
    # What the partner may report: behaviour types, and (None: any) the citizens' districts.
    behaviour_types: Mapped[list[str]] = mapped_column(
        ARRAY(Text), default=list, server_default=text("'{}'::text[]"))
    districts: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    created_at: Mapped[dt.datetime] = created_at()


class Binding(Base):
    """A partner card or account bound to one citizen (stored as a keyed hash).

    ``pending`` until the partner confirms it (a binding code, or a signed confirmation);
    only a confirmed binding receives records, and only one per reference."""

    __tablename__ = "bindings"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'confirmed')", name="status"),
        Index("uq_bindings_active_ref", "partner_id", "ref_hash", unique=True,
              postgresql_where=text("removed_at IS NULL AND status = 'confirmed'")),
        Index("ix_bindings_citizen_id", "citizen_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    ref_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    ref_hint: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending",
                                        server_default="pending")
    confirmed_at: Mapped[dt.datetime | None]
    confirmed_by: Mapped[str | None] = mapped_column(String(16))  # "code" | "partner"
    created_at: Mapped[dt.datetime] = created_at()
    removed_at: Mapped[dt.datetime | None]


class BindingCode(Base):
    """A one-time code the partner's own channel shows the holder of a reference; entered
    by a citizen, it proves the binding (stored as a keyed hash)."""

    __tablename__ = "binding_codes"
    __table_args__ = (Index("ix_binding_codes_ref", "partner_id", "ref_hash"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    ref_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_at()
