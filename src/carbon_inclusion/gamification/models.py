"""The game around the points: levels (data, from ``seed/levels.json``) and badges."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from carbon_inclusion.db.base import Base, uuid_pk
from carbon_inclusion.db.base import created_at as set_on_insert


class Level(Base):
    __tablename__ = "levels"
    __table_args__ = (CheckConstraint("min_reduction_g >= 0", name="min_not_negative"),)

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    min_reduction_g: Mapped[Decimal] = mapped_column(Numeric(20, 3), unique=True)


class Badge(Base):
    """A badge and the version of its definition now in force (``badge_versions``)."""

    __tablename__ = "badges"
    __table_args__ = (CheckConstraint("status IN ('active', 'retired')", name="status"),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    created_at: Mapped[dt.datetime] = set_on_insert()
    updated_at: Mapped[dt.datetime] = set_on_insert()


class BadgeVersion(Base):
    """One version of a badge's definition; never changed once written."""

    __tablename__ = "badge_versions"

    code: Mapped[str] = mapped_column(ForeignKey("badges.code"), primary_key=True)
    version: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = set_on_insert()


class BadgeAward(Base):
    """A badge level a citizen earned: at most once per citizen, badge and level."""

    __tablename__ = "badge_awards"
    __table_args__ = (
        UniqueConstraint("citizen_id", "code", "level"),
        CheckConstraint("bonus_points >= 0", name="bonus_not_negative"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    code: Mapped[str] = mapped_column(ForeignKey("badges.code"))
    level: Mapped[int] = mapped_column(SmallInteger)
    version: Mapped[int] = mapped_column(SmallInteger)  # the definition it was earned under
    bonus_points: Mapped[int] = mapped_column(default=0)
    entry_id: Mapped[uuid.UUID | None]  # the ledger entry paying the bonus
    awarded_at: Mapped[dt.datetime] = set_on_insert()


class Challenge(Base):
    """A time-boxed goal over programme days ``starts_on``–``ends_on`` (inclusive).

    ``individual``: each participant's own count or grams of ``behaviour`` (any when null)
    reaching ``target`` completes it, once, with ``bonus_points``. ``district``: participants
    count for the district they were in when they joined; the district with the most when
    the challenge ends wins, and its participants are paid when it is settled.
    """

    __tablename__ = "challenges"
    __table_args__ = (
        CheckConstraint("kind IN ('individual', 'district')", name="kind"),
        CheckConstraint("measure IN ('count', 'grams')", name="measure"),
        CheckConstraint("target > 0", name="target_positive"),
        CheckConstraint("ends_on >= starts_on", name="period_order"),
        CheckConstraint("bonus_points >= 0", name="bonus_not_negative"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    title_zh: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    behaviour: Mapped[str | None] = mapped_column(String(64))
    measure: Mapped[str] = mapped_column(String(16))
    target: Mapped[Decimal] = mapped_column(Numeric(20, 3))
    starts_on: Mapped[dt.date]
    ends_on: Mapped[dt.date]
    bonus_points: Mapped[int] = mapped_column(default=0)
    settled_at: Mapped[dt.datetime | None]
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = set_on_insert()


class ChallengeParticipant(Base):
    __tablename__ = "challenge_participants"

    challenge_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("challenges.id"),
                                                    primary_key=True)
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True,
                                                  index=True)
    district_code: Mapped[str | None] = mapped_column(String(32))
    joined_at: Mapped[dt.datetime] = set_on_insert()
    completed_at: Mapped[dt.datetime | None]
    bonus_points: Mapped[int] = mapped_column(default=0)
