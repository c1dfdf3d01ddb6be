"""Every statement on the rewards' tables: rewards, reward_stock, vouchers and redemptions.

Style: a redemption is a hot path, so its statements are Core (``text()`` constants where
they are CTEs, advisory locks or ``unnest``; ``select()`` over the tables for the reads),
each made in the round trip the service had before; the catalogue's administration is ORM
(``Reward`` rows through the caller's session). Points move through ``ledger.service``
functions, never through ledger SQL here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from carbon_inclusion.rewards.models import Redemption, Reward, Voucher

# --- the catalogue (ORM) --------------------------------------------------------------------

# A reward with what it has issued (over its stock shards) and the codes left in its pool.
_REWARDS_VIEW = select(text("""
    r.*, (SELECT coalesce(sum(issued), 0) FROM reward_stock WHERE reward_id = r.id) AS issued,
    (SELECT count(*) FROM vouchers WHERE reward_id = r.id AND status = 'pooled') AS pooled
    FROM rewards r""")).order_by(text("r.created_at, r.id"))
_ON_SALE = text(":all OR (status = 'active' AND (sale_from IS NULL OR sale_from <= :now) AND "
                "(sale_to IS NULL OR sale_to > :now))")


async def reward_view(session: AsyncSession, reward_id: uuid.UUID) -> Any | None:
    """The reward with ``issued`` and ``pooled``, or None."""
    return (await session.execute(_REWARDS_VIEW.where(text("id = :id")),
                                  {"id": reward_id})).first()


async def rewards_on_sale(session: AsyncSession, now: dt.datetime, *,
                          include_all: bool = False) -> list[Any]:
    return list((await session.execute(_REWARDS_VIEW.where(_ON_SALE),
                                       {"all": include_all, "now": now})).all())


async def get_reward(session: AsyncSession, reward_id: uuid.UUID, *,
                     for_edit: bool = False) -> Reward | None:
    """The reward; ``for_edit`` locks its row FOR NO KEY UPDATE: redemptions in flight hold
    a key-share lock on it (their foreign keys), which FOR UPDATE would wait for while they
    wait for it."""
    return await session.get(Reward, reward_id,
                             with_for_update={"key_share": True} if for_edit else None)


def add_reward(session: AsyncSession, reward: Reward) -> None:
    session.add(reward)


async def add_pool_codes(session: AsyncSession, reward_id: uuid.UUID,
                         codes: Sequence[str]) -> int:
    """Add ``codes`` to the reward's pool; returns how many were new."""
    added = await session.scalar(text(
        "WITH added AS (INSERT INTO vouchers (reward_id, code, status) "
        "SELECT :r, c, 'pooled' FROM unnest(CAST(:codes AS text[])) c "
        "ON CONFLICT (code) DO NOTHING RETURNING 1) SELECT count(*) FROM added"),
        {"r": reward_id, "codes": list(codes)})
    return int(added or 0)


# --- redemption (Core, one round trip each) -------------------------------------------------

# The key is tried, not waited for: a concurrent duplicate is told to retry.
_LOCK_REQUEST = text(
    "SELECT CASE WHEN pg_try_advisory_xact_lock(:k) "
    "THEN (SELECT true FROM pg_advisory_xact_lock(:l)) ELSE false END")


async def lock_request(conn: AsyncConnection, key_lock: int, reward_lock: int) -> bool:
    """Try the request's key lock; holding it, wait for the citizen's lock of the reward.
    False when the key is held by another request."""
    return bool(await conn.scalar(_LOCK_REQUEST, {"k": key_lock, "l": reward_lock}))


# The reward (all nulls when there is none), what is left of its stock, and the redemption
# already made under this Idempotency-Key, if any.
_HEAD = text("""
    SELECT r.*,
           (SELECT CASE WHEN bool_or(stock IS NULL) THEN NULL ELSE sum(stock - issued) END
              FROM reward_stock WHERE reward_id = r.id) AS left,
           (SELECT id FROM redemptions WHERE citizen_id = :c AND idempotency_key = :k)
              AS existing
      FROM (SELECT 1) AS one LEFT JOIN rewards r ON r.id = :r""")


async def redemption_head(conn: AsyncConnection, citizen_id: uuid.UUID, key: str,
                          reward_id: uuid.UUID) -> Any:
    return (await conn.execute(_HEAD, {"c": citizen_id, "k": key, "r": reward_id})).one()


_TAKEN = text("SELECT coalesce(sum(quantity), 0) FROM redemptions WHERE citizen_id = :c "
              "AND reward_id = :r AND created_at >= :since AND status <> 'cancelled'")


async def redeemed_since(conn: AsyncConnection, citizen_id: uuid.UUID, reward_id: uuid.UUID,
                         since: dt.datetime) -> int:
    return int(await conn.scalar(_TAKEN, {"c": citizen_id, "r": reward_id, "since": since}))


