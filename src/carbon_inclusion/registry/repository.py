"""Every statement on the registry's tables: credit_batches, credit_allocations,
credit_allocations_released, credit_blocks and credit_orders.

Style: the registry's statements are aggregates over serial ranges, advisory locks and
``unnest`` arrays, so they stay ``text()`` constants here, each behind a function; other
modules call the functions (``issued_among``, ``tonnes_in``, ``retire`` via the service),
never the SQL. The behaviours behind a batch are read through ``behaviours.repository``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.common.locks import LOCK_ONE
from carbon_inclusion.ids import uuid7

# One queue for every change to the registry's blocks (see registry.service).
REGISTRY_LOCK = 0x43_51_54_48_54_52_45_47  # "CQTHTREG"


async def lock(conn: AsyncConnection) -> None:
    await conn.execute(LOCK_ONE, {"key": REGISTRY_LOCK})


# --- batches and allocations ----------------------------------------------------------------

async def allocated_among(conn: AsyncConnection, behaviour_ids: Sequence[uuid.UUID]
                          ) -> set[uuid.UUID]:
    """Which of these behaviours are allocated to a batch."""
    return set((await conn.execute(text(
        "SELECT behaviour_id FROM credit_allocations "
        "WHERE behaviour_id = ANY(CAST(:ids AS uuid[]))"),
        {"ids": list(behaviour_ids)})).scalars())


async def last_carry_out(conn: AsyncConnection, methodology_code: str) -> Decimal:
    """What the methodology's latest batch that was not returned carried out (0 before its
    first): a returned batch gave its carry-in back."""
    return Decimal(await conn.scalar(text(
        "SELECT carry_out_g FROM credit_batches WHERE methodology_code = :c "
        "AND status <> 'returned' ORDER BY created_at DESC, id DESC LIMIT 1"),
        {"c": methodology_code}) or 0)


async def in_progress(conn: AsyncConnection, methodology_code: str) -> Any | None:
    """The methodology's batch that is proposed or verified, if any."""
    return (await conn.execute(text(
        "SELECT id, status FROM credit_batches WHERE methodology_code = :c "
        "AND status IN ('proposed', 'verified')"), {"c": methodology_code})).first()


async def next_serial(conn: AsyncConnection, prefix: str) -> int:
    return int(await conn.scalar(text(
        "SELECT coalesce(max(first_serial + quantity), 1) FROM credit_batches "
        "WHERE serial_prefix = :p"), {"p": prefix}))


