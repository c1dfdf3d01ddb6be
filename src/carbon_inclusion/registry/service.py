"""Issuing credits, reading the public registry, and checking it.

Every change to the registry's blocks (issuance, orders, payment, retirement) runs under one
transaction-level advisory lock (``lock``): registry changes are rare and small, and one queue
makes the invariants plain to reason about. The database enforces them anyway: the
exclusion constraint on blocks, the primary key on allocations, the whole-tonne CHECK on
batches.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.common.pagination import decode_one, page
from carbon_inclusion.db import Database
from carbon_inclusion.errors import Conflict, FieldError, InvalidInput, NotFound
from carbon_inclusion.ids import uuid7
from carbon_inclusion.registry.models import GRAMS_PER_TONNE
from carbon_inclusion.registry.schemas import (
    BatchIn,
    BatchOut,
    BatchPage,
    CancelIn,
    CancelledOut,
    ProvenanceOut,
    SerialOut,
    SerialRange,
    ShareOut,
    VerifyOut,
)
from carbon_inclusion.settings import Settings

PROGRAMME = "CQTHT"
REGISTRY_LOCK = 0x43_51_54_48_54_52_45_47  # "CQTHTREG"
DIGITS = 6


async def lock(conn: AsyncConnection) -> None:
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": REGISTRY_LOCK})


async def issued_among(conn: AsyncConnection, behaviour_ids: list[uuid.UUID]
                       ) -> set[uuid.UUID]:
    """Which of these behaviours back issued credits. Takes the registry lock, so no
    issuance allocates any of them before the caller's transaction ends."""
    if not behaviour_ids:
        return set()
    await lock(conn)
    return set((await conn.execute(text(
        "SELECT behaviour_id FROM credit_allocations "
        "WHERE behaviour_id = ANY(CAST(:ids AS uuid[]))"), {"ids": behaviour_ids})).scalars())


def serial_prefix(methodology_code: str, year: int) -> str:
    method = methodology_code.removeprefix("CQ-").upper()
    return f"{PROGRAMME}-{method}-{year}"


def serial(prefix: str, number: int) -> str:
    return f"{prefix}-{number:0{DIGITS}d}"


def parse_serial(value: str) -> tuple[str, int] | None:
    prefix, _, number = value.strip().upper().rpartition("-")
    if not prefix.startswith(PROGRAMME + "-") or not number.isdigit() or len(number) > 9:
        return None
    return prefix, int(number)


def serial_range(prefix: str, first: int, last: int) -> SerialRange:
    return SerialRange(serial(prefix, first), serial(prefix, last), last - first + 1)


