"""The game around the points: levels (data, from ``seed/levels.json``)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, Numeric, SmallInteger, Text
from sqlalchemy.orm import Mapped, mapped_column

from carbon_inclusion.db.base import Base


class Level(Base):
    __tablename__ = "levels"
    __table_args__ = (CheckConstraint("min_reduction_g >= 0", name="min_not_negative"),)

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    min_reduction_g: Mapped[Decimal] = mapped_column(Numeric(20, 3), unique=True)
