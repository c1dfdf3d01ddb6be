"""Reading the public registry, cancelling credits, and checking the registry.

Every change to the registry (a batch's proposal, return and issue in ``registry.batches``,
orders, payment, retirement, cancellation) runs under one transaction-level advisory lock
(``lock``): registry changes are rare and small, and one queue makes the invariants plain to
reason about. The database enforces them anyway: the exclusion constraint on blocks, the
primary key on allocations, the whole-tonne CHECK on batches, one batch in progress per
methodology.

The public registry shows issued batches only; a batch that is proposed, verified or
returned is not there (404), as are its serials (it has none yet).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.accounts import repository as accounts
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.pagination import decode_one, page
from carbon_inclusion.core import serials as core_serials
from carbon_inclusion.db import Database
from carbon_inclusion.errors import Conflict, FieldError, InvalidInput, NotFound
from carbon_inclusion.registry import checks
from carbon_inclusion.registry import repository as repo
from carbon_inclusion.registry.schemas import (
    BatchOut,
    BatchPage,
    CancelIn,
    CancelledOut,
    CheckOut,
    ProvenanceOut,
    SerialOut,
    SerialRange,
    ShareOut,
    VerifyOut,
)
from carbon_inclusion.settings import Settings

PROGRAMME = core_serials.PROGRAMME
REGISTRY_LOCK = repo.REGISTRY_LOCK
lock = repo.lock
tonnes_in = repo.tonnes_in
serial_prefix = core_serials.serial_prefix
serial = core_serials.format_serial
parse_serial = core_serials.parse_serial



class BehaviourReads(Protocol):
    """What the registry reads of the behaviours behind its batches: the functions of
    ``behaviours.repository`` headed "used by registry". app.py (and the CLI) pass that
    module in; the registry does not import behaviours, which imports the registry
    (``issued_among``)."""

    async def eligible_for_vintage(self, conn: AsyncConnection, methodology_code: str,
                                   day_from: dt.date, day_to: dt.date
                                   ) -> list[tuple[uuid.UUID, Decimal, int]]: ...

    async def provenance(self, conn: AsyncConnection,
                         allocations: Sequence[tuple[uuid.UUID, Decimal]]) -> list[Any]: ...

    async def report_shares(self, conn: AsyncConnection,
                            allocations: Sequence[tuple[uuid.UUID, Decimal]]) -> list[Any]: ...

    async def grams_percentiles(self, conn: AsyncConnection,
                                allocations: Sequence[tuple[uuid.UUID, Decimal]],
                                fractions: dict[int, Decimal]) -> dict[int, Decimal]: ...

    async def above(self, conn: AsyncConnection,
                    allocations: Sequence[tuple[uuid.UUID, Decimal]],
                    thresholds: dict[int, Decimal]) -> list[Any]: ...

    async def excluded(self, conn: AsyncConnection, methodology_code: str,
                       types: Sequence[str], day_from: dt.date, day_to: dt.date,
                       occurred: tuple[dt.datetime, dt.datetime],
                       before: dt.datetime) -> Any: ...

    async def lines(self, conn: AsyncConnection, behaviour_ids: Sequence[uuid.UUID]
                    ) -> dict[uuid.UUID, Any]: ...

    async def allocation_faults(self, conn: AsyncConnection, allocations: Sequence[Any]
                                ) -> list[tuple[str, str]]: ...

    async def recomputable(self, conn: AsyncConnection,
                           allocations: Sequence[tuple[uuid.UUID, Decimal]]) -> list[Any]: ...

    def fault_checks(self) -> tuple[str, ...]: ...


# Where each reader finds a batch's report and behaviour list: the public registry (issued
# batches only), the verifier's routes and the administrator's (any status).
View = Literal["public", "verifier", "admin"]
BATCH_PATHS: dict[str, str] = {"public": "/v1/registry/batches",
                               "verifier": "/v1/verifier/batches",
                               "admin": "/v1/admin/credit-batches"}


def batch_url(base_url: str, view: str, batch_id: uuid.UUID, rest: str = "") -> str:
    return f"{base_url}{BATCH_PATHS[view]}/{batch_id}{rest}"


# The valid certificate of a retirement, if any (events owns certificates; app.py wires it
# in, so the registry does not import events, which imports the registry).
CertificateOf = Callable[[AsyncConnection, uuid.UUID], Awaitable[uuid.UUID | None]]


async def _no_certificates(conn: AsyncConnection, retirement_id: uuid.UUID) -> uuid.UUID | None:
    return None


async def issued_among(conn: AsyncConnection, behaviour_ids: list[uuid.UUID]
                       ) -> set[uuid.UUID]:
    """Which of these behaviours back credits: held by a batch that is proposed, verified or
    issued (a returned batch held them no longer). Takes the registry lock, so no proposal
    allocates any of them before the caller's transaction ends."""
    if not behaviour_ids:
        return set()
    await lock(conn)
    return await repo.allocated_among(conn, behaviour_ids)