class RegistryService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.tz = settings.tz
        self.base_url = settings.public_base_url

    # --- issuance -------------------------------------------------------------------------

    async def issue(self, admin_id: uuid.UUID | None, body: BatchIn) -> BatchOut:
        """Pool the credited, not yet issued reductions of one methodology and vintage into
        whole tonnes; what is under a tonne is carried to the methodology's next batch."""
        errors = []
        today = dt.datetime.now(self.tz).date()
        if body.vintage_to < body.vintage_from:
            errors.append(FieldError("vintage_to", "is before vintage_from"))
        if body.vintage_from.year != body.vintage_to.year:
            errors.append(FieldError("vintage_to", "a vintage lies within one calendar year"))
        if body.vintage_to >= today:
            errors.append(FieldError("vintage_to", "must be a day that is over (before today)"))
        async with self.db.connect() as conn:
            known = await conn.scalar(text(
                "SELECT 1 FROM methodology_versions WHERE code = :c AND status <> 'draft' "
                "AND kind = 'behaviour' LIMIT 1"), {"c": body.methodology_code})
            if not known:
                errors.append(FieldError("methodology_code", "no published methodology has "
                                                             "this code"))
            if errors:
                raise InvalidInput("The batch cannot be issued.", errors=errors)
            await lock(conn)
            params = {"code": body.methodology_code, "from": body.vintage_from,
                      "to": body.vintage_to}
            pool = (await conn.execute(_POOL, params)).one()
            carry_in = Decimal(await conn.scalar(text(
                "SELECT carry_out_g FROM credit_batches WHERE methodology_code = :c "
                "ORDER BY created_at DESC, id DESC LIMIT 1"), {"c": body.methodology_code})
                or 0)
            total = carry_in + Decimal(pool.grams or 0)
            quantity = int(total // GRAMS_PER_TONNE)
            if quantity == 0:
                raise Conflict(
                    f"Not a whole tonne to issue: {total} g available (carry included).",
                    code="nothing_to_issue", available_g=str(total))
            prefix = serial_prefix(body.methodology_code, body.vintage_from.year)
            first = await conn.scalar(text(
                "SELECT coalesce(max(first_serial + quantity), 1) FROM credit_batches "
                "WHERE serial_prefix = :p"), {"p": prefix})
            batch_id = uuid7()
            await conn.execute(text("""
                INSERT INTO credit_batches (id, methodology_code, methodology_versions,
                    vintage_from, vintage_to, serial_prefix, first_serial, quantity,
                    allocated_g, carry_in_g, carry_out_g, behaviours, created_by)
                VALUES (:id, :code, :versions, :from, :to, :prefix, :first, :q, :allocated,
                        :carry_in, :carry_out, :n, :by)"""), params | {
                "id": batch_id, "versions": sorted(pool.versions or []), "prefix": prefix,
                "first": first, "q": quantity, "allocated": pool.grams, "carry_in": carry_in,
                "carry_out": total - quantity * GRAMS_PER_TONNE, "n": pool.n, "by": admin_id})
            allocated = (await conn.execute(_ALLOCATE, params | {"batch": batch_id})).rowcount
            if allocated != pool.n:  # cannot happen under the lock; the CHECK backs it
                raise RuntimeError("allocation changed between pooling and issuing")
            await conn.execute(text(
                "INSERT INTO credit_blocks (id, batch_id, first_serial, last_serial, state) "
                "VALUES (:id, :batch, :first, :last, 'available')"),
                {"id": uuid7(), "batch": batch_id, "first": first, "last": first + quantity - 1})
        return await self.batch(batch_id)

    # --- the public registry --------------------------------------------------------------

    async def batches(self, *, limit: int, cursor: str | None) -> BatchPage:
        after = decode_one(cursor, uuid.UUID)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(text(_BATCHES.format(where=(
                "WHERE b.id < :after" if after else ""))),
                {"after": after, "limit": limit + 1})).all()
        shown, next_cursor = page(rows, limit, lambda r: (r.id,))
        return BatchPage([_batch_out(r) for r in shown], next_cursor)

    async def batch(self, batch_id: uuid.UUID) -> BatchOut:
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(text(_BATCHES.format(where="WHERE b.id = :id")),
                                      {"id": batch_id, "limit": 1})).first()
            if row is None:
                raise NotFound("No such batch.")
            out = _batch_out(row)
            shares = (await conn.execute(_PROVENANCE, {"batch": batch_id})).all()
        grouped: dict[str, list[ShareOut]] = {"type": [], "district": [], "month": []}
        for s in shares:
            grouped[s.dimension].append(ShareOut(s.key, s.n, s.grams))
        out.provenance = ProvenanceOut(grouped["type"], grouped["district"], grouped["month"])
        return out

    async def serial(self, value: str) -> SerialOut:
        parsed = parse_serial(value)
        if parsed is None:
            raise InvalidInput.field("serial", f"is not a serial like "
                                               f"{serial(PROGRAMME + '-TRANSIT-2026', 1)}")
        prefix, number = parsed
        async with self.db.engine.connect() as conn:
            block = (await conn.execute(text("""
                SELECT k.batch_id, k.first_serial, k.last_serial, k.state, k.reason,
                       (SELECT c.id FROM certificates c WHERE c.retirement_id = k.retirement_id
                           AND c.status = 'valid') AS certificate_id
                  FROM credit_blocks k JOIN credit_batches b ON b.id = k.batch_id
                 WHERE b.serial_prefix = :p AND k.first_serial <= :n AND k.last_serial >= :n
                """), {"p": prefix, "n": number})).first()
        if block is None:
            raise NotFound(f"No credit has the serial {value}.")
        cert = block.certificate_id
        return SerialOut(serial(prefix, number), await self.batch(block.batch_id),
                         serial_range(prefix, block.first_serial, block.last_serial),
                         block.state, cert,
                         f"{self.base_url}/v1/certificates/{cert}" if cert else None,
                         block.reason)

    # --- cancelling -----------------------------------------------------------------------

    async def cancel(self, body: CancelIn) -> CancelledOut:
        """Cancel available credits (an error found after issuance), with a reason; the
        blocks around the range stay available."""
        first, last = parse_serial(body.first), parse_serial(body.last)
        errors = [FieldError(name, "is not a serial this registry issues")
                  for name, parsed in (("first", first), ("last", last)) if parsed is None]
        if first and last and (first[0] != last[0] or first[1] > last[1]):
            errors.append(FieldError("last", "must follow first in the same series"))
        if errors or first is None or last is None:
            raise InvalidInput("The range cannot be cancelled.", errors=errors)
        (prefix, a), (_, b) = first, last
        async with self.db.connect() as conn:
            await lock(conn)
            batch = (await conn.execute(text(
                "SELECT id FROM credit_batches WHERE serial_prefix = :p AND first_serial <= :a "
                "AND first_serial + quantity - 1 >= :b"), {"p": prefix, "a": a, "b": b})).first()
            if batch is None:
                raise NotFound("No batch holds the whole range.")
            blocks = (await conn.execute(text(
                "SELECT id, first_serial, last_serial, state FROM credit_blocks "
                "WHERE batch_id = :batch AND first_serial <= :b AND last_serial >= :a "
                "ORDER BY first_serial FOR UPDATE"), {"batch": batch.id, "a": a, "b": b})).all()
            busy = sorted({k.state for k in blocks} - {"available"})
            if busy:
                raise Conflict(f"Only available credits can be cancelled; the range has "
                               f"{', '.join(busy)} ones.", code="not_available", states=busy)
            for k in blocks:
                await narrow(conn, k, max(a, k.first_serial), min(b, k.last_serial))
                await conn.execute(text(
                    "UPDATE credit_blocks SET state = 'cancelled', reason = :reason, "
                    "updated_at = now() WHERE id = :id"), {"id": k.id, "reason": body.reason})
        return CancelledOut(serial_range(prefix, a, b), batch.id, body.reason)

    # --- checking -------------------------------------------------------------------------

    async def verify(self) -> VerifyOut:
        """Every invariant of the registry, checked from the data as it is."""
        async with self.db.engine.connect() as conn:
            batches = await conn.scalar(text("SELECT count(*) FROM credit_batches"))
            problems = [f"{name}: {detail}" for name, sql in _CHECKS
                        for detail in (await conn.execute(text(sql))).scalars()]
        return VerifyOut(ok=not problems, batches=int(batches or 0), problems=problems)


