from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carbon_inclusion.db.base import Base, created_at, uuid_pk

ROLES = ("citizen", "enterprise", "admin", "verifier")
# What an organisation is: a buyer of credits, or an independent verification body (核证机构)
# whose users (role ``verifier``) check credit batches and enter verified emissions.
ORGANISATION_KINDS = ("enterprise", "verification_body")


class District(Base):
    """The programme's districts and counties (seeded: Chongqing's 38)."""

    __tablename__ = "districts"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    adcode: Mapped[str] = mapped_column(String(6), unique=True)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(24))


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint("kind IN ('enterprise', 'verification_body')", name="kind"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(Text, unique=True)
    kind: Mapped[str] = mapped_column(String(24), default="enterprise", server_default="enterprise")
    created_at: Mapped[dt.datetime] = created_at()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('citizen', 'enterprise', 'admin', 'verifier')", name="role"),
        CheckConstraint("status IN ('active', 'disabled', 'deleted')", name="status"),
        CheckConstraint(
            "(role = 'citizen') = (district_code IS NOT NULL)", name="citizen_district"
        ),
        CheckConstraint(
            "(role IN ('enterprise', 'verifier')) = (organisation_id IS NOT NULL)",
            name="enterprise_organisation",
        ),
        UniqueConstraint("phone_index", name="uq_users_phone"),
        Index("ix_users_organisation_id", "organisation_id",
              postgresql_where="organisation_id IS NOT NULL"),
        Index("ix_users_role_id", "role", "id"),  # the administrators' list by role
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    role: Mapped[str] = mapped_column(String(16))
    # Never the number itself: AES-GCM ciphertext, and the blind index that finds it and keeps
    # one account per phone (security/phone_crypto.py; the constraint keeps its old name).
    phone_index: Mapped[bytes] = mapped_column(LargeBinary(32))
    phone_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    password_hash: Mapped[str] = mapped_column(Text)
    nickname: Mapped[str] = mapped_column(String(40))
    district_code: Mapped[str | None] = mapped_column(
        ForeignKey("districts.code", ondelete="RESTRICT")
    )
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT")
    )
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    created_at: Mapped[dt.datetime] = created_at()
    # None until the citizen enters the one-time code sent to the phone (administrators'
    # accounts and demo citizens are verified when made). An unverified account can sign in
    # and read but not earn or redeem.
    phone_verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The pending one-time code (HMAC, never the code) and when it stops being accepted.
    phone_code_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    phone_code_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RefreshToken(Base):
    """One link in a rotation chain; ``family_id`` ties every rotation of one sign-in."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_user_id", "user_id"),
        Index("ix_refresh_tokens_family_id", "family_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    family_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[dt.datetime] = created_at()
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class PrivacyConsent(Base):
    """A citizen accepted version ``version`` of the privacy notice (``seed/privacy/``).

    Append-only (a trigger refuses UPDATE and DELETE): the history of consents is evidence.
    """

    __tablename__ = "privacy_consents"
    __table_args__ = (
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_privacy_consents_user", "user_id", "version"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)
    accepted_at: Mapped[dt.datetime] = created_at()


class SmsOutbox(Base):
    """What the development SMS sender "sends": one row per message, code included, so a
    developer (or a test) can read it. A real provider writes nothing here."""

    __tablename__ = "sms_outbox"
    __table_args__ = (Index("ix_sms_outbox_phone_sent_at", "phone", "sent_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    phone: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(String(12))
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
