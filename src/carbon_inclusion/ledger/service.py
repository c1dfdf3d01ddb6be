"""The ledger, called through functions: post entries, allocate (spend) lots, read a
balance, list entries. SQL lives in ``ledger.repository``; every function that writes takes
the caller's open transaction, so a behaviour and the points it earns commit together or
not at all. The database itself refuses an entry whose postings do not sum to zero and a
wallet that would go below zero.

``WalletService`` serves the citizen's wallet and its entries.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.pagination import decode_cursor, page
from carbon_inclusion.core import lots as core_lots
from carbon_inclusion.db import Database
from carbon_inclusion.ledger import repository
from carbon_inclusion.ledger.entry import Entry, InsufficientPoints, Lots, lines, lot_of
from carbon_inclusion.ledger.expiry import next_expiry
from carbon_inclusion.ledger.repository import Along, check_invariants, entry_lots
from carbon_inclusion.ledger.schemas import EntryOut, EntryPage, ExpiryOut, WalletOut
from carbon_inclusion.settings import Settings

__all__ = ["Along", "Entry", "InsufficientPoints", "Lots", "WalletService", "WalletView",
           "allocate", "check_invariants", "entry_lots", "lines", "lot_of", "post", "wallet"]


async def post(conn: AsyncConnection, entries: Sequence[Entry], *,
               along: Along | None = None) -> list[uuid.UUID] | Any:
    """Write ``entries`` in the caller's transaction, in one statement; return their ids,
    or with ``along`` (the caller's own statements, run in the same statement: one round
    trip) the result of ``along.then``.

    Raises ``IntegrityError`` (check ``balance_not_negative``) if a wallet would go negative.
    """
    ids, result = await repository.post(conn, entries, along=along)
    return ids if along is None else result


async def allocate(conn: AsyncConnection, debits: Mapping[uuid.UUID, int], *,
                   partial: bool = False) -> dict[uuid.UUID, Lots]:
    """Which lots each citizen's debit is taken from: the oldest (soonest to expire) first
    (``core.lots.allocate``).

    Locks each wallet, then its lots, in citizen order (the order the postings trigger
    locks them in), and holds them to the end of the caller's transaction, so what was
    allocated is still there when it is posted. Returns negative amounts, ready for
    ``Entry.lots``. Raises ``InsufficientPoints`` when a wallet is short, unless ``partial``:
    then it takes what there is (and leaves out a citizen who has nothing).
    """
    available = await repository.lots_for_update(conn, debits)
    out: dict[uuid.UUID, Lots] = {}
    for citizen_id, needed in debits.items():
        lots = available.get(citizen_id, [])
        balance = core_lots.held(lots)
        if needed > balance and not partial:
            raise InsufficientPoints(citizen_id, balance, needed)
        taken = core_lots.allocate(lots, needed)
        if taken:
            out[citizen_id] = taken
    return out


@dataclass(frozen=True, slots=True)
class WalletView:
    balance: int
    earned: int


async def wallet(conn: AsyncConnection, citizen_id: uuid.UUID) -> WalletView:
    """A citizen's balance and lifetime earned points."""
    return WalletView(*await repository.wallet(conn, citizen_id))


# --- the citizen's wallet ---------------------------------------------------------------

# The points a citizen is waiting for (behaviours pending review): behaviours/ answers it.
Pending = Callable[[AsyncConnection, uuid.UUID], Awaitable[int]]


async def _nothing_pending(conn: AsyncConnection, citizen_id: uuid.UUID) -> int:
    return 0


class WalletService:
    def __init__(self, db: Database, settings: Settings, clock: Clock = SYSTEM_CLOCK,
                 pending: Pending = _nothing_pending) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.pending = pending

    async def wallet(self, citizen_id: uuid.UUID) -> WalletOut:
        async with self.db.engine.connect() as conn:
            w = await wallet(conn, citizen_id)
            pending = await self.pending(conn, citizen_id)
            soonest = await next_expiry(conn, citizen_id, self.settings.points_expiry_years,
                                        self.settings.tz)
        return WalletOut(balance=w.balance, lifetime_earned=w.earned, pending=int(pending),
                         next_expiry=soonest and ExpiryOut(soonest.points, soonest.expires_at))

    async def entries(self, citizen_id: uuid.UUID, *, limit: int,
                      cursor: str | None) -> EntryPage:
        after = decode_cursor(cursor, dt.datetime, uuid.UUID)
        async with self.db.engine.connect() as conn:
            rows = await repository.entries_page(conn, citizen_id, limit=limit + 1,
                                                 after=after)
        shown, next_cursor = page(rows, limit, lambda r: (r.created_at, r.id))
        items = [EntryOut(id=r.id, kind=r.kind, points=r.points, behaviour_id=r.behaviour_id,
                          redemption_id=r.redemption_id, reverses_id=r.reverses_id,
                          memo=r.memo, created_at=r.created_at) for r in shown]
        return EntryPage(items, next_cursor)