def serial_range(prefix: str, first: int, last: int) -> SerialRange:
    return SerialRange(serial(prefix, first), serial(prefix, last),
                       core_serials.size((first, last)))


class RegistryService:
    def __init__(self, db: Database, settings: Settings, clock: Clock = SYSTEM_CLOCK, *,
                 behaviours: BehaviourReads,
                 certificate_of: CertificateOf = _no_certificates) -> None:
        self.db = db
        self.behaviours = behaviours
        self.tz = settings.tz
        self.base_url = settings.public_url
        self.clock = clock
        self.certificate_of = certificate_of

    # --- the public registry --------------------------------------------------------------

    async def batches(self, *, limit: int, cursor: str | None,
                      status: str | None = "issued", view: View = "public") -> BatchPage:
        """Batches newest first: issued ones (the public registry) unless another ``status``
        is asked for; every batch with ``status=None`` (administrators, verifiers)."""
        after = decode_one(cursor, uuid.UUID)
        async with self.db.engine.connect() as conn:
            rows = await repo.batch_page(conn, after, limit + 1, status)
            shown, next_cursor = page(rows, limit, lambda r: (r.id,))
            items = await batches_out(conn, shown, self.base_url, view)
        return BatchPage(items, next_cursor)

    async def batch(self, batch_id: uuid.UUID, *, issued_only: bool = True,
                    view: View = "public") -> BatchOut:
        """One batch with its provenance; unless it is issued, only with ``issued_only``
        False (administrators, verifiers)."""
        async with self.db.engine.connect() as conn:
            row = await repo.batch(conn, batch_id, "issued" if issued_only else None)
            if row is None:
                raise NotFound("No such batch.")
            out = (await batches_out(conn, [row], self.base_url, view))[0]
            held = (await repo.released_of(conn, batch_id) if row.status == "returned"
                    else await repo.allocations_of(conn, batch_id))
            shares = await self.behaviours.provenance(conn, held)
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
            block = await repo.block_at(conn, prefix, number)
            cert = (await self.certificate_of(conn, block.retirement_id)
                    if block is not None and block.retirement_id is not None else None)
        if block is None:
            raise NotFound(f"No credit has the serial {value}.")
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
            batch = await repo.batch_holding(conn, prefix, a, b)
            if batch is None:
                raise NotFound("No batch holds the whole range.")
            blocks = await repo.blocks_in_range_for_update(conn, batch.id, a, b)
            busy = sorted({k.state for k in blocks} - {"available"})
            if busy:
                raise Conflict(f"Only available credits can be cancelled; the range has "
                               f"{', '.join(busy)} ones.", code="not_available", states=busy)
            for k in blocks:
                await narrow(conn, k, max(a, k.first_serial), min(b, k.last_serial))
                await repo.cancel_block(conn, k.id, body.reason)
        return CancelledOut(serial_range(prefix, a, b), batch.id, body.reason)

    # --- checking -------------------------------------------------------------------------

    async def verify(self) -> VerifyOut:
        """Every invariant of the registry, checked from the data as it is: its own tables
        (``repository.problems``) and every behaviour a batch holds (``checks``)."""
        async with self.db.engine.connect() as conn:
            batches = await repo.count_batches(conn)
            found = await repo.problems(conn)
            more, allocated, evaluated = await checks.behaviour_problems(conn, self.behaviours)
            found += more
        names = [*repo.CHECK_NAMES, *self.behaviours.fault_checks(), checks.RECOMPUTED]
        counts = {name: 0 for name in names}
        for name, _ in found:
            counts[name] = counts.get(name, 0) + 1
        problems = [f"{name}: {detail}" for name, detail in found]
        return VerifyOut(ok=not problems, batches=batches, problems=problems,
                         checks=[CheckOut(n, k) for n, k in counts.items()],
                         allocated=allocated, evaluated=evaluated)


