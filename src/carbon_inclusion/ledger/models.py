"""The points ledger: double-entry journal, append-only, with an O(1) balance per citizen.

* ``journal_entries``: one movement of points (a behaviour credited, a reversal, a
  redemption…), with the idempotency key and request hash it was made under;
* ``postings``: the lines of an entry, one per account, summing to zero per entry (checked by
  a deferred constraint trigger at commit);
* ``wallets``: each citizen's balance, maintained by a trigger from the postings to the
  citizen's account and kept ``>= 0`` by a CHECK constraint, so no race can overspend;
* ``point_lots``: the same balance split by the year the points were earned (a citizen
  posting names its ``lot``), so points can expire by age and spending can take the
  soonest-expiring first. Also trigger-maintained, also ``>= 0``, and always summing to the
  wallet.

Programme-side accounts (``issuance``, ``redemption``, ``reversal``, ``expiry``) have no
balance row: nothing shared is updated per behaviour, so writers never queue on one hot row.
Their balances are sums over ``postings`` when someone asks.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from carbon_inclusion.db.base import Base, created_at, uuid_pk

CITIZEN = "citizen"
PROGRAMME_ACCOUNTS = ("issuance", "redemption", "reversal", "expiry", "bonus")
ENTRY_KINDS = ("behaviour_credit", "reversal", "redemption", "redemption_refund", "expiry",
               "bonus")


class JournalEntry(Base):
    __tablename__ = "journal_entries"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('behaviour_credit', 'reversal', 'redemption', 'redemption_refund', "
            "'expiry', 'bonus')", name="kind"),
        Index("uq_journal_entries_citizen_idempotency", "citizen_id", "idempotency_key",
              unique=True),
        Index("ix_journal_entries_citizen_created", "citizen_id", "created_at", "id"),
        Index("uq_journal_entries_reverses", "reverses_id", unique=True,
              postgresql_where="reverses_id IS NOT NULL"),
        # Points by programme day, across citizens (the dashboard; migration 0021).
        Index("ix_journal_entries_created_at", "created_at",
              postgresql_include=["kind", "points"]),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(24))
    points: Mapped[int] = mapped_column(BigInteger)  # signed, as seen from the citizen
    behaviour_id: Mapped[uuid.UUID | None]
    redemption_id: Mapped[uuid.UUID | None]
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("journal_entries.id"))
    idempotency_key: Mapped[str] = mapped_column(String(160))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    memo: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at()


class Posting(Base):
    __tablename__ = "postings"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        CheckConstraint(
            "(account = 'citizen') = (account_citizen_id IS NOT NULL)", name="citizen_account"),
        CheckConstraint(
            "account IN ('citizen', 'issuance', 'redemption', 'reversal', 'expiry', 'bonus')",
            name="account"),
        CheckConstraint("(account = 'citizen') = (lot IS NOT NULL)", name="citizen_lot"),
        Index("ix_postings_entry", "entry_id"),
        Index("ix_postings_account_citizen", "account_citizen_id", "id",
              postgresql_where="account_citizen_id IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("journal_entries.id"))
    account: Mapped[str] = mapped_column(String(16))
    account_citizen_id: Mapped[uuid.UUID | None]
    # The year (programme time zone) the citizen's points were earned in; null elsewhere.
    lot: Mapped[int | None] = mapped_column(SmallInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = created_at()


class Wallet(Base):
    __tablename__ = "wallets"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("earned >= 0", name="earned_not_negative"),
    )

    citizen_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    earned: Mapped[int] = mapped_column(BigInteger, default=0)  # lifetime, net of reversals
    updated_at: Mapped[dt.datetime] = created_at()


class PointLot(Base):
    __tablename__ = "point_lots"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    citizen_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True)
    lot: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger)


__all__ = ["CITIZEN", "ENTRY_KINDS", "PROGRAMME_ACCOUNTS", "JournalEntry", "PointLot", "Posting",
           "Wallet", "uuid_pk"]