# The vouchers and the redemption, in one statement; ``codes`` comes back short when the
# pool ran dry, and the caller then rolls it all back.
_REDEEM = text("""
WITH pooled AS (
    UPDATE vouchers SET status = 'issued', redemption_id = :rid, citizen_id = :citizen,
                        expires_at = :expires
     WHERE :pool AND id IN (
           SELECT id FROM vouchers WHERE reward_id = :reward AND status = 'pooled'
            ORDER BY id LIMIT :q FOR UPDATE SKIP LOCKED)
 RETURNING id, code),
generated AS (
    INSERT INTO vouchers (reward_id, code, status, redemption_id, citizen_id, expires_at)
    SELECT :reward, c, 'issued', :rid, :citizen, :expires
      FROM unnest(CAST(:codes AS text[])) WITH ORDINALITY AS g(c, n)
     ORDER BY n
 RETURNING id, code),
codes AS (
    SELECT coalesce(array_agg(code ORDER BY id), '{}') AS codes
      FROM (SELECT id, code FROM pooled UNION ALL SELECT id, code FROM generated) v),
redemption AS (
    INSERT INTO redemptions (id, citizen_id, reward_id, quantity, points, status, codes,
                             idempotency_key, request_hash, ledger_entry_id, created_at,
                             expires_at, stock_shard)
    SELECT :rid, :citizen, :reward, :q, :points, 'issued', codes.codes, :key, :hash, :entry,
           :now, :expires, :shard
      FROM codes)
SELECT codes FROM codes
""")


async def record_redemption(conn: AsyncConnection, values: dict[str, Any]) -> list[str]:
    """Issue the vouchers (from the pool when ``pool``, else ``codes``) and insert the
    redemption; returns the codes issued."""
    return list((await conn.execute(_REDEEM, values)).scalar_one())


def _redemption_with_window() -> Any:
    r, w = Redemption.__table__, Reward.__table__
    return select(r, w.c.cancel_window_s).join(w, w.c.id == r.c.reward_id)


async def redemption_page(conn: AsyncConnection, citizen_id: uuid.UUID,
                          after: tuple[dt.datetime, uuid.UUID] | None, limit: int
                          ) -> list[Any]:
    """The citizen's redemptions, newest first, with their reward's cancel window."""
    r = Redemption.__table__
    stmt = _redemption_with_window().where(r.c.citizen_id == citizen_id)
    if after is not None:
        at, rid = after
        stmt = stmt.where(or_(r.c.created_at < at, and_(r.c.created_at == at, r.c.id < rid)))
    stmt = stmt.order_by(r.c.created_at.desc(), r.c.id.desc()).limit(limit)
    return list((await conn.execute(stmt)).all())


async def redemption(conn: AsyncConnection, citizen_id: uuid.UUID, redemption_id: uuid.UUID
                     ) -> Any | None:
    r = Redemption.__table__
    return (await conn.execute(_redemption_with_window().where(
        r.c.id == redemption_id, r.c.citizen_id == citizen_id))).first()


async def vouchers_of(conn: AsyncConnection, ids: Sequence[uuid.UUID]
                      ) -> dict[uuid.UUID, list[Any]]:
    if not ids:
        return {}
    v = Voucher.__table__
    rows = await conn.execute(select(v.c.redemption_id, v.c.code, v.c.status, v.c.expires_at,
                                     v.c.used_at)
                              .where(v.c.redemption_id.in_(list(ids))).order_by(v.c.id))
    out: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        out.setdefault(row.redemption_id, []).append(row)
    return out


# --- cancelling, using, expiring ------------------------------------------------------------

_LOCK_REDEMPTION = text("""
    SELECT r.*, w.cancel_window_s FROM redemptions r JOIN rewards w ON w.id = r.reward_id
     WHERE r.id = :id AND r.citizen_id = :c FOR UPDATE OF r""")

_LOCK_REDEMPTION_ONLY = text("""
    SELECT r.*, w.refund_points_on_expiry FROM redemptions r
      JOIN rewards w ON w.id = r.reward_id WHERE r.id = :id FOR UPDATE OF r""")


async def lock_citizens_redemption(conn: AsyncConnection, citizen_id: uuid.UUID,
                                   redemption_id: uuid.UUID) -> Any | None:
    return (await conn.execute(_LOCK_REDEMPTION, {"id": redemption_id, "c": citizen_id})
            ).first()


async def lock_redemption(conn: AsyncConnection, redemption_id: uuid.UUID) -> Any | None:
    return (await conn.execute(_LOCK_REDEMPTION_ONLY, {"id": redemption_id})).first()