def _batch_out(r: Any) -> BatchOut:
    return BatchOut(
        id=r.id, methodology_code=r.methodology_code,
        methodology_versions=list(r.methodology_versions), vintage_from=r.vintage_from,
        vintage_to=r.vintage_to,
        serials=serial_range(r.serial_prefix, r.first_serial,
                             r.first_serial + r.quantity - 1),
        quantity=r.quantity, available=r.available, reserved=r.reserved, held=r.held,
        retired=r.retired, cancelled=r.cancelled, behaviours=r.behaviours,
        allocated_g=r.allocated_g, carry_in_g=r.carry_in_g, carry_out_g=r.carry_out_g,
        created_at=r.created_at)


_ELIGIBLE = """
      FROM behaviours b
     WHERE b.methodology_code = :code AND b.status = 'credited' AND b.reduction_g > 0
       AND b.programme_day BETWEEN :from AND :to
       AND NOT EXISTS (SELECT 1 FROM credit_allocations a WHERE a.behaviour_id = b.id)"""

_POOL = text("SELECT count(*) AS n, sum(b.reduction_g) AS grams, "
             "array_agg(DISTINCT b.methodology_version) AS versions" + _ELIGIBLE)

_ALLOCATE = text("INSERT INTO credit_allocations (behaviour_id, batch_id, grams) "
                 "SELECT b.id, :batch, b.reduction_g" + _ELIGIBLE)

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

