"""The life of a credit batch: proposed → verified or returned (with findings) → issued.

As in CCER, CQCER, Verra and Gold Standard, an independent verification body (核证机构)
stands between monitoring and issuance, and the issuer is not the verifier:

* an **administrator proposes** a batch of one methodology and vintage
  (``propose``): its behaviours are allocated to it at once, so no other batch takes them;
* a **verifier** (a user of a verification body) reads the proposal and its behaviours and
  **verifies** it, with an optional statement, or **returns** it with findings;
* an **administrator issues** a verified batch (``issue``): only now do its serials exist.

Roles guard the routes (a verifier can neither propose nor issue; an administrator can
neither verify nor return), and whoever proposed a batch never verifies or returns it,
whatever their role (checked here, and by a CHECK on ``credit_batches``). Each step records
who and when on the batch and in the audit log, in the step's transaction.

Only verified grams are eligible: a partner's record, or a self-report a person approved on
review (``behaviours.repository.CREDITABLE_EVIDENCE``). Self-reports credited without review
still earn their points; their grams stay out of batches.

**The carry.** A batch is whole tonnes; the grams under a tonne are carried to the
methodology's next batch (``carry_in_g + allocated_g - carry_out_g = quantity t``). It is
worked out at proposal, from the carry-out of the methodology's latest batch that was not
returned. A methodology has at most one batch in progress (proposed or verified) at a time
(409 ``batch_in_progress``; a partial unique index backs it), so the batch in progress is
always the last link of the methodology's chain: nothing has taken its carry-out yet.
Returning it therefore gives back everything it took: its behaviours are released (its
allocations move to ``credit_allocations_released``, the record of what it held) and its
carry-in goes back to the chain, because the next proposal again reads the carry-out of the
latest batch not returned, the one this batch had read. Were two batches in progress at once,
the second would take the first's carry-out, and returning the first would count those
grams twice (in the second's carry-in, and again when its released behaviours went into a
later batch).

**Retries.** The proposal takes no ``Idempotency-Key`` (as issuance did not): a retried
proposal finds the batch it made in progress and is answered 409 ``batch_in_progress``
naming it, so nothing is applied twice. Verifying, returning and issuing a batch that is
already in that state answer it unchanged.

Every step runs under the registry lock (``registry.service``), in one transaction.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.audit.service import record_on
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.periods import programme_day
from carbon_inclusion.core.serials import serial_prefix
from carbon_inclusion.core.tonnes import split_tonnes
from carbon_inclusion.db import Database
from carbon_inclusion.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from carbon_inclusion.ids import uuid7
from carbon_inclusion.methodologies import repository as methodologies
from carbon_inclusion.registry import repository as repo
from carbon_inclusion.registry.provenance import ProvenanceService
from carbon_inclusion.registry.schemas import (
    BatchIn,
    BatchOut,
    BatchPage,
    ReturnIn,
    VerificationIn,
)
from carbon_inclusion.registry.service import BehaviourReads, RegistryService, View, lock
from carbon_inclusion.settings import Settings

SUBJECT = "credit_batch"


class BatchService:
    def __init__(self, db: Database, settings: Settings, registry: RegistryService,
                 clock: Clock = SYSTEM_CLOCK, *, behaviours: BehaviourReads,
                 provenance: ProvenanceService) -> None:
        self.db = db
        self.registry = registry
        self.behaviours = behaviours
        self.provenance = provenance
        self.tz = settings.tz
        self.clock = clock

    # --- administrator: propose ------------------------------------------------------------

    async def propose(self, admin_id: uuid.UUID | None, body: BatchIn) -> BatchOut:
        """Pool the eligible reductions of one methodology and vintage that no batch holds
        into whole tonnes, with the carry of the methodology's last batch not returned, and
        hold them in a proposed batch; answered with its monitoring report."""
        errors = []
        today = programme_day(self.clock.now(), self.tz)
        if body.vintage_to < body.vintage_from:
            errors.append(FieldError("vintage_to", "is before vintage_from"))
        if body.vintage_from.year != body.vintage_to.year:
            errors.append(FieldError("vintage_to", "a vintage lies within one calendar year"))
        if body.vintage_to >= today:
            errors.append(FieldError("vintage_to", "must be a day that is over (before today)"))
        async with self.db.connect() as conn:
            if not await methodologies.code_is_published(conn, body.methodology_code):
                errors.append(FieldError("methodology_code", "no published methodology has "
                                                             "this code"))
            if errors:
                raise InvalidInput("The batch cannot be proposed.", errors=errors)
            await lock(conn)
            busy = await repo.in_progress(conn, body.methodology_code)
            if busy is not None:
                raise Conflict(
                    f"Batch {busy.id} of {body.methodology_code} is {busy.status}; it must be "
                    "issued or returned before the next is proposed.",
                    code="batch_in_progress", batch_id=str(busy.id), batch_status=busy.status)
            eligible = await self.behaviours.eligible_for_vintage(
                conn, body.methodology_code, body.vintage_from, body.vintage_to)
            held = await repo.allocated_among(conn, [b for b, _, _ in eligible])
            pool = [(b, g, v) for b, g, v in eligible if b not in held]
            split = split_tonnes(await repo.last_carry_out(conn, body.methodology_code),
                                 sum((g for _, g, _ in pool), Decimal(0)))
            if split.quantity_t == 0:
                raise Conflict(
                    f"Not a whole tonne to issue: {split.total_g} g available (carry "
                    "included).", code="nothing_to_issue", available_g=str(split.total_g))
            batch_id = uuid7()
            await repo.insert_batch(conn, {
                "id": batch_id, "code": body.methodology_code,
                "versions": sorted({v for _, _, v in pool}), "from": body.vintage_from,
                "to": body.vintage_to, "q": split.quantity_t, "allocated": split.allocated_g,
                "carry_in": split.carry_in_g, "carry_out": split.carry_out_g, "n": len(pool),
                "by": admin_id, "at": self.clock.now()})
            written = await repo.allocate(conn, batch_id, [(b, g) for b, g, _ in pool])
            if written != len(pool):  # cannot happen under the lock; the primary key backs it
                raise RuntimeError("allocation changed between pooling and proposing")
            await record_on(conn, actor_id=admin_id, action="credit_batch.proposed",
                            subject_type=SUBJECT, subject_id=str(batch_id), details={
                                "methodology_code": body.methodology_code,
                                "vintage_from": body.vintage_from.isoformat(),
                                "vintage_to": body.vintage_to.isoformat(),
                                "quantity": split.quantity_t, "behaviours": len(pool),
                                "allocated_g": str(split.allocated_g),
                                "carry_in_g": str(split.carry_in_g),
                                "carry_out_g": str(split.carry_out_g)})
        out = await self.get(batch_id)
        out.report = await self.provenance.report(batch_id, view="admin")
        return out

    # --- verifier: verify or return --------------------------------------------------------

    async def verify(self, verifier_id: uuid.UUID, verification_body_id: uuid.UUID,
                     batch_id: uuid.UUID, body: VerificationIn) -> BatchOut:
        """The verifier's opinion that the proposed batch stands. Again on a verified batch:
        the batch unchanged."""
        async with self.db.connect() as conn:
            await lock(conn)
            row = await self._proposed(conn, batch_id, verifier_id, "verified", "verify")
            if row is not None:
                now = self.clock.now()
                await repo.mark_verified(conn, batch_id, {
                    "by": verifier_id, "at": now, "body": verification_body_id,
                    "statement": body.statement})
                await record_on(conn, actor_id=verifier_id, action="credit_batch.verified",
                                subject_type=SUBJECT, subject_id=str(batch_id), details={
                                    "verification_body_id": str(verification_body_id),
                                    "statement": body.statement})
        return await self.get(batch_id, view="verifier")

    async def return_(self, verifier_id: uuid.UUID, verification_body_id: uuid.UUID,
                      batch_id: uuid.UUID, body: ReturnIn) -> BatchOut:
        """Send the proposed batch back with findings: its behaviours are released and its
        carry-in goes back to the chain (see the module's docstring). Again on a returned
        batch: the batch unchanged, with its first findings."""
        async with self.db.connect() as conn:
            await lock(conn)
            row = await self._proposed(conn, batch_id, verifier_id, "returned", "return")
            if row is not None:
                await repo.mark_returned(conn, batch_id, {
                    "by": verifier_id, "at": self.clock.now(), "body": verification_body_id,
                    "findings": body.findings})
                await record_on(conn, actor_id=verifier_id, action="credit_batch.returned",
                                subject_type=SUBJECT, subject_id=str(batch_id), details={
                                    "verification_body_id": str(verification_body_id),
                                    "findings": body.findings,
                                    "released_behaviours": row.behaviours,
                                    "released_g": str(row.allocated_g),
                                    "carry_in_g": str(row.carry_in_g)})
        return await self.get(batch_id, view="verifier")

    async def _proposed(self, conn: AsyncConnection, batch_id: uuid.UUID,
                        verifier_id: uuid.UUID, done: str, verb: str) -> Any:
        """The batch, locked, when the verifier may ``verb`` it now; None when it is already
        ``done`` (a repeat). 404, 403 (its proposer) or 409 (past that step) otherwise."""
        row = await repo.batch_for_update(conn, batch_id)
        if row is None:
            raise NotFound("No such batch.")
        if row.proposed_by is not None and row.proposed_by == verifier_id:
            raise Forbidden("Whoever proposed a batch may not verify or return it.",
                            code="proposer_cannot_verify")
        if row.status == done:
            return None
        if row.status != "proposed":
            raise Conflict(f"This batch is {row.status}; only a proposed batch can be "
                           f"{'verified' if verb == 'verify' else 'returned'}.",
                           code="batch_not_proposed", batch_status=row.status)
        return row

    # --- administrator: issue --------------------------------------------------------------

    async def issue(self, admin_id: uuid.UUID | None, batch_id: uuid.UUID) -> BatchOut:
        """Issue a verified batch: its serials are numbered now, per methodology and vintage
        year, after the last issued. Again on an issued batch: the batch unchanged."""
        async with self.db.connect() as conn:
            await lock(conn)
            row = await repo.batch_for_update(conn, batch_id)
            if row is None:
                raise NotFound("No such batch.")
            if row.status == "verified":
                prefix = serial_prefix(row.methodology_code, row.vintage_from.year)
                first = await repo.next_serial(conn, prefix)
                await repo.mark_issued(conn, batch_id, {
                    "prefix": prefix, "first": first, "by": admin_id, "at": self.clock.now()})
                await repo.insert_block(conn, batch_id, first, first + row.quantity - 1)
                await record_on(conn, actor_id=admin_id, action="credit_batch.issued",
                                subject_type=SUBJECT, subject_id=str(batch_id), details={
                                    "serial_prefix": prefix, "first_serial": first,
                                    "quantity": row.quantity})
            elif row.status != "issued":
                raise Conflict(f"This batch is {row.status}; only a verified batch can be "
                               "issued.", code="batch_not_verified", batch_status=row.status)
        return await self.get(batch_id)

    # --- reading (administrators, verifiers) ----------------------------------------------

    async def batches(self, *, status: str | None, limit: int, cursor: str | None,
                      view: View = "admin") -> BatchPage:
        return await self.registry.batches(limit=limit, cursor=cursor, status=status,
                                           view=view)

    async def get(self, batch_id: uuid.UUID, *, view: View = "admin") -> BatchOut:
        return await self.registry.batch(batch_id, issued_only=False, view=view)
