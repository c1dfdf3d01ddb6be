"""Partner batches and bindings: verified records, credited to the citizen a reference is
bound to, or kept until it is bound.

The hot path: records are inserted once (the partner's external id is unique), the
references' locks taken in one sorted pass, the bindings read, and the bound records recorded
by the pipeline in one go.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.accounts import repository as accounts
from carbon_inclusion.behaviours import repository
from carbon_inclusion.behaviours.pipeline import Candidate, Recorder
from carbon_inclusion.behaviours.schemas import (
    BatchResult,
    IngestionStatusOut,
    PartnerRecordIn,
    RecordResult,
)
from carbon_inclusion.behaviours.views import has_nul, record_result
from carbon_inclusion.common import locks
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.decoding import field_of
from carbon_inclusion.common.integrity import integrity_errors
from carbon_inclusion.db import Database
from carbon_inclusion.errors import NotFound, RateLimited
from carbon_inclusion.ids import uuid7
from carbon_inclusion.partners import repository as partners_repository
from carbon_inclusion.partners.service import AuthenticatedPartner, PartnerService, ref_lock_key
from carbon_inclusion.ratelimit import RateLimiter
from carbon_inclusion.settings import Settings

STATUS_WINDOW_DAYS = 7  # how far back a partner's ingestion status looks

DEADLOCK = "40P01"  # SQLSTATE deadlock_detected
OUTSIDE_SCOPE = "outside_partner_scope"
CONSENT_REQUIRED = "consent_required"  # the citizen has not accepted the notice in force


def sqlstate(exc: DBAPIError) -> str | None:
    """The SQLSTATE the server answered, when the driver says one."""
    cause: BaseException | None = exc.orig
    while cause is not None:
        code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(code, str):
            return code
        cause = cause.__cause__
    return None


# Of these citizens, those who may have their records kept and credited (consent to the
# privacy notice in force), in the caller's transaction (wired in ``app.build_state``).
ConsentFilter = Callable[[AsyncConnection, list[uuid.UUID]], Awaitable[set[uuid.UUID]]]


async def everyone(conn: AsyncConnection, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    return set(ids)


class IngestionService:
    def __init__(self, db: Database, settings: Settings, recorder: Recorder,
                 partners: PartnerService, limiter: RateLimiter,
                 clock: Clock = SYSTEM_CLOCK, consented: ConsentFilter = everyone) -> None:
        self.consented = consented
        self.db = db
        self.settings = settings
        self.recorder = recorder
        self.partners = partners
        self.limiter = limiter
        self.clock = clock

    async def ingest(self, partner: AuthenticatedPartner, raw_records: list[Any]) -> BatchResult:
        decision = await self.limiter.hit(f"partner:{partner.id}",
                                          self.settings.partner_batches_per_minute, 60)
        if not decision.allowed:
            raise RateLimited("Too many batches from this partner in a minute.",
                              retry_after=decision.retry_after_s)
        results: list[RecordResult | None] = [None] * len(raw_records)
        parsed: list[tuple[int, PartnerRecordIn]] = []
        seen: set[str] = set()
        for i, raw in enumerate(raw_records):
            ext = raw.get("external_id") if isinstance(raw, dict) else None
            ext = ext if isinstance(ext, str) else None
            try:
                record = msgspec.convert(raw, PartnerRecordIn)
            except msgspec.ValidationError as exc:
                name, message = field_of(exc)
                results[i] = RecordResult(i, ext, "rejected", "invalid_record",
                                          [{"field": name, "message": message}])
                continue
            if has_nul(record.data):
                results[i] = RecordResult(i, ext, "rejected", "invalid_record",
                                          [{"field": "data", "message": "contains NUL"}])
                continue
            if record.external_id in seen:
                results[i] = RecordResult(i, ext, "duplicate", "repeated_in_batch")
                continue
            if not partner.may_report(record.type):  # not stored: nothing it may send
                results[i] = RecordResult(i, ext, "rejected", OUTSIDE_SCOPE)
                continue
            seen.add(record.external_id)
            parsed.append((i, record))
        with integrity_errors():  # uq_behaviours_period: period_taken (a writer off the lock)
            for attempt in range(3):
                try:
                    async with self.db.connect() as conn:
                        done = await self._ingest(conn, partner, parsed)
                    break
                except DBAPIError as exc:  # locks are taken in order; retry if the server
                    if attempt == 2 or sqlstate(exc) != DEADLOCK:  # disagrees
                        raise
        for i, result in done.items():
            results[i] = result
        final = [r for r in results if r is not None]
        counts: dict[str, int] = defaultdict(int)
        for r in final:
            counts[r.status] += 1
        return BatchResult(received=len(raw_records), counts=dict(counts), results=final)

    async def _ingest(self, conn: AsyncConnection, partner: AuthenticatedPartner,
                      parsed: list[tuple[int, PartnerRecordIn]]) -> dict[int, RecordResult]:
        if not parsed:
            return {}
        hashes = {r.external_ref: self.partners.hash_ref(partner.id, r.external_ref)
                  for _, r in parsed}
        inserted = await repository.receive(conn, [
            {"id": uuid7(), "partner_id": partner.id, "external_id": r.external_id,
             "ref_hash": hashes[r.external_ref], "type": r.type,
             "occurred_at": r.occurred_at, "data": r.data, "status": "received"}
            for _, r in parsed])
        # A binding made meanwhile either is seen here or credits these records itself.
        await conn.execute(locks.LOCK_IN_ORDER, {
            "keys": sorted({ref_lock_key(partner.id, h) for h in hashes.values()})})
        owners = await partners_repository.bound_citizens(conn, partner.id,
                                                           set(hashes.values()))
        citizens = list(set(owners.values()))
        districts = await accounts.districts_of(conn, citizens)
        consented = await self.consented(conn, citizens) if citizens else set()
        bound = {h: (c, districts.get(c) or "") for h, c in owners.items()}
        out: dict[int, RecordResult] = {}
        candidates: list[tuple[int, Candidate]] = []
        statuses: list[dict[str, Any]] = []
        refused: list[uuid.UUID] = []
        for i, r in parsed:
            record_id = inserted.get(r.external_id)
            if record_id is None:
                out[i] = RecordResult(i, r.external_id, "duplicate", "already_received")
                continue
            owner = bound.get(hashes[r.external_ref])
            if owner is None:
                out[i] = RecordResult(i, r.external_id, "unbound", "reference_not_bound")
                statuses.append({"rid": record_id, "status": "unbound", "reason": None,
                                 "citizen": None, "behaviour": None})
                continue
            if not partner.covers(owner[1]):  # a citizen of a district it may not report
                out[i] = RecordResult(i, r.external_id, "rejected", OUTSIDE_SCOPE)
                refused.append(record_id)
                continue
            if owner[0] not in consented:  # PIPL: no trip data kept without consent
                out[i] = RecordResult(i, r.external_id, "rejected", CONSENT_REQUIRED)
                refused.append(record_id)
                continue
            candidates.append((i, Candidate(
                citizen_id=owner[0], district=owner[1], type=r.type,
                occurred_at=r.occurred_at, data=r.data, source="partner",
                evidence="partner_verified", partner_id=partner.id,
                external_id=r.external_id, record_id=record_id)))
        outcomes = await self.recorder.record(conn, [c for _, c in candidates])
        for (i, c), o in zip(candidates, outcomes, strict=True):
            out[i] = record_result(i, o)
            if o.errors or o.status == "rejected":
                refused.append(c.record_id)  # type: ignore[arg-type]
                continue
            assert o.behaviour is not None
            statuses.append({"rid": c.record_id, "status": "credited", "reason": None,
                             "citizen": c.citizen_id, "behaviour": o.behaviour["id"]})
        await repository.set_record_statuses(conn, statuses)
        if refused:  # a refused record is not kept: corrected, it may be sent again
            await repository.forget_records(conn, refused)
        return out

    async def status(self, partner_id: str) -> IngestionStatusOut:
        """What the partner sent over the last ``STATUS_WINDOW_DAYS`` (and 24 hours), and
        what waits for a binding (the console's partner page)."""
        if not await self.partners.exists(partner_id):
            raise NotFound(f"No partner {partner_id[:32]!r}.")
        now = self.clock.now()
        async with self.db.connect() as conn:
            rows, waiting = await repository.ingestion_status(
                conn, partner_id, since=now - dt.timedelta(days=STATUS_WINDOW_DAYS),
                day=now - dt.timedelta(days=1),
                oldest=now - dt.timedelta(days=self.settings.claim_window_days))
        return IngestionStatusOut(
            partner_id=partner_id, as_of=now, window_days=STATUS_WINDOW_DAYS,
            last_received_at=max((r.last for r in rows), default=None),
            last_24h={r.status: r.day_n for r in rows if r.day_n},
            window={r.status: r.n for r in rows}, waiting_for_binding=waiting)

    async def credit_bound(self, conn: AsyncConnection, citizen_id: uuid.UUID,
                           partner_id: str, ref_hash: bytes) -> int:
        """Inside a new binding's transaction (which holds the reference's lock): credit the
        records that waited for it, within the claim window; older ones expire."""
        oldest = self.clock.now() - dt.timedelta(days=self.settings.claim_window_days)
        district = await accounts.district_of(conn, citizen_id) or ""
        scope = await self.partners.scope(partner_id)
        waiting = await repository.unbound_records(conn, partner_id, ref_hash)
        if waiting and citizen_id not in await self.consented(conn, [citizen_id]):
            # Bound by the partner for a citizen who has not accepted the notice in force:
            # what waited is not theirs to keep (PIPL); the partner may send it again.
            await repository.forget_records(conn, [r.id for r in waiting])
            return 0
        # The partner's scope as it is now: it may have changed since the records came.
        inside = [r for r in waiting if scope.may_report(r.type) and scope.covers(district)]
        fresh = [r for r in inside if r.occurred_at >= oldest]
        statuses = [{"rid": r.id, "status": "expired", "reason": "outside_claim_window",
                     "citizen": citizen_id, "behaviour": None}
                    for r in inside if r.occurred_at < oldest]
        statuses += [{"rid": r.id, "status": "rejected", "reason": OUTSIDE_SCOPE,
                      "citizen": citizen_id, "behaviour": None}
                     for r in waiting if r.id not in {x.id for x in inside}]
        candidates = [Candidate(
            citizen_id=citizen_id, district=district, type=r.type,
            occurred_at=r.occurred_at, data=r.data, source="partner",
            evidence="partner_verified", partner_id=partner_id,
            external_id=r.external_id, record_id=r.id) for r in fresh]
        outcomes = await self.recorder.record(conn, candidates)
        credited = 0
        for c, o in zip(candidates, outcomes, strict=True):
            ok = not o.errors and o.status != "rejected"
            credited += ok
            statuses.append({"rid": c.record_id, "status": "credited" if ok else "rejected",
                             "reason": None if ok else (o.behaviour or {}).get("reason")
                             or "invalid_data",
                             "citizen": citizen_id,
                             "behaviour": o.behaviour["id"] if o.behaviour else None})
        await repository.set_record_statuses(conn, statuses)
        return credited
