"""The rewards mall: a stock-limited catalogue, redemptions and their vouchers.

``reward_stock`` holds each reward's stock in a few shards (see ``rewards.stock``), each
counting the units handed out and not given back (cancelled and expired vouchers give theirs
back) under ``CHECK (issued <= stock)``, so overselling is impossible whatever the
interleaving. Each redemption's points move through the ledger
(``journal_entries.redemption_id``). A voucher is one unit: a partner-supplied code waiting in
the reward's pool (``pooled``) or a code handed to a citizen, then ``used``, ``expired`` or
``cancelled``. Codes are unique across the programme, so a partner can redeem one by code.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from carbon_inclusion.db.base import Base, uuid_pk
from carbon_inclusion.db.base import created_at as timestamp_now


class Reward(Base):
    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint("kind IN ('coupon', 'voucher', 'donation')", name="kind"),
        CheckConstraint("status IN ('active', 'archived')", name="status"),
        CheckConstraint("cost_points > 0", name="cost_positive"),
        CheckConstraint("(per_citizen_limit IS NULL) = (limit_period IS NULL)",
                        name="limit_has_period"),
        CheckConstraint("limit_period IN ('day', 'week', 'month')", name="limit_period"),
        CheckConstraint("sale_to IS NULL OR sale_from IS NULL OR sale_to > sale_from",
                        name="sale_window"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16))
    cost_points: Mapped[int] = mapped_column(Integer)
    # The total the shards in ``reward_stock`` add up to; None: unlimited.
    stock: Mapped[int | None] = mapped_column(Integer)
    per_citizen_limit: Mapped[int | None] = mapped_column(Integer)
    limit_period: Mapped[str | None] = mapped_column(String(8))
    sale_from: Mapped[dt.datetime | None]
    sale_to: Mapped[dt.datetime | None]
    voucher_valid_days: Mapped[int] = mapped_column(Integer, default=30)
    cancel_window_s: Mapped[int] = mapped_column(Integer, default=0)
    max_per_redemption: Mapped[int] = mapped_column(Integer, default=5)
    uses_code_pool: Mapped[bool] = mapped_column(default=False)
    # Who honours the vouchers (marks them used); null: the programme itself.
    partner_id: Mapped[str | None] = mapped_column(ForeignKey("partners.id"))
    refund_points_on_expiry: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[dt.datetime] = timestamp_now()
    updated_at: Mapped[dt.datetime] = timestamp_now()


class RewardStock(Base):
    __tablename__ = "reward_stock"
    __table_args__ = (
        CheckConstraint("issued >= 0 AND (stock IS NULL OR issued <= stock)",
                        name="never_oversold"),
    )

    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rewards.id"), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    stock: Mapped[int | None] = mapped_column(Integer)
    issued: Mapped[int] = mapped_column(Integer)


class Voucher(Base):
    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint("status IN ('pooled', 'issued', 'used', 'expired', 'cancelled')",
                        name="status"),
        CheckConstraint("(status = 'pooled') = (redemption_id IS NULL)", name="pooled"),
        UniqueConstraint("code"),
        Index("ix_vouchers_pool", "reward_id", "id", postgresql_where=text("status = 'pooled'")),
        Index("ix_vouchers_redemption", "redemption_id"),
        Index("ix_vouchers_expiry", "expires_at", postgresql_where=text("status = 'issued'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rewards.id"))
    code: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    redemption_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("redemptions.id"))
    citizen_id: Mapped[uuid.UUID | None]
    expires_at: Mapped[dt.datetime | None]
    used_at: Mapped[dt.datetime | None]
    used_by: Mapped[str | None] = mapped_column(String(32))  # the partner
    created_at: Mapped[dt.datetime] = timestamp_now()


class Redemption(Base):
    __tablename__ = "redemptions"
    __table_args__ = (
        # issued: some voucher still open; used/expired: none open (used if any was used).
        CheckConstraint("status IN ('issued', 'cancelled', 'used', 'expired')", name="status"),
        CheckConstraint("quantity > 0 AND points > 0", name="positive"),
        UniqueConstraint("citizen_id", "idempotency_key"),
        Index("ix_redemptions_citizen_created", "citizen_id", "created_at", "id"),
        Index("ix_redemptions_citizen_reward_created", "citizen_id", "reward_id", "created_at"),
        Index("ix_redemptions_created_at", "created_at"),  # by day (the dashboard)
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rewards.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    codes: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list,
                                             server_default=text("'{}'"))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    ledger_entry_id: Mapped[uuid.UUID]
    refund_entry_id: Mapped[uuid.UUID | None]
    stock_shard: Mapped[int] = mapped_column(SmallInteger)  # where its units came from
    created_at: Mapped[dt.datetime] = timestamp_now()
    expires_at: Mapped[dt.datetime]
    cancelled_at: Mapped[dt.datetime | None]