_CANCEL = text("""
WITH vouchers AS (
    UPDATE vouchers SET status = 'cancelled' WHERE redemption_id = :rid AND status = 'issued'),
stock AS (
    UPDATE reward_stock SET issued = issued - :q WHERE reward_id = :reward AND shard = :shard)
UPDATE redemptions SET status = 'cancelled', cancelled_at = :now, refund_entry_id = :refund
 WHERE id = :rid
""")


async def cancel_redemption(conn: AsyncConnection, redemption_id: uuid.UUID,
                            now: dt.datetime, refund_id: uuid.UUID, quantity: int,
                            reward_id: uuid.UUID, shard: int) -> None:
    """Cancel the redemption and its open vouchers and give its stock back to its shard."""
    await conn.execute(_CANCEL, {"rid": redemption_id, "now": now, "refund": refund_id,
                                 "q": quantity, "reward": reward_id, "shard": shard})


_VOUCHER_BY_CODE = text("""
    SELECT v.id, v.redemption_id, w.partner_id FROM vouchers v
      JOIN rewards w ON w.id = v.reward_id WHERE v.code = :code""")


async def voucher_by_code(conn: AsyncConnection, code: str) -> Any | None:
    return (await conn.execute(_VOUCHER_BY_CODE, {"code": code})).first()


async def voucher(conn: AsyncConnection, voucher_id: int) -> Any:
    return (await conn.execute(select(Voucher.__table__).where(Voucher.id == voucher_id))
            ).one()


async def use_voucher(conn: AsyncConnection, voucher_id: int, now: dt.datetime,
                      partner_id: str) -> None:
    await conn.execute(text("UPDATE vouchers SET status = 'used', used_at = :now, "
                            "used_by = :partner WHERE id = :id"),
                       {"id": voucher_id, "now": now, "partner": partner_id})


# A redemption is closed when none of its vouchers is open: ``used`` if any was used.
_CLOSE_REDEMPTION = text("""
    UPDATE redemptions r SET status = CASE WHEN EXISTS (
               SELECT 1 FROM vouchers WHERE redemption_id = r.id AND status = 'used')
           THEN 'used' ELSE 'expired' END
     WHERE r.id = :rid AND r.status = 'issued' AND NOT EXISTS (
           SELECT 1 FROM vouchers WHERE redemption_id = r.id AND status = 'issued')""")


async def close_redemption(conn: AsyncConnection, redemption_id: uuid.UUID) -> None:
    await conn.execute(_CLOSE_REDEMPTION, {"rid": redemption_id})


async def due_redemptions(conn: AsyncConnection, now: dt.datetime, n: int) -> list[uuid.UUID]:
    """Redemptions with a voucher past its date (of the ``n`` soonest such vouchers)."""
    return list((await conn.execute(text("""
        SELECT DISTINCT redemption_id FROM (
            SELECT redemption_id FROM vouchers WHERE status = 'issued' AND expires_at <= :now
             ORDER BY expires_at LIMIT :n) due"""), {"now": now, "n": n})).scalars())


async def expire_vouchers(conn: AsyncConnection, redemption_id: uuid.UUID,
                          now: dt.datetime) -> list[int]:
    """Expire the redemption's open vouchers past their date; returns their ids."""
    return list((await conn.execute(text("""
        UPDATE vouchers SET status = 'expired'
         WHERE redemption_id = :rid AND status = 'issued' AND expires_at <= :now RETURNING id"""),
        {"rid": redemption_id, "now": now})).scalars())


# --- stock shards (``rewards.stock`` decides; these are its statements) ---------------------

async def create_stock(conn: AsyncConnection, reward_id: uuid.UUID,
                       stocks: Sequence[int | None]) -> None:
    await conn.execute(text(
        "INSERT INTO reward_stock (reward_id, shard, stock, issued) "
        "SELECT :r, s - 1, st, 0 FROM unnest(CAST(:stocks AS int[])) WITH ORDINALITY AS x(st, s)"),
        {"r": reward_id, "stocks": list(stocks)})


_LEVEL = text("""
    SELECT CASE WHEN bool_or(stock IS NULL) THEN NULL ELSE sum(stock) END AS stock,
           sum(issued) AS issued
      FROM reward_stock WHERE reward_id = :r""")


async def stock_level(conn: AsyncConnection, reward_id: uuid.UUID) -> Any:
    """``(stock, issued)`` over the reward's shards (stock None: unlimited)."""
    return (await conn.execute(_LEVEL, {"r": reward_id})).one()


async def lock_shards(conn: AsyncConnection, reward_id: uuid.UUID) -> list[Any]:
    """Every shard of the reward, ``(shard, stock, issued)``, locked, in shard order."""
    return list((await conn.execute(text(
        "SELECT shard, stock, issued FROM reward_stock WHERE reward_id = :r ORDER BY shard "
        "FOR UPDATE"), {"r": reward_id})).all())