async def insert_batch(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """A proposed batch (no serials yet)."""
    await conn.execute(text("""
        INSERT INTO credit_batches (id, methodology_code, methodology_versions,
            vintage_from, vintage_to, status, quantity, allocated_g, carry_in_g, carry_out_g,
            behaviours, proposed_by, created_at)
        VALUES (:id, :code, :versions, :from, :to, 'proposed', :q, :allocated, :carry_in,
                :carry_out, :n, :by, :at)"""), values)


async def batch_for_update(conn: AsyncConnection, batch_id: uuid.UUID) -> Any | None:
    return (await conn.execute(text(
        "SELECT * FROM credit_batches WHERE id = :id FOR UPDATE"), {"id": batch_id})).first()


async def mark_verified(conn: AsyncConnection, batch_id: uuid.UUID, values: dict[str, Any]
                        ) -> bool:
    """Proposed → verified; False when the batch was not proposed."""
    return (await conn.execute(text("""
        UPDATE credit_batches SET status = 'verified', verified_by = :by, verified_at = :at,
               verification_body_id = :body, verification_statement = :statement
         WHERE id = :id AND status = 'proposed'"""), {"id": batch_id, **values})).rowcount == 1


async def mark_returned(conn: AsyncConnection, batch_id: uuid.UUID, values: dict[str, Any]
                        ) -> bool:
    """Proposed → returned, its allocations moved to ``credit_allocations_released`` (the
    behaviours are free for a later batch); False when the batch was not proposed."""
    returned = (await conn.execute(text("""
        UPDATE credit_batches SET status = 'returned', returned_by = :by, returned_at = :at,
               verification_body_id = :body, findings = CAST(:findings AS text[])
         WHERE id = :id AND status = 'proposed'"""), {"id": batch_id, **values})).rowcount
    if returned:
        await conn.execute(text("""
            WITH held AS (DELETE FROM credit_allocations WHERE batch_id = :id
                          RETURNING batch_id, behaviour_id, grams, line)
            INSERT INTO credit_allocations_released (batch_id, behaviour_id, grams, line,
                                                     released_at)
            SELECT batch_id, behaviour_id, grams, line, :at FROM held"""),
            {"id": batch_id, "at": values["at"]})
    return returned == 1


async def mark_issued(conn: AsyncConnection, batch_id: uuid.UUID, values: dict[str, Any]
                      ) -> bool:
    """Verified → issued with its serials; False when the batch was not verified."""
    return (await conn.execute(text("""
        UPDATE credit_batches SET status = 'issued', serial_prefix = :prefix,
               first_serial = :first, issued_by = :by, issued_at = :at
         WHERE id = :id AND status = 'verified'"""), {"id": batch_id, **values})).rowcount == 1


async def allocate(conn: AsyncConnection, batch_id: uuid.UUID,
                   behaviours: Sequence[tuple[uuid.UUID, Decimal]]) -> int:
    """Allocate ``(behaviour, grams)`` to the batch, numbered from line 1 in the order given;
    returns how many rows were written."""
    return (await conn.execute(text(
        "INSERT INTO credit_allocations (behaviour_id, batch_id, grams, line) "
        "SELECT b, :batch, g, n FROM unnest(CAST(:ids AS uuid[]), "
        "CAST(:grams AS numeric[])) WITH ORDINALITY AS x(b, g, n)"),
        {"batch": batch_id, "ids": [b for b, _ in behaviours],
         "grams": [g for _, g in behaviours]})).rowcount


async def allocations_of(conn: AsyncConnection, batch_id: uuid.UUID | None = None
                         ) -> list[tuple[uuid.UUID, Decimal]]:
    """``(behaviour, grams)`` allocated to the batch (held by any batch, without one)."""
    rows = await conn.execute(text(
        "SELECT behaviour_id, grams FROM credit_allocations "
        "WHERE CAST(:b AS uuid) IS NULL OR batch_id = :b ORDER BY behaviour_id"),
        {"b": batch_id})
    return [(r.behaviour_id, r.grams) for r in rows]


async def released_of(conn: AsyncConnection, batch_id: uuid.UUID
                      ) -> list[tuple[uuid.UUID, Decimal]]:
    """``(behaviour, grams)`` a returned batch held before it was returned."""
    rows = await conn.execute(text(
        "SELECT behaviour_id, grams FROM credit_allocations_released WHERE batch_id = :b "
        "ORDER BY behaviour_id"), {"b": batch_id})
    return [(r.behaviour_id, r.grams) for r in rows]


# A returned batch's behaviours are its released ones; any other's, those it holds.
_LINES_HELD = text(
    "SELECT line, behaviour_id, grams FROM credit_allocations WHERE batch_id = :b "
    "AND line > :after ORDER BY line LIMIT :limit")
_LINES_RELEASED = text(
    "SELECT line, behaviour_id, grams FROM credit_allocations_released WHERE batch_id = :b "
    "AND line > :after ORDER BY line LIMIT :limit")


async def lines_page(conn: AsyncConnection, batch_id: uuid.UUID, *, released: bool,
                     after: int, limit: int) -> list[Any]:
    """``(line, behaviour_id, grams)`` of the batch after line ``after``, in line order."""
    return list((await conn.execute(_LINES_RELEASED if released else _LINES_HELD, {
        "b": batch_id, "after": after, "limit": limit})).all())


async def lines_of(conn: AsyncConnection, batch_id: uuid.UUID, *, released: bool,
                   behaviour_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """``behaviour → line`` of these behaviours in the batch."""
    table = "credit_allocations_released" if released else "credit_allocations"
    rows = await conn.execute(text(
        f"SELECT behaviour_id, line FROM {table} WHERE batch_id = :b "  # noqa: S608
        "AND behaviour_id = ANY(CAST(:ids AS uuid[]))"),
        {"b": batch_id, "ids": list(behaviour_ids)})
    return {r.behaviour_id: r.line for r in rows}


async def allocations_for_check(conn: AsyncConnection) -> list[Any]:
    """Every allocation with its batch's methodology and vintage (``registry verify``)."""
    return list((await conn.execute(text("""
        SELECT a.behaviour_id, a.grams, a.batch_id, b.methodology_code, b.vintage_from,
               b.vintage_to
          FROM credit_allocations a JOIN credit_batches b ON b.id = a.batch_id
         ORDER BY a.batch_id, a.line"""))).all())


async def previous_batch(conn: AsyncConnection, methodology_code: str,
                         created_at: dt.datetime, batch_id: uuid.UUID) -> uuid.UUID | None:
    """The methodology's latest batch before this one that was not returned: the one whose
    carry-out this batch carried in (``last_carry_out`` when it was proposed)."""
    return await conn.scalar(text(
        "SELECT id FROM credit_batches WHERE methodology_code = :c AND status <> 'returned' "
        "AND (created_at, id) < (:at, :id) ORDER BY created_at DESC, id DESC LIMIT 1"),
        {"c": methodology_code, "at": created_at, "id": batch_id})


_BATCHES = """
    SELECT b.*,
           coalesce(sum(k.last_serial - k.first_serial + 1)
                    FILTER (WHERE k.state = 'available'), 0) AS available,
           coalesce(sum(k.last_serial - k.first_serial + 1)
                    FILTER (WHERE k.state = 'reserved'), 0) AS reserved,
           coalesce(sum(k.last_serial - k.first_serial + 1)
                    FILTER (WHERE k.state = 'held'), 0) AS held,
           coalesce(sum(k.last_serial - k.first_serial + 1)
                    FILTER (WHERE k.state = 'retired'), 0) AS retired,
           coalesce(sum(k.last_serial - k.first_serial + 1)
                    FILTER (WHERE k.state = 'cancelled'), 0) AS cancelled
      FROM credit_batches b LEFT JOIN credit_blocks k ON k.batch_id = b.id
     {where}
     GROUP BY b.id ORDER BY b.id DESC LIMIT :limit"""
# ``status`` NULL: every batch (administrators and verifiers); the public registry passes
# 'issued'.
_WHERE_STATUS = "(CAST(:status AS text) IS NULL OR b.status = :status)"
_BATCH_PAGE = text(_BATCHES.format(
    where=f"WHERE {_WHERE_STATUS} AND (CAST(:after AS uuid) IS NULL OR b.id < :after)"))
_BATCH_ONE = text(_BATCHES.format(where=f"WHERE b.id = :id AND {_WHERE_STATUS}"))


async def batch_page(conn: AsyncConnection, after: uuid.UUID | None, limit: int,
                     status: str | None) -> list[Any]:
    """Batches in ``status`` (any, if None) with their serials counted by state, newest
    first, ``limit`` of them."""
    return list((await conn.execute(_BATCH_PAGE, {"after": after, "limit": limit,
                                                  "status": status})).all())


async def batch(conn: AsyncConnection, batch_id: uuid.UUID, status: str | None) -> Any | None:
    """The batch, if it is in ``status`` (in any, if None)."""
    return (await conn.execute(_BATCH_ONE, {"id": batch_id, "limit": 1,
                                            "status": status})).first()


async def batches_by_id(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    return {r.id: r for r in (await conn.execute(text(
        "SELECT id, serial_prefix, methodology_code, methodology_versions, vintage_from, "
        "vintage_to FROM credit_batches WHERE id = ANY(CAST(:ids AS uuid[]))"),
        {"ids": list(ids)})).all()}


async def batch_holding(conn: AsyncConnection, prefix: str, a: int, b: int) -> Any | None:
    """The batch whose serials include the whole range ``a``–``b`` of ``prefix``."""
    return (await conn.execute(text(
        "SELECT id FROM credit_batches WHERE serial_prefix = :p AND first_serial <= :a "
        "AND first_serial + quantity - 1 >= :b"), {"p": prefix, "a": a, "b": b})).first()


async def count_batches(conn: AsyncConnection) -> int:
    return int(await conn.scalar(text("SELECT count(*) FROM credit_batches")) or 0)


# --- blocks ---------------------------------------------------------------------------------

async def insert_block(conn: AsyncConnection, batch_id: uuid.UUID, first: int, last: int
                       ) -> None:
    await conn.execute(text(
        "INSERT INTO credit_blocks (id, batch_id, first_serial, last_serial, state) "
        "VALUES (:id, :batch, :first, :last, 'available')"),
        {"id": uuid7(), "batch": batch_id, "first": first, "last": last})


async def block_at(conn: AsyncConnection, prefix: str, number: int) -> Any | None:
    """The block holding serial ``number`` of ``prefix``."""
    return (await conn.execute(text("""
        SELECT k.batch_id, k.first_serial, k.last_serial, k.state, k.reason, k.retirement_id
          FROM credit_blocks k JOIN credit_batches b ON b.id = k.batch_id
         WHERE b.serial_prefix = :p AND k.first_serial <= :n AND k.last_serial >= :n"""),
        {"p": prefix, "n": number})).first()


async def blocks_in_range_for_update(conn: AsyncConnection, batch_id: uuid.UUID, a: int,
                                     b: int) -> list[Any]:
    return list((await conn.execute(text(
        "SELECT id, first_serial, last_serial, state FROM credit_blocks "
        "WHERE batch_id = :batch AND first_serial <= :b AND last_serial >= :a "
        "ORDER BY first_serial FOR UPDATE"), {"batch": batch_id, "a": a, "b": b})).all())


async def cancel_block(conn: AsyncConnection, block_id: uuid.UUID, reason: str) -> None:
    await conn.execute(text(
        "UPDATE credit_blocks SET state = 'cancelled', reason = :reason, "
        "updated_at = now() WHERE id = :id"), {"id": block_id, "reason": reason})


async def tonnes_in(conn: AsyncConnection, state: str,
                    organisation_id: uuid.UUID | None = None) -> int:
    """How many credits are in ``state`` (the organisation's, if given)."""
    return int(await conn.scalar(text(
        "SELECT coalesce(sum(last_serial - first_serial + 1), 0) FROM credit_blocks "
        "WHERE state = :state AND (CAST(:o AS uuid) IS NULL OR organisation_id = :o)"),
        {"state": state, "o": organisation_id}))


async def resize_block(conn: AsyncConnection, block_id: uuid.UUID, lo: int, hi: int) -> None:
    await conn.execute(text(
        "UPDATE credit_blocks SET first_serial = :lo, last_serial = :hi WHERE id = :id"),
        {"id": block_id, "lo": lo, "hi": hi})


async def copy_block(conn: AsyncConnection, block_id: uuid.UUID, lo: int, hi: int) -> None:
    """A new block of serials ``lo``–``hi`` in the state and with the owner of ``block_id``."""
    await conn.execute(text("""
        INSERT INTO credit_blocks (id, batch_id, first_serial, last_serial, state,
                                   organisation_id, order_id, retirement_id, reason)
        SELECT :new, batch_id, :lo, :hi, state, organisation_id, order_id,
               retirement_id, reason FROM credit_blocks WHERE id = :id"""),
        {"new": uuid7(), "id": block_id, "lo": lo, "hi": hi})


async def oldest_first(conn: AsyncConnection, state: str, organisation_id: uuid.UUID | None
                       ) -> list[Any]:
    """Blocks in ``state`` (of the organisation, if given): oldest vintage, lowest serial
    first."""
    return list((await conn.execute(text("""
        SELECT k.id, k.batch_id, k.first_serial, k.last_serial
          FROM credit_blocks k JOIN credit_batches b ON b.id = k.batch_id
         WHERE k.state = :state AND (CAST(:o AS uuid) IS NULL OR k.organisation_id = :o)
         ORDER BY b.vintage_from, b.id, k.first_serial"""),
        {"state": state, "o": organisation_id})).all())


async def reserve_block(conn: AsyncConnection, block_id: uuid.UUID, order_id: uuid.UUID,
                        organisation_id: uuid.UUID) -> None:
    await conn.execute(text(
        "UPDATE credit_blocks SET state = 'reserved', order_id = :o, organisation_id = :org, "
        "updated_at = now() WHERE id = :id"),
        {"id": block_id, "o": order_id, "org": organisation_id})


async def retire_block(conn: AsyncConnection, block_id: uuid.UUID, retirement_id: uuid.UUID
                       ) -> None:
    await conn.execute(text(
        "UPDATE credit_blocks SET state = 'retired', retirement_id = :r, updated_at = now() "
        "WHERE id = :id"), {"id": block_id, "r": retirement_id})


async def hold_order_blocks(conn: AsyncConnection, order_id: uuid.UUID) -> None:
    await conn.execute(text(
        "UPDATE credit_blocks SET state = 'held', updated_at = now() "
        "WHERE order_id = :id AND state = 'reserved'"), {"id": order_id})


async def release_order_blocks(conn: AsyncConnection, order_ids: Sequence[uuid.UUID]) -> None:
    await conn.execute(text(
        "UPDATE credit_blocks SET state = 'available', order_id = NULL, "
        "organisation_id = NULL, updated_at = now() "
        "WHERE order_id = ANY(CAST(:ids AS uuid[])) AND state = 'reserved'"),
        {"ids": list(order_ids)})


async def holdings(conn: AsyncConnection, organisation_id: uuid.UUID) -> list[Any]:
    return list((await conn.execute(text("""
        SELECT k.state, k.first_serial, k.last_serial, b.serial_prefix
          FROM credit_blocks k JOIN credit_batches b ON b.id = k.batch_id
         WHERE k.organisation_id = :o AND k.state IN ('held', 'retired')
         ORDER BY b.serial_prefix, k.first_serial"""), {"o": organisation_id})).all())


async def order_serials(conn: AsyncConnection, order_ids: Sequence[uuid.UUID]) -> list[Any]:
    return list((await conn.execute(text("""
        SELECT k.order_id, k.first_serial, k.last_serial, b.serial_prefix
          FROM credit_blocks k JOIN credit_batches b ON b.id = k.batch_id
         WHERE k.order_id = ANY(CAST(:ids AS uuid[]))
         ORDER BY b.serial_prefix, k.first_serial"""), {"ids": list(order_ids)})).all())


# --- orders ---------------------------------------------------------------------------------

async def order_by_key(conn: AsyncConnection, organisation_id: uuid.UUID, key: str
                       ) -> Any | None:
    return (await conn.execute(text(
        "SELECT id, request_hash FROM credit_orders WHERE organisation_id = :o "
        "AND idempotency_key = :k"), {"o": organisation_id, "k": key})).first()


async def open_orders(conn: AsyncConnection, organisation_id: uuid.UUID, now: dt.datetime
                      ) -> int:
    """How many of the organisation's quotes are open: reserved and not past their time."""
    return int(await conn.scalar(text(
        "SELECT count(*) FROM credit_orders WHERE organisation_id = :o "
        "AND status = 'reserved' AND expires_at > :now"),
        {"o": organisation_id, "now": now}) or 0)


async def insert_order(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(text("""
        INSERT INTO credit_orders (id, organisation_id, quantity_t, price_cny_per_t,
            amount_cny, status, expires_at, idempotency_key, request_hash, created_by)
        VALUES (:id, :o, :q, :price, :amount, 'reserved', :expires, :k, :h, :by)"""), values)


async def order(conn: AsyncConnection, order_id: uuid.UUID,
                organisation_id: uuid.UUID | None = None) -> Any | None:
    """The order (only if it is the organisation's, when one is given)."""
    return (await conn.execute(text(
        "SELECT * FROM credit_orders WHERE id = :id "
        "AND (CAST(:o AS uuid) IS NULL OR organisation_id = :o)"),
        {"id": order_id, "o": organisation_id})).first()


async def order_page(conn: AsyncConnection, organisation_id: uuid.UUID,
                     after: uuid.UUID | None, limit: int) -> list[Any]:
    return list((await conn.execute(text(
        "SELECT * FROM credit_orders WHERE organisation_id = :o "
        "AND (CAST(:after AS uuid) IS NULL OR id < :after) ORDER BY id DESC "
        "LIMIT :limit"), {"o": organisation_id, "after": after, "limit": limit})).all())


# An order's status as shown: a quote past its time is expired even before the sweep
# (``_expire``) marks it so. ``:status`` NULL: every order.
_ALL_ORDERS = text("""
    SELECT * FROM credit_orders
     WHERE (CAST(:after AS uuid) IS NULL OR id < :after)
       AND CASE CAST(:status AS text)
             WHEN 'reserved' THEN status = 'reserved' AND expires_at > :now
             WHEN 'expired' THEN status = 'expired'
                                 OR (status = 'reserved' AND expires_at <= :now)
             WHEN 'paid' THEN status = 'paid'
             ELSE CAST(:status AS text) IS NULL END
     ORDER BY id DESC LIMIT :limit""")


async def all_orders_page(conn: AsyncConnection, status: str | None, now: dt.datetime,
                          after: uuid.UUID | None, limit: int) -> list[Any]:
    """Every organisation's orders (in ``status`` as shown at ``now``), newest first."""
    return list((await conn.execute(_ALL_ORDERS, {
        "status": status, "now": now, "after": after, "limit": limit})).all())


async def mark_paid(conn: AsyncConnection, order_id: uuid.UUID, now: dt.datetime,
                    reference: str, admin_id: uuid.UUID) -> None:
    await conn.execute(text(
        "UPDATE credit_orders SET status = 'paid', paid_at = :now, "
        "payment_reference = :ref, confirmed_by = :by WHERE id = :id"),
        {"id": order_id, "now": now, "ref": reference, "by": admin_id})


async def expire_orders(conn: AsyncConnection, now: dt.datetime) -> list[uuid.UUID]:
    """Mark reserved quotes past their time expired; returns their ids."""
    return list((await conn.execute(text(
        "UPDATE credit_orders SET status = 'expired' WHERE status = 'reserved' "
        "AND expires_at <= :now RETURNING id"), {"now": now})).scalars())


# --- checks ---------------------------------------------------------------------------------

# (name, SQL returning one text row per problem found). Each reads the data as it is, so a
# copy corrupted behind the application's back (or a bug) shows here. Whether allocated
# behaviours are credited as allocated is asked of the behaviours' repository.
_CHECKS: list[tuple[str, str]] = [
    ("serials add up", """
        SELECT 'batch ' || b.id || ' (' || b.status || '): '
               || CASE WHEN b.status = 'issued' THEN 'issued ' || b.quantity
                       ELSE 'not issued' END
               || ' but its blocks hold ' || coalesce(sum(k.last_serial - k.first_serial + 1), 0)
          FROM credit_batches b LEFT JOIN credit_blocks k ON k.batch_id = b.id
         GROUP BY b.id HAVING coalesce(sum(k.last_serial - k.first_serial + 1), 0)
                              <> CASE WHEN b.status = 'issued' THEN b.quantity ELSE 0 END"""),
    ("blocks within their batch", """
        SELECT 'block ' || k.id || ' (' || k.first_serial || '–' || k.last_serial
               || ') lies outside batch ' || b.id
          FROM credit_blocks k JOIN credit_batches b ON b.id = k.batch_id
         WHERE k.first_serial < b.first_serial
            OR k.last_serial > b.first_serial + b.quantity - 1"""),
    ("no serial twice", """
        SELECT 'blocks ' || x.id || ' and ' || y.id || ' share serials'
          FROM credit_blocks x JOIN credit_blocks y
            ON x.batch_id = y.batch_id AND x.id < y.id
           AND x.first_serial <= y.last_serial AND y.first_serial <= x.last_serial"""),
    ("no serial range in two batches", """
        SELECT 'batches ' || x.id || ' and ' || y.id || ' share serial numbers'
          FROM credit_batches x JOIN credit_batches y
            ON x.serial_prefix = y.serial_prefix AND x.id < y.id
           AND x.first_serial < y.first_serial + y.quantity
           AND y.first_serial < x.first_serial + x.quantity"""),
    ("whole tonnes", """
        SELECT 'batch ' || id || ': ' || carry_in_g || ' + ' || allocated_g || ' - '
               || carry_out_g || ' g is not ' || quantity || ' t'
          FROM credit_batches
         WHERE carry_in_g + allocated_g - carry_out_g <> quantity * 1000000
            OR carry_out_g < 0 OR carry_out_g >= 1000000"""),
    # A batch holds its allocations until it is returned; then they are released ones.
    ("allocations add up", """
        SELECT 'batch ' || b.id || ' (' || b.status || '): allocated_g ' || b.allocated_g
               || ' but it holds ' || coalesce(h.n, 0) || ' allocations of '
               || coalesce(h.g, 0) || ' g and released ' || coalesce(r.n, 0) || ' of '
               || coalesce(r.g, 0) || ' g'
          FROM credit_batches b
          LEFT JOIN (SELECT batch_id, count(*) AS n, sum(grams) AS g FROM credit_allocations
                      GROUP BY batch_id) h ON h.batch_id = b.id
          LEFT JOIN (SELECT batch_id, count(*) AS n, sum(grams) AS g
                       FROM credit_allocations_released GROUP BY batch_id) r
                 ON r.batch_id = b.id
         WHERE CASE WHEN b.status = 'returned'
                    THEN coalesce(h.n, 0) <> 0 OR coalesce(r.g, 0) <> b.allocated_g
                         OR coalesce(r.n, 0) <> b.behaviours
                    ELSE coalesce(r.n, 0) <> 0 OR coalesce(h.g, 0) <> b.allocated_g
                         OR coalesce(h.n, 0) <> b.behaviours END"""),
    # A returned batch gave its carry-in back: the chain runs through the others.
    ("carry passes on exactly", """
        SELECT 'batch ' || id || ' carried in ' || carry_in_g || ' g but the batch before '
               || 'carried out ' || coalesce(previous, 0) || ' g'
          FROM (SELECT id, carry_in_g, lag(carry_out_g) OVER (
                    PARTITION BY methodology_code ORDER BY created_at, id) AS previous
                  FROM credit_batches WHERE status <> 'returned') s
         WHERE carry_in_g <> coalesce(previous, 0)"""),
    # Lines number a batch's behaviours 1..n (unique per batch: a constraint).
    ("lines number each batch's behaviours", """
        SELECT 'batch ' || batch_id || ': ' || count(*) || ' behaviours on lines '
               || min(line) || '–' || max(line)
          FROM (SELECT batch_id, line FROM credit_allocations
                UNION ALL SELECT batch_id, line FROM credit_allocations_released) l
         GROUP BY batch_id HAVING min(line) <> 1 OR max(line) <> count(*)"""),
    ("owners match states", """
        SELECT 'block ' || k.id || ' is ' || k.state
               || coalesce(' owned by ' || k.organisation_id, ' without an owner')
          FROM credit_blocks k
         WHERE (k.state IN ('available', 'cancelled')) <> (k.organisation_id IS NULL)
            OR (k.state = 'reserved' AND k.order_id IS NULL)"""),
]
CHECK_NAMES = [name for name, _ in _CHECKS]


async def problems(conn: AsyncConnection) -> list[tuple[str, str]]:
    """``(check, detail)`` for every problem the registry's own tables show."""
    return [(name, detail) for name, sql in _CHECKS
            for detail in (await conn.execute(text(sql))).scalars()]


# --- used by admin (the dashboard and the public overview) --------------------------------

async def tonnes_by_state(conn: AsyncConnection) -> dict[str, int]:
    """Issued credits by the state of their blocks (available, reserved, held, retired,
    cancelled); a state with none is left out."""
    rows = await conn.execute(text(
        "SELECT state, sum(last_serial - first_serial + 1) FROM credit_blocks GROUP BY 1"))
    return {r[0]: int(r[1]) for r in rows}


async def tonnes_by_batch_status(conn: AsyncConnection) -> dict[str, int]:
    """Tonnes in batches by the batch's status (proposed, verified, returned, issued)."""
    rows = await conn.execute(text(
        "SELECT status, sum(quantity) FROM credit_batches GROUP BY 1"))
    return {r[0]: int(r[1]) for r in rows}
