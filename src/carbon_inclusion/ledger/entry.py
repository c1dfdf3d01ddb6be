"""What a journal entry is, before it is written: plain values, no statements."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from carbon_inclusion.ids import uuid7
from carbon_inclusion.ledger.models import CITIZEN

Lots = tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Entry:
    """One movement between a citizen's wallet and a programme account.

    ``points`` is signed as the citizen sees it: +12 credits the wallet from ``counter``,
    -200 debits it into ``counter``. ``lots`` splits it by earning year, ``((2026, 12),)`` for
    a credit earned now, what ``allocate`` chose for a debit; the parts sum to ``points``.
    """

    citizen_id: uuid.UUID
    kind: str
    points: int
    counter: str
    idempotency_key: str
    request_hash: bytes
    behaviour_id: uuid.UUID | None = None
    redemption_id: uuid.UUID | None = None
    reverses_id: uuid.UUID | None = None
    memo: str | None = None
    id: uuid.UUID | None = None
    lots: Lots = ()


class InsufficientPoints(Exception):
    def __init__(self, citizen_id: uuid.UUID, balance: int, needed: int) -> None:
        super().__init__(f"citizen {citizen_id} has {balance} points, {needed} needed")
        self.citizen_id, self.balance, self.needed = citizen_id, balance, needed


def lot_of(at: dt.datetime, tz: ZoneInfo) -> int:
    """The lot that points earned at ``at`` go to: the programme-time year."""
    return at.astimezone(tz).year


def lines(entries: Sequence[Entry]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of ``entries`` and of their postings (two each: the citizen's and the
    counter account's)."""
    rows: list[dict[str, Any]] = []
    postings: list[dict[str, Any]] = []
    for e in entries:
        if e.points == 0:
            raise ValueError("a journal entry moves a non-zero number of points")
        if sum(amount for _, amount in e.lots) != e.points or any(a == 0 for _, a in e.lots):
            raise ValueError(f"the lots of an entry sum to its points: {e.lots} vs {e.points}")
        entry_id = e.id or uuid7()
        rows.append({
            "id": entry_id, "citizen_id": e.citizen_id, "kind": e.kind, "points": e.points,
            "behaviour_id": e.behaviour_id, "redemption_id": e.redemption_id,
            "reverses_id": e.reverses_id, "idempotency_key": e.idempotency_key,
            "request_hash": e.request_hash, "memo": e.memo,
        })
        # Every line carries its entry's citizen (the foreign key to the entry's whole key,
        # and the distribution column): ``account_citizen_id`` is the citizen's lines only.
        postings.extend({"entry_id": entry_id, "citizen_id": e.citizen_id, "account": CITIZEN,
                         "account_citizen_id": e.citizen_id, "lot": lot, "amount": amount}
                        for lot, amount in e.lots)
        postings.append({"entry_id": entry_id, "citizen_id": e.citizen_id,
                         "account": e.counter, "account_citizen_id": None, "lot": None,
                         "amount": -e.points})
    return rows, postings