async def set_shard_stocks(conn: AsyncConnection, reward_id: uuid.UUID, shards: Sequence[int],
                           stocks: Sequence[int | None]) -> None:
    await conn.execute(text(
        "UPDATE reward_stock s SET stock = x.st FROM unnest(CAST(:shards AS int[]), "
        "CAST(:stocks AS int[])) AS x(shard, st) WHERE s.reward_id = :r AND s.shard = x.shard"),
        {"r": reward_id, "shards": list(shards), "stocks": list(stocks)})


_TAKE = """
    UPDATE reward_stock s SET issued = s.issued + :q
     WHERE (s.reward_id, s.shard) = (
           SELECT reward_id, shard FROM reward_stock
            WHERE reward_id = :r AND (stock IS NULL OR stock - issued >= :q)
            ORDER BY {order} LIMIT 1 FOR UPDATE {wait})
 RETURNING s.shard"""
# First any shard nobody holds, picked at random; only if all that have enough are held, wait
# for one (a shard that no longer has enough once its holder commits is passed over for the
# next).
_TAKE_FREE = text(_TAKE.format(order="random()", wait="SKIP LOCKED"))
_TAKE_WAITING = text(_TAKE.format(order="shard", wait=""))


async def take_from_shard(conn: AsyncConnection, reward_id: uuid.UUID, quantity: int, *,
                          wait: bool) -> int | None:
    """In a savepoint: take ``quantity`` from a free shard (``wait``: from the first that has
    enough, waiting for it); the shard, or None (rolled back to the savepoint, so the rows it
    passed over are let go)."""
    await conn.exec_driver_sql("SAVEPOINT take_stock")
    shard = await conn.scalar(_TAKE_WAITING if wait else _TAKE_FREE,
                              {"r": reward_id, "q": quantity})
    if shard is None:
        await conn.exec_driver_sql("ROLLBACK TO SAVEPOINT take_stock")
    return shard


async def give_back(conn: AsyncConnection, reward_id: uuid.UUID, shard: int,
                    quantity: int) -> None:
    await conn.execute(text(
        "UPDATE reward_stock SET issued = issued - :q WHERE reward_id = :r AND shard = :s"),
        {"r": reward_id, "s": shard, "q": quantity})



# --- used by privacy --------------------------------------------------------------------


async def export_redemptions(conn: AsyncConnection, citizen_id: uuid.UUID
                             ) -> list[dict[str, Any]]:
    """Every redemption of the citizen, each with its vouchers."""
    rows = (await conn.execute(select(
        Redemption.id, Redemption.reward_id, Redemption.quantity, Redemption.points,
        Redemption.status, Redemption.idempotency_key, Redemption.ledger_entry_id,
        Redemption.refund_entry_id, Redemption.created_at, Redemption.expires_at,
        Redemption.cancelled_at).where(Redemption.citizen_id == citizen_id)
        .order_by(Redemption.created_at, Redemption.id))).all()
    vouchers = (await conn.execute(select(
        Voucher.redemption_id, Voucher.code, Voucher.status, Voucher.expires_at,
        Voucher.used_at, Voucher.used_by)
        .where(Voucher.redemption_id.in_([r.id for r in rows])).order_by(Voucher.id))).all()
    by_redemption: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for v in vouchers:
        item = dict(v._mapping)
        by_redemption.setdefault(item.pop("redemption_id"), []).append(item)
    return [{**dict(r._mapping), "vouchers": by_redemption.get(r.id, [])} for r in rows]


# --- used by admin (the dashboard) ---------------------------------------------------------

_REDEEMED_BY_DAY = text("""
    SELECT CAST(r.created_at AT TIME ZONE :tz AS date) AS day, r.reward_id,
           w.name_zh, w.name_en,
           coalesce(sum(r.quantity) FILTER (WHERE r.status <> 'cancelled'), 0) AS redeemed,
           coalesce(sum(r.quantity) FILTER (WHERE r.status = 'cancelled'), 0) AS cancelled,
           coalesce(sum(r.points) FILTER (WHERE r.status <> 'cancelled'), 0) AS points
      FROM redemptions r JOIN rewards w ON w.id = r.reward_id
     WHERE r.created_at >= :start AND r.created_at < :end
     GROUP BY 1, 2, 3, 4 ORDER BY 1, 2""")


async def redeemed_by_day(conn: AsyncConnection, start: dt.datetime, end: dt.datetime,
                          tz: str) -> list[Any]:
    """Per programme day (in ``tz``) and reward, of the redemptions made in [``start``,
    ``end``): units ``redeemed`` (not cancelled), units ``cancelled`` since, and the
    ``points`` the redeemed ones cost."""
    return list((await conn.execute(_REDEEMED_BY_DAY, {"start": start, "end": end, "tz": tz})
                 ).all())
