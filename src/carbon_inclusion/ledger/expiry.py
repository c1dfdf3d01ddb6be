"""Points expiry: points earned in year Y expire at the end of year Y + N (programme time).

Off when N is 0 (``POINTS_EXPIRY_YEARS``, the default). ``expire_points`` is what the
scheduled ``carbon-inclusion points expire`` runs: for each lot past its date it posts an
``expiry`` entry of exactly what is left in it. It locks wallets then lots in citizen order
(as ``ledger.allocate`` and the postings trigger do) and reads each balance under the lock, so
two runs at once, or a run racing a redemption, expire each point once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.db import Database
from carbon_inclusion.ids import uuid7
from carbon_inclusion.ledger import service as ledger


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
    row = (await conn.execute(text(
        "SELECT lot, balance FROM point_lots WHERE citizen_id = :c AND balance > 0 "
        "ORDER BY lot LIMIT 1"), {"c": citizen_id})).first()
    return NextExpiry(row.balance, lot_expires_at(row.lot, years, tz)) if row else None


@dataclass(slots=True)
class ExpiryRun:
    entries: int = 0
    points: int = 0


async def expire_points(db: Database, *, years: int, tz: ZoneInfo,
                        now: dt.datetime | None = None, batch: int = 500) -> ExpiryRun:
    """Post an ``expiry`` entry for every lot past its date; returns what was expired."""
    run = ExpiryRun()
    if years <= 0:
        return run
    now = now or dt.datetime.now(dt.UTC)
    cutoff = last_expired_lot(now, years, tz)
    after = uuid.UUID(int=0)
    while True:
        async with db.engine.connect() as conn:
            citizens = list((await conn.execute(_DUE, {"cutoff": cutoff, "after": after,
                                                       "n": batch})).scalars())
        if not citizens:
            return run
        async with db.connect() as conn:
            entries = await _expire(conn, citizens, cutoff)
        run.entries += len(entries)
        run.points -= sum(e.points for e in entries)
        after = citizens[-1]


async def _expire(conn: AsyncConnection, citizens: list[uuid.UUID],
                  cutoff: int) -> list[ledger.Entry]:
    rows = (await conn.execute(_LOCK, {"c": citizens, "cutoff": cutoff})).all()
    entries = []
    for row in rows:
        entry_id = uuid7()
        key = f"expiry:{row.lot}:{entry_id}"
        entries.append(ledger.Entry(
            id=entry_id, citizen_id=row.citizen_id, kind="expiry", points=-row.balance,
            counter="expiry", idempotency_key=key,
            request_hash=hashlib.sha256(key.encode()).digest(),
            memo=f"points earned in {row.lot} expired", lots=((row.lot, -row.balance),)))
    await ledger.post(conn, entries)
    return entries


_DUE = text("""
    SELECT DISTINCT citizen_id FROM point_lots
     WHERE lot <= :cutoff AND balance > 0 AND citizen_id > :after
     ORDER BY citizen_id LIMIT :n""")

# Wallet rows before lots, citizens in order: the order every writer of lots uses.
_LOCK = text("""
    SELECT l.citizen_id, l.lot, l.balance
      FROM wallets w JOIN point_lots l ON l.citizen_id = w.citizen_id
     WHERE w.citizen_id = ANY(CAST(:c AS uuid[])) AND l.lot <= :cutoff AND l.balance > 0
     ORDER BY l.citizen_id, l.lot
       FOR UPDATE""")
