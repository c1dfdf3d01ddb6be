"""Points expiry: points earned in year Y expire at the end of year Y + N (programme time).

Off when N is 0 (``POINTS_EXPIRY_YEARS``, the default). ``expire_points`` is what the
scheduled ``carbon-inclusion points expire`` runs: for each lot past its date it posts an
``expiry`` entry of exactly what is left in it. It locks wallets then lots in citizen order
(as ``ledger.allocate`` and the postings trigger do) and reads each balance under the lock, so
two runs at once, or a run racing a redemption, expire each point once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.idempotency import digest_of
from carbon_inclusion.db import Database
from carbon_inclusion.ids import uuid7
from carbon_inclusion.ledger import repository
from carbon_inclusion.ledger.entry import Entry


def lot_expires_at(lot: int, years: int, tz: ZoneInfo) -> dt.datetime:
    """When points earned in ``lot`` expire: the first instant of year ``lot + years + 1``."""
    return dt.datetime(lot + years + 1, 1, 1, tzinfo=tz)


def last_expired_lot(now: dt.datetime, years: int, tz: ZoneInfo) -> int:
    """The newest lot whose points have expired at ``now``."""
    return now.astimezone(tz).year - years - 1


@dataclass(frozen=True, slots=True)
class NextExpiry:
    points: int
    expires_at: dt.datetime


async def next_expiry(conn: AsyncConnection, citizen_id: uuid.UUID, years: int,
                      tz: ZoneInfo) -> NextExpiry | None:
    """The points that expire soonest, and when; ``None`` when expiry is off or none will."""
    if years <= 0:
        return None
    soonest = await repository.soonest_lot(conn, citizen_id)
    if soonest is None:
        return None
    lot, balance = soonest
    return NextExpiry(balance, lot_expires_at(lot, years, tz))


@dataclass(slots=True)
class ExpiryRun:
    entries: int = 0
    points: int = 0


async def expire_points(db: Database, *, years: int, tz: ZoneInfo,
                        now: dt.datetime | None = None, batch: int = 500,
                        clock: Clock = SYSTEM_CLOCK) -> ExpiryRun:
    """Post an ``expiry`` entry for every lot past its date (at ``now``, by default the
    clock's); returns what was expired."""
    run = ExpiryRun()
    if years <= 0:
        return run
    now = now or clock.now()
    cutoff = last_expired_lot(now, years, tz)
    after = uuid.UUID(int=0)
    while True:
        async with db.engine.connect() as conn:
            citizens = await repository.citizens_with_lots_up_to(conn, cutoff, after=after,
                                                                  limit=batch)
        if not citizens:
            return run
        async with db.connect() as conn:
            entries = await _expire(conn, citizens, cutoff)
        run.entries += len(entries)
        run.points -= sum(e.points for e in entries)
        after = citizens[-1]


async def _expire(conn: AsyncConnection, citizens: list[uuid.UUID],
                  cutoff: int) -> list[Entry]:
    # Wallet rows before lots, citizens in order: the order every writer of lots uses.
    locked = await repository.lots_for_update(conn, citizens, up_to=cutoff)
    entries = []
    for citizen_id, lots in locked.items():
        for lot, balance in lots:
            entry_id = uuid7()
            key = f"expiry:{lot}:{entry_id}"
            entries.append(Entry(
                id=entry_id, citizen_id=citizen_id, kind="expiry", points=-balance,
                counter="expiry", idempotency_key=key, request_hash=digest_of(key),
                memo=f"points earned in {lot} expired", lots=((lot, -balance),)))
    await repository.post(conn, entries)
    return entries