_PROVENANCE = text("""
    SELECT dimension, key, count(*) AS n, sum(grams) AS grams FROM (
        SELECT 'type' AS dimension, b.type AS key, a.grams FROM credit_allocations a
          JOIN behaviours b ON b.id = a.behaviour_id WHERE a.batch_id = :batch
        UNION ALL
        SELECT 'district', coalesce(b.district_code, 'unknown'), a.grams
          FROM credit_allocations a JOIN behaviours b ON b.id = a.behaviour_id
         WHERE a.batch_id = :batch
        UNION ALL
        SELECT 'month', to_char(b.programme_day, 'YYYY-MM'), a.grams
          FROM credit_allocations a JOIN behaviours b ON b.id = a.behaviour_id
         WHERE a.batch_id = :batch) s
     GROUP BY dimension, key ORDER BY dimension, grams DESC, key""")

# (name, SQL returning one text row per problem found). Each reads the data as it is, so a
# copy corrupted behind the application's back (or a bug) shows here.
_CHECKS: list[tuple[str, str]] = [
    ("serials add up", """
        SELECT 'batch ' || b.id || ': issued ' || b.quantity || ' but its blocks hold '
               || coalesce(sum(k.last_serial - k.first_serial + 1), 0)
          FROM credit_batches b LEFT JOIN credit_blocks k ON k.batch_id = b.id
         GROUP BY b.id HAVING coalesce(sum(k.last_serial - k.first_serial + 1), 0)
                              <> b.quantity"""),
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
    ("allocations add up", """
        SELECT 'batch ' || b.id || ': allocated_g ' || b.allocated_g || ' but its '
               || count(a.behaviour_id) || ' allocations sum to '
               || coalesce(sum(a.grams), 0)
          FROM credit_batches b LEFT JOIN credit_allocations a ON a.batch_id = b.id
         GROUP BY b.id HAVING coalesce(sum(a.grams), 0) <> b.allocated_g
                          OR count(a.behaviour_id) <> b.behaviours"""),
    ("carry passes on exactly", """
        SELECT 'batch ' || id || ' carried in ' || carry_in_g || ' g but the batch before '
               || 'carried out ' || coalesce(previous, 0) || ' g'
          FROM (SELECT id, carry_in_g, lag(carry_out_g) OVER (
                    PARTITION BY methodology_code ORDER BY created_at, id) AS previous
                  FROM credit_batches) s
         WHERE carry_in_g <> coalesce(previous, 0)"""),
    ("allocated behaviours are credited as allocated", """
        SELECT 'behaviour ' || b.id || ' (' || b.status || ', ' || b.reduction_g
               || ' g) is allocated ' || a.grams || ' g'
          FROM credit_allocations a JOIN behaviours b ON b.id = a.behaviour_id
         WHERE b.status <> 'credited' OR b.reduction_g <> a.grams"""),
    ("owners match states", """
        SELECT 'block ' || k.id || ' is ' || k.state
               || coalesce(' owned by ' || k.organisation_id, ' without an owner')
          FROM credit_blocks k
         WHERE (k.state IN ('available', 'cancelled')) <> (k.organisation_id IS NULL)
            OR (k.state = 'reserved' AND k.order_id IS NULL)"""),
]


async def tonnes_in(conn: AsyncConnection, state: str,
                    organisation_id: uuid.UUID | None = None) -> int:
    """How many credits are in ``state`` (the organisation's, if given)."""
    return int(await conn.scalar(text(
        "SELECT coalesce(sum(last_serial - first_serial + 1), 0) FROM credit_blocks "
        "WHERE state = :state AND (CAST(:o AS uuid) IS NULL OR organisation_id = :o)"),
        {"state": state, "o": organisation_id}))