async def batches_out(conn: AsyncConnection, rows: Sequence[Any], base_url: str,
                      view: View) -> list[BatchOut]:
    """The batches of ``rows`` (``repo.batch_page``/``batch``), with the names of the
    verification bodies that verified or returned them, and the URLs of their reports and
    behaviour lists where ``view``'s reader finds them."""
    bodies = {r.verification_body_id for r in rows if r.verification_body_id is not None}
    names = {b: await accounts.organisation_name(conn, b) for b in sorted(bodies)}
    return [BatchOut(
        id=r.id, status=r.status, methodology_code=r.methodology_code,
        methodology_versions=list(r.methodology_versions), vintage_from=r.vintage_from,
        vintage_to=r.vintage_to,
        serials=(serial_range(r.serial_prefix, r.first_serial, r.first_serial + r.quantity - 1)
                 if r.serial_prefix is not None else None),
        quantity=r.quantity, available=r.available, reserved=r.reserved, held=r.held,
        retired=r.retired, cancelled=r.cancelled, behaviours=r.behaviours,
        allocated_g=r.allocated_g, carry_in_g=r.carry_in_g, carry_out_g=r.carry_out_g,
        created_at=r.created_at, proposed_by=r.proposed_by, verified_by=r.verified_by,
        verified_at=r.verified_at, verification_body_id=r.verification_body_id,
        verification_body=names.get(r.verification_body_id),
        verification_statement=r.verification_statement, returned_by=r.returned_by,
        returned_at=r.returned_at, findings=list(r.findings), issued_by=r.issued_by,
        issued_at=r.issued_at, report_url=batch_url(base_url, view, r.id, "/report"),
        behaviours_url=batch_url(base_url, view, r.id, "/behaviours")) for r in rows]


async def narrow(conn: AsyncConnection, block: Any, lo: int, hi: int) -> None:
    """Shrink ``block`` to serials ``lo``–``hi``; the serials on either side become blocks of
    their own, in the state and with the owner the block has now."""
    split = core_serials.narrow((block.first_serial, block.last_serial), lo, hi)
    await repo.resize_block(conn, block.id, lo, hi)
    for side in (split.before, split.after):
        if side is not None:
            await repo.copy_block(conn, block.id, *side)


Assign = Callable[[AsyncConnection, uuid.UUID], Awaitable[None]]


async def take_oldest(conn: AsyncConnection, state: str, organisation_id: uuid.UUID | None,
                      quantity: int, assign: Assign) -> list[tuple[uuid.UUID, int, int]]:
    """Take ``quantity`` serials in ``state`` (of ``organisation_id``, if given), oldest
    vintage and lowest serial first, splitting the block where it ends, and ``assign`` the
    block taken (by id). Returns (batch, first, last) ranges. The caller holds the registry
    lock and has counted enough."""
    blocks = await repo.oldest_first(conn, state, organisation_id)
    try:
        takes = core_serials.take_first([(k.first_serial, k.last_serial) for k in blocks],
                                        quantity)
    except ValueError:
        raise RuntimeError(f"fewer {state} credits than counted under the registry "
                           "lock") from None
    taken = []
    for t in takes:
        k = blocks[t.index]
        if t.split:
            await narrow(conn, k, *t.taken)
        await assign(conn, k.id)
        taken.append((k.batch_id, *t.taken))
    return taken


async def retire(conn: AsyncConnection, organisation_id: uuid.UUID, quantity: int,
                 retirement_id: uuid.UUID) -> list[dict[str, Any]]:
    """Retire ``quantity`` of the organisation's held credits for ``retirement_id``, oldest
    vintage first; returns the retired ranges with their batches. The caller holds the
    registry lock and has checked there are enough."""
    async def assign(conn: AsyncConnection, block_id: uuid.UUID) -> None:
        await repo.retire_block(conn, block_id, retirement_id)

    taken = await take_oldest(conn, "held", organisation_id, quantity, assign)
    batches = await repo.batches_by_id(conn, sorted({b for b, _, _ in taken}))
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
