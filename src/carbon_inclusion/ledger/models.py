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

``journal_entries`` and ``postings`` are partitioned by month of ``created_at`` (one
statement writes an entry and its postings, so both have the same ``now()``); an entry's
Idempotency-Key and its one reversal are unique across months in ``journal_entry_keys``
(migration 0023), and each posting carries its entry's ``citizen_id`` (the foreign key names
the entry's whole key; the citizen is the distribution column).

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
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
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
        # Partitioned by month of ``created_at``; the unique Idempotency-Key per citizen and
        # one reversal per entry are ``journal_entry_keys`` (across months).
        PrimaryKeyConstraint("id", "created_at", "citizen_id"),
        Index("ix_journal_entries_citizen_created", "citizen_id", "created_at", "id"),
        # Points by programme day, across citizens (the dashboard; migration 0021).
        Index("ix_journal_entries_created_at", "created_at",
              postgresql_include=["kind", "points", "citizen_id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(24))
    points: Mapped[int] = mapped_column(BigInteger)  # signed, as seen from the citizen
    behaviour_id: Mapped[uuid.UUID | None]
    redemption_id: Mapped[uuid.UUID | None]
    reverses_id: Mapped[uuid.UUID | None]  # its key row references the reversed one's
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
        # Partitioned by month of ``created_at`` (its entry's: one statement writes both).
        PrimaryKeyConstraint("id", "created_at", "citizen_id"),
        ForeignKeyConstraint(["entry_id", "created_at", "citizen_id"],
                             ["journal_entries.id", "journal_entries.created_at",
                              "journal_entries.citizen_id"],
                             name="fk_postings_entry_id_journal_entries"),
        CheckConstraint("account_citizen_id IS NULL OR account_citizen_id = citizen_id",
                        name="account_is_entry_citizen"),
        Index("ix_postings_entry", "entry_id", "created_at", "citizen_id"),
        Index("ix_postings_account_citizen", "account_citizen_id", "id",
              postgresql_where="account_citizen_id IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(BigInteger, autoincrement=True)
    entry_id: Mapped[uuid.UUID]
    citizen_id: Mapped[uuid.UUID]  # the entry's citizen, on every line
    account: Mapped[str] = mapped_column(String(16))
    account_citizen_id: Mapped[uuid.UUID | None]
    # The year (programme time zone) the citizen's points were earned in; null elsewhere.
    lot: Mapped[int | None] = mapped_column(SmallInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = created_at()


class JournalEntryKey(Base):
    """An entry's Idempotency-Key (unique per citizen) and what it reverses (at most one
    reversal per entry, and only an entry that exists), across every month of
    ``journal_entries``; written by its insert trigger. The keys keep the names the unique
    indexes of the unpartitioned table had."""

    __tablename__ = "journal_entry_keys"
    __table_args__ = (
        PrimaryKeyConstraint("citizen_id", "idempotency_key",
                             name="uq_journal_entries_citizen_idempotency"),
        UniqueConstraint("citizen_id", "entry_id"),
        UniqueConstraint("citizen_id", "reverses_id", name="uq_journal_entries_reverses"),
        ForeignKeyConstraint(["citizen_id", "reverses_id"],
                             ["journal_entry_keys.citizen_id", "journal_entry_keys.entry_id"],
                             name="fk_journal_entry_keys_reverses"),
    )

    citizen_id: Mapped[uuid.UUID]
    idempotency_key: Mapped[str] = mapped_column(String(160))
    entry_id: Mapped[uuid.UUID]
    created_at: Mapped[dt.datetime]
    reverses_id: Mapped[uuid.UUID | None]


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


__all__ = ["CITIZEN", "ENTRY_KINDS", "PROGRAMME_ACCOUNTS", "JournalEntry", "JournalEntryKey",
           "PointLot", "Posting", "Wallet", "uuid_pk"]