async def narrow(conn: AsyncConnection, block: Any, lo: int, hi: int) -> None:
    """Shrink ``block`` to serials ``lo``–``hi``; the serials on either side become blocks of
    their own, in the state and with the owner the block has now."""
    await conn.execute(text(
        "UPDATE credit_blocks SET first_serial = :lo, last_serial = :hi WHERE id = :id"),
        {"id": block.id, "lo": lo, "hi": hi})
    for side_lo, side_hi in ((block.first_serial, lo - 1), (hi + 1, block.last_serial)):
        if side_lo <= side_hi:
            await conn.execute(text("""
                INSERT INTO credit_blocks (id, batch_id, first_serial, last_serial, state,
                                           organisation_id, order_id, retirement_id, reason)
                SELECT :new, batch_id, :lo, :hi, state, organisation_id, order_id,
                       retirement_id, reason FROM credit_blocks WHERE id = :id"""),
                {"new": uuid7(), "id": block.id, "lo": side_lo, "hi": side_hi})


async def take_oldest(conn: AsyncConnection, state: str, organisation_id: uuid.UUID | None,
                      quantity: int, assign: TextClause, params: dict[str, Any]
                      ) -> list[tuple[uuid.UUID, int, int]]:
    """Take ``quantity`` serials in ``state`` (of ``organisation_id``, if given), oldest
    vintage and lowest serial first, splitting the block where it ends, and apply ``assign``
    (an UPDATE of the block ``:id``) to what is taken. Returns (batch, first, last) ranges.
    The caller holds the registry lock and has counted enough."""
    blocks = (await conn.execute(_OLDEST_FIRST, {"state": state, "o": organisation_id})).all()
    left, taken = quantity, []
    for k in blocks:
        take = min(k.last_serial - k.first_serial + 1, left)
        if take <= k.last_serial - k.first_serial:
            await narrow(conn, k, k.first_serial, k.first_serial + take - 1)
        await conn.execute(assign, params | {"id": k.id})
        taken.append((k.batch_id, k.first_serial, k.first_serial + take - 1))
        left -= take
        if left == 0:
            return taken
    raise RuntimeError(f"fewer {state} credits than counted under the registry lock")


_OLDEST_FIRST = text("""
    SELECT k.id, k.batch_id, k.first_serial, k.last_serial
      FROM credit_blocks k JOIN credit_batches b ON b.id = k.batch_id
     WHERE k.state = :state AND (CAST(:o AS uuid) IS NULL OR k.organisation_id = :o)
     ORDER BY b.vintage_from, b.id, k.first_serial""")


async def retire(conn: AsyncConnection, organisation_id: uuid.UUID, quantity: int,
                 retirement_id: uuid.UUID) -> list[dict[str, Any]]:
    """Retire ``quantity`` of the organisation's held credits for ``retirement_id``, oldest
    vintage first; returns the retired ranges with their batches. The caller holds the
    registry lock and has checked there are enough."""
    taken = await take_oldest(conn, "held", organisation_id, quantity, text(
        "UPDATE credit_blocks SET state = 'retired', retirement_id = :r, updated_at = now() "
        "WHERE id = :id"), {"r": retirement_id})
    batches = {r.id: r for r in (await conn.execute(text(
        "SELECT id, serial_prefix, methodology_code, methodology_versions, vintage_from, "
        "vintage_to FROM credit_batches WHERE id = ANY(CAST(:ids AS uuid[]))"),
        {"ids": sorted({b for b, _, _ in taken})})).all()}
    out = []
    for batch_id, first, last in taken:
        b = batches[batch_id]
        r = serial_range(b.serial_prefix, first, last)
        out.append({"first": r.first, "last": r.last, "quantity": r.quantity,
                    "batch_id": str(batch_id), "methodology_code": b.methodology_code,
                    "methodology_versions": list(b.methodology_versions),
                    "vintage_from": b.vintage_from.isoformat(),
                    "vintage_to": b.vintage_to.isoformat()})
    return out
