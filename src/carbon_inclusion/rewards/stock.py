"""A reward's stock, split over a few rows so a rush on one reward is not one queue.

Every redemption of a reward must take from its stock, and the row it takes from stays locked
until the redemption commits. With one row, a popular release is served one commit at a time
(measured: ~125–300 redemptions/s here, most of it waiting). So the stock lives in ``SHARDS``
rows of ``reward_stock``, each ``CHECK (issued <= stock)``: a redemption takes from any shard
that has enough and is not locked (``SKIP LOCKED``), waiting for one only when all are busy.
The shards' stocks always add up to the reward's ``stock``, so the catalogue can never be
oversold; a redemption remembers its shard, and cancelling or expiry gives back to it.

When what is left is spread so thin that no one shard holds a whole order (a quantity of 3
with 1 left in each of 3 shards), ``take`` first gathers it into one shard.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.rewards import repository as repo

SHARDS = 8


@dataclass(frozen=True, slots=True)
class Level:
    stock: int | None  # None: unlimited
    issued: int

    @property
    def left(self) -> int | None:
        return None if self.stock is None else self.stock - self.issued


def split(total: int | None, issued: list[int], *, spread: bool = True) -> list[int | None]:
    """Each shard's stock so that they add up to ``total`` and each covers what it has
    issued; what is left is spread evenly, or with ``spread=False`` all put in one shard."""
    if total is None:
        return [None] * len(issued)
    left = total - sum(issued)
    if left < 0:
        raise ValueError(f"stock {total} is below the {sum(issued)} issued")
    if not spread:
        return [have + (left if i == 0 else 0) for i, have in enumerate(issued)]
    n = len(issued)
    return [have + left // n + (1 if i < left % n else 0) for i, have in enumerate(issued)]


async def create(conn: AsyncConnection, reward_id: uuid.UUID, total: int | None) -> None:
    await repo.create_stock(conn, reward_id, split(total, [0] * SHARDS))


async def level(conn: AsyncConnection, reward_id: uuid.UUID) -> Level:
    row = await repo.stock_level(conn, reward_id)
    return Level(row.stock, int(row.issued or 0))


async def set_total(conn: AsyncConnection, reward_id: uuid.UUID, total: int | None) -> Level:
    """Make the reward's stock ``total`` (None: unlimited), taking every shard's lock.
    Raises ``ValueError`` when ``total`` is below what is issued."""
    return await _redistribute(conn, reward_id, total, spread=True)


async def _gather(conn: AsyncConnection, reward_id: uuid.UUID) -> None:
    """Put what is left into one shard, keeping the total as it is once the locks are held
    (an administrator may have just changed it)."""
    await _redistribute(conn, reward_id, None, spread=False, keep_total=True)


async def _redistribute(conn: AsyncConnection, reward_id: uuid.UUID, total: int | None, *,
                        spread: bool, keep_total: bool = False) -> Level:
    rows = await repo.lock_shards(conn, reward_id)
    if keep_total:
        total = None if any(r.stock is None for r in rows) else sum(r.stock for r in rows)
    issued = [r.issued for r in rows]
    stocks = split(total, issued, spread=spread)
    await repo.set_shard_stocks(conn, reward_id, [r.shard for r in rows], stocks)
    return Level(total, sum(issued))


async def take(conn: AsyncConnection, reward_id: uuid.UUID, quantity: int) -> int | None:
    """Take ``quantity`` from a shard that has it; return the shard, or None: sold out.
    The shard stays locked until the caller's transaction ends.

    Each try runs in a savepoint that is rolled back to when it finds none. PostgreSQL keeps
    the lock on a row it locked and then passed over because a concurrent commit left it
    short (``FOR UPDATE`` re-checks the newest version). A caller that goes on to wait for
    another shard while still holding such a row would wait out of shard order, and two
    such callers deadlock (seen under a 1,000-redemption rush). Rolling back to the
    savepoint lets those rows go, so whoever waits holds no shard. A savepoint that found a
    shard is never released: the commit ends it, and a ``RELEASE`` would be one more round
    trip made while holding the shard everyone else is queueing for."""
    shard = await repo.take_from_shard(conn, reward_id, quantity, wait=False)
    if shard is None:
        shard = await repo.take_from_shard(conn, reward_id, quantity, wait=True)
    if shard is None and quantity > 1:
        left = (await level(conn, reward_id)).left
        if left is not None and left >= quantity:  # enough, but spread too thin
            await _gather(conn, reward_id)
            shard = await repo.take_from_shard(conn, reward_id, quantity, wait=True)
    return shard


give_back = repo.give_back
