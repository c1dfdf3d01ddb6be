"""Recording behaviours and paying for them: app claims, partner batches, bindings, review,
wallet reads and methodology simulation. The recording itself is ``pipeline.Recorder``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion import rules
from carbon_inclusion.accounts.models import User
from carbon_inclusion.behaviours.models import Behaviour, PartnerRecord
from carbon_inclusion.behaviours.pipeline import (
    LOCK_IN_ORDER,
    OPEN,
    VERSIONS_JSON,
    Candidate,
    OnChange,
    OnCredited,
    OnPaid,
    Outcome,
    Recorder,
    lock_key,
    parse_versions,
    release,
)
from carbon_inclusion.behaviours.schemas import (
    BatchResult,
    BehaviourOut,
    BehaviourPage,
    ClaimIn,
    EntryOut,
    EntryPage,
    ExpiryOut,
    Explanation,
    MethodologyRef,
    PartnerRecordIn,
    RecordResult,
    SimulationOut,
    SimulationRow,
    WalletOut,
)
from carbon_inclusion.common.decoding import field_of
from carbon_inclusion.common.pagination import decode_cursor, page
from carbon_inclusion.db import Database
from carbon_inclusion.errors import (
    Conflict,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    RateLimited,
)
from carbon_inclusion.ids import uuid7
from carbon_inclusion.ledger import service as ledger
from carbon_inclusion.ledger.expiry import next_expiry
from carbon_inclusion.ledger.models import JournalEntry
from carbon_inclusion.methodologies.models import MethodologyVersion
from carbon_inclusion.methodologies.service import MethodologyService
from carbon_inclusion.partners.models import Binding
from carbon_inclusion.partners.service import (
    AuthenticatedPartner,
    PartnerService,
    ref_lock_key,
)
from carbon_inclusion.ratelimit import RateLimiter
from carbon_inclusion.registry.service import issued_among
from carbon_inclusion.rules import canonical_json
from carbon_inclusion.settings import Settings

ZERO = Decimal(0)

# The first statement of a claim: the key's lock (try: a concurrent duplicate gets 409), then
# the lock of the citizen's behaviours of this type, and the versions that may score it.
_CLAIM_LOCKS = ("CASE WHEN pg_try_advisory_xact_lock(hashtextextended(:key, 0)) "
                "THEN (SELECT true FROM pg_advisory_xact_lock(:type_lock)) ELSE false END")
_CLAIM_START = text(f"SELECT {_CLAIM_LOCKS} AS got, {VERSIONS_JSON} AS versions")


def grams_text(value: Decimal) -> str:
    """Grams as served: the same text whether the value came from Python or NUMERIC(20, 3)."""
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def request_hash(body: Any) -> bytes:
    return hashlib.sha256(canonical_json(body)).digest()


def has_nul(value: Any) -> bool:
    """PostgreSQL text and JSONB cannot hold U+0000; such input is refused, not truncated."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


class BehaviourService:
    def __init__(self, db: Database, settings: Settings, methodologies: MethodologyService,
                 partners: PartnerService, limiter: RateLimiter,
                 on_change: OnChange | None = None, on_credited: Sequence[OnCredited] = (),
                 on_paid: OnPaid | None = None) -> None:
        self.db = db
        self.settings = settings
        self.tz = settings.tz
        self.methodologies = methodologies
        self.partners = partners
        self.limiter = limiter
        self.recorder = Recorder(settings, on_change, on_credited, on_paid)
        partners.on_bound = self.credit_bound

    # --- app claims ---------------------------------------------------------------------

    async def claim(self, citizen_id: uuid.UUID, district: str | None, key: str,
                    body: ClaimIn) -> tuple[BehaviourOut, bool]:
        """Record a self-reported behaviour once per Idempotency-Key.

        Returns the behaviour and whether it was created now (False: a replay).
        """
        if has_nul(body.data):
            raise InvalidInput.field("data", "must not contain NUL characters")
        digest = request_hash(msgspec.to_builtins(body))
        decision = await self.limiter.hit(f"claims:{citizen_id}",
                                          self.settings.claims_per_minute, 60)
        if not decision.allowed:
            raise RateLimited("Too many behaviours recorded in a minute.",
                              retry_after=decision.retry_after_s)
        candidate = Candidate(
            citizen_id=citizen_id, district=district or "", type=body.type,
            occurred_at=body.occurred_at, data=body.data, source="app",
            evidence="self_reported", idempotency_key=key, request_hash=digest)
        try:
            async with self.db.connect() as conn:
                # The key's lock answers a concurrent duplicate at once (409); the lock of
                # the citizen's behaviours of this type is the pipeline's, taken here in the
                # same round trip, with the versions that may score it.
                first = (await conn.execute(_CLAIM_START, {
                    "key": f"claim:{citizen_id}:{key}",
                    "type_lock": lock_key(citizen_id, body.type), "types": [body.type],
                })).one()
                if not first.got:
                    raise Conflict("A request with this Idempotency-Key is still being "
                                   "processed.", code="idempotency_key_in_use")
                (outcome,) = await self.recorder.record(
                    conn, [candidate], versions=parse_versions(first.versions), locked=True)
                if outcome.errors:
                    raise InvalidInput(
                        "; ".join(f"{e.field}: {e.message}" for e in outcome.errors),
                        code="invalid_behaviour", errors=outcome.errors)
                assert outcome.behaviour is not None and outcome.evaluation is not None
                return self._out(outcome.behaviour, outcome.evaluation), True
        except IntegrityError as exc:
            # The key was used before (the unique key says so): answer as the first time.
            if "uq_behaviours_citizen_id_idempotency_key" not in str(exc.orig):
                raise
        async with self.db.engine.connect() as conn:
            existing = await self._by_key(conn, citizen_id, key)
            assert existing is not None
            self._check_replay(existing, digest)
            methodology = await self.recorder.compiled_by_id(conn, existing.methodology_id)
        return self._out(existing._asdict(), methodology.evaluate(existing.data,
                                                                  existing.evidence)), False

    async def _by_key(self, conn: AsyncConnection, citizen_id: uuid.UUID,
                      key: str) -> Any:
        return (await conn.execute(select(Behaviour.__table__).where(
            Behaviour.citizen_id == citizen_id, Behaviour.idempotency_key == key))).first()

    def _check_replay(self, row: Any, digest: bytes) -> None:
        if row.request_hash != digest:
            raise IdempotencyKeyReused("claim")

    # --- partner batches ----------------------------------------------------------------

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
            seen.add(record.external_id)
            parsed.append((i, record))
        for attempt in range(3):
            try:
                async with self.db.connect() as conn:
                    done = await self._ingest(conn, partner, parsed)
                break
            except DBAPIError as exc:  # locks are taken in order; retry if the server disagrees
                if attempt == 2 or "deadlock" not in str(exc.orig).lower():
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
        rows = [{"id": uuid7(), "partner_id": partner.id, "external_id": r.external_id,
                 "ref_hash": hashes[r.external_ref], "type": r.type,
                 "occurred_at": r.occurred_at, "data": r.data, "status": "received"}
                for _, r in parsed]
        t = PartnerRecord.__table__
        stmt = (pg_insert(t).on_conflict_do_nothing(index_elements=["partner_id", "external_id"])
                .returning(t.c.external_id, t.c.id))
        inserted = {row.external_id: row.id
                    for row in (await conn.execute(stmt, rows)).all()}
        # A binding made meanwhile either is seen here or credits these records itself.
        await conn.execute(LOCK_IN_ORDER, {
            "keys": sorted({ref_lock_key(partner.id, h) for h in hashes.values()})})
        bound = await self._bound(conn, partner.id, set(hashes.values()))
        out: dict[int, RecordResult] = {}
        candidates: list[tuple[int, Candidate]] = []
        statuses: list[dict[str, Any]] = []
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
            candidates.append((i, Candidate(
                citizen_id=owner[0], district=owner[1], type=r.type,
                occurred_at=r.occurred_at, data=r.data, source="partner",
                evidence="partner_verified", partner_id=partner.id,
                external_id=r.external_id, record_id=record_id)))
        outcomes = await self.recorder.record(conn, [c for _, c in candidates])
        refused: list[uuid.UUID] = []
        for (i, c), o in zip(candidates, outcomes, strict=True):
            out[i] = _record_result(i, o)
            if o.errors or o.status == "rejected":
                refused.append(c.record_id)  # type: ignore[arg-type]
                continue
            assert o.behaviour is not None
            statuses.append({"rid": c.record_id, "status": "credited", "reason": None,
                             "citizen": c.citizen_id, "behaviour": o.behaviour["id"]})
        await self._set_record_statuses(conn, statuses)
        if refused:  # a refused record is not kept: corrected, it may be sent again
            await conn.execute(text("DELETE FROM partner_records WHERE id = ANY(:ids)"),
                               {"ids": refused})
        return out

    async def _set_record_statuses(self, conn: AsyncConnection,
                                   statuses: list[dict[str, Any]]) -> None:
        if not statuses:
            return
        await conn.execute(text(
            "UPDATE partner_records r SET status = u.status, reason = u.reason, "
            "citizen_id = u.citizen, behaviour_id = u.behaviour "
            "FROM unnest(CAST(:rid AS uuid[]), CAST(:status AS text[]), CAST(:reason AS text[]),"
            " CAST(:citizen AS uuid[]), CAST(:behaviour AS uuid[])) "
            "AS u(rid, status, reason, citizen, behaviour) WHERE r.id = u.rid"),
            {k: [s[k] for s in statuses]
             for k in ("rid", "status", "reason", "citizen", "behaviour")})

    async def _bound(self, conn: AsyncConnection, partner_id: str,
                     hashes: set[bytes]) -> dict[bytes, tuple[uuid.UUID, str]]:
        rows = (await conn.execute(
            select(Binding.ref_hash, Binding.citizen_id, User.district_code)
            .join(User, User.id == Binding.citizen_id)
            .where(Binding.partner_id == partner_id, Binding.removed_at.is_(None),
                   Binding.ref_hash.in_(hashes)))).all()
        return {r.ref_hash: (r.citizen_id, r.district_code or "") for r in rows}

    async def credit_bound(self, conn: AsyncConnection, citizen_id: uuid.UUID,
                           partner_id: str, ref_hash: bytes) -> int:
        """Inside a new binding's transaction (which holds the reference's lock): credit the
        records that waited for it, within the claim window; older ones expire."""
        now = dt.datetime.now(dt.UTC)
        oldest = now - dt.timedelta(days=self.settings.claim_window_days)
        district = await conn.scalar(select(User.district_code)
                                     .where(User.id == citizen_id)) or ""
        waiting = (await conn.execute(
            select(PartnerRecord.__table__).where(
                PartnerRecord.partner_id == partner_id, PartnerRecord.ref_hash == ref_hash,
                PartnerRecord.status == "unbound")
            .order_by(PartnerRecord.occurred_at))).all()
        fresh = [r for r in waiting if r.occurred_at >= oldest]
        statuses = [{"rid": r.id, "status": "expired", "reason": "outside_claim_window",
                     "citizen": citizen_id, "behaviour": None}
                    for r in waiting if r.occurred_at < oldest]
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
        await self._set_record_statuses(conn, statuses)
        return credited

    # --- reading ------------------------------------------------------------------------

    def _out(self, row: dict[str, Any],
             evaluation: rules.Evaluation | None = None) -> BehaviourOut:
        """The behaviour as served; with ``evaluation``, also why it earned what it did."""
        out = BehaviourOut(
            id=row["id"], type=row["type"], status=row["status"],
            occurred_at=row["occurred_at"].astimezone(dt.UTC), source=row["source"],
            evidence=row["evidence"], reduction_g=grams_text(row["reduction_g"]),
            points=row["points"],
            methodology=MethodologyRef(row["methodology_code"], row["methodology_version"])
            if row["methodology_code"] else None,
            reason=row["reason"], reason_detail=row["reason_detail"], flags=list(row["flags"]),
            partner_id=row["partner_id"], created_at=row["created_at"])
        if evaluation is not None:
            out.explanation = Explanation(
                inputs=evaluation.inputs, params=evaluation.params,
                intermediates=evaluation.intermediates,
                computed_reduction_g=str(evaluation.reduction_g),
                computed_points=evaluation.points)
        return out

    async def get(self, citizen_id: uuid.UUID | None, behaviour_id: uuid.UUID) -> BehaviourOut:
        """One behaviour with its explanation; ``citizen_id`` None means an administrator."""
        t = Behaviour.__table__
        stmt = select(t).where(t.c.id == behaviour_id)
        if citizen_id is not None:
            stmt = stmt.where(t.c.citizen_id == citizen_id)
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
            if row is None:
                raise NotFound("No such behaviour.")
            methodology = (await self.recorder.compiled_by_id(conn, row.methodology_id)
                           if row.methodology_id else None)
        return self._out(row._asdict(), methodology.evaluate(row.data, row.evidence)
                         if methodology is not None else None)

    async def list(self, citizen_id: uuid.UUID, *, limit: int, cursor: str | None,
                   type: str | None = None, occurred_from: dt.datetime | None = None,
                   occurred_to: dt.datetime | None = None) -> BehaviourPage:
        t = Behaviour.__table__
        stmt = select(t).where(t.c.citizen_id == citizen_id)
        if type:
            stmt = stmt.where(t.c.type == type)
        if occurred_from:
            stmt = stmt.where(t.c.occurred_at >= occurred_from)
        if occurred_to:
            stmt = stmt.where(t.c.occurred_at < occurred_to)
        after = decode_cursor(cursor, dt.datetime, uuid.UUID)
        if after is not None:
            at, bid = after
            stmt = stmt.where(or_(t.c.occurred_at < at,
                                  and_(t.c.occurred_at == at, t.c.id < bid)))
        stmt = stmt.order_by(t.c.occurred_at.desc(), t.c.id.desc()).limit(limit + 1)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        shown, next_cursor = page(rows, limit, lambda r: (r.occurred_at, r.id))
        return BehaviourPage([self._out(r._asdict()) for r in shown], next_cursor)

    # --- review -------------------------------------------------------------------------

    async def reviews(self, *, limit: int, cursor: str | None) -> BehaviourPage:
        t = Behaviour.__table__
        stmt = select(t).where(t.c.status == "pending_review")
        after = decode_cursor(cursor, dt.datetime, uuid.UUID)
        if after is not None:
            at, bid = after
            stmt = stmt.where(or_(t.c.created_at > at,
                                  and_(t.c.created_at == at, t.c.id > bid)))
        stmt = stmt.order_by(t.c.created_at, t.c.id).limit(limit + 1)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        shown, next_cursor = page(rows, limit, lambda r: (r.created_at, r.id))
        return BehaviourPage([self._out(r._asdict()) for r in shown], next_cursor)

    async def approve(self, admin_id: uuid.UUID, behaviour_id: uuid.UUID,
                      reason: str) -> BehaviourOut:
        """Credit a waiting behaviour; the daily caps of its day apply as they stand now."""
        now = dt.datetime.now(dt.UTC)
        async with self.db.connect() as conn:
            row = await self._locked(conn, behaviour_id)
            if row.status != "pending_review":
                raise Conflict(f"This behaviour is {row.status}, not waiting for review.",
                               code="not_pending_review")
            methodology = await self.recorder.compiled_by_id(conn, row.methodology_id)
            e = methodology.evaluate(row.data, row.evidence)
            data = row._asdict() | {"status": "credited", "reason": None, "decided_at": now,
                                    "reviewed_by": admin_id, "review_reason": reason}
            used = await self.recorder.read_totals(
                conn, [(row.citizen_id, row.type, row.programme_day)])
            self.recorder.pay([(data, methodology, e)], used)
            entries = self.recorder.credits([data])
            await self.recorder.write_totals(conn, used)
            await ledger.post(conn, entries)
            await self._update(conn, data)
            await self.recorder.credited(conn, [data])
            self.recorder.changed({row.citizen_id}, False)
            return self._out(data)

    async def reject(self, admin_id: uuid.UUID, behaviour_id: uuid.UUID,
                     reason: str) -> BehaviourOut:
        """Refuse a waiting behaviour, or take back a credited one with a reversing entry."""
        now = dt.datetime.now(dt.UTC)
        async with self.db.connect() as conn:
            row = await self._locked(conn, behaviour_id)
            if row.status not in OPEN:
                raise Conflict(f"This behaviour is already {row.status}.",
                               code="not_reviewable")
            if row.status == "credited":
                if await issued_among(conn, [behaviour_id]):
                    raise Conflict("This behaviour's reduction is issued as credits; it can "
                                   "no longer be taken back.", code="issued_as_credits")
                used = await self.recorder.read_totals(
                    conn, [(row.citizen_id, row.type, row.programme_day)])
                release(used, row)
                await self.recorder.write_totals(conn, used)
                try:
                    await self.recorder.reverse(conn, [row], f"rejected on review: {reason}")
                except ledger.InsufficientPoints as exc:
                    raise Conflict(
                        f"The citizen has spent these points: {exc.balance} left of the "
                        f"{exc.needed} to take back.", code="points_already_spent",
                        balance=exc.balance, needed=exc.needed) from None
            data = row._asdict() | {"status": "rejected", "reason": "rejected_on_review",
                                    "decided_at": now, "reviewed_by": admin_id,
                                    "review_reason": reason}
            await self._update(conn, data)
            return self._out(data)

    async def _locked(self, conn: AsyncConnection, behaviour_id: uuid.UUID) -> Any:
        """The behaviour, read again after taking its citizen-and-type lock (the pipeline's),
        so counters and same-trip decisions cannot change underneath a review."""
        t = Behaviour.__table__
        stmt = select(t).where(t.c.id == behaviour_id)
        row = (await conn.execute(stmt)).first()
        if row is None:
            raise NotFound("No such behaviour.")
        await self.recorder.lock(conn, [(row.citizen_id, row.type)])
        return (await conn.execute(stmt)).one()

    async def _update(self, conn: AsyncConnection, data: dict[str, Any]) -> None:
        t = Behaviour.__table__
        await conn.execute(update(t).where(t.c.id == data["id"]).values(
            status=data["status"], reason=data["reason"], reason_detail=data["reason_detail"],
            reduction_g=data["reduction_g"], points=data["points"],
            ledger_entry_id=data["ledger_entry_id"], decided_at=data["decided_at"],
            reviewed_by=data["reviewed_by"], review_reason=data["review_reason"]))

    # --- wallet -------------------------------------------------------------------------

    async def wallet(self, citizen_id: uuid.UUID) -> WalletOut:
        async with self.db.engine.connect() as conn:
            w = await ledger.wallet(conn, citizen_id)
            pending = await conn.scalar(
                select(func.coalesce(func.sum(Behaviour.computed_points), 0))
                .where(Behaviour.citizen_id == citizen_id,
                       Behaviour.status == "pending_review"))
            soonest = await next_expiry(conn, citizen_id, self.settings.points_expiry_years,
                                        self.settings.tz)
        return WalletOut(balance=w.balance, lifetime_earned=w.earned, pending=int(pending),
                         next_expiry=soonest and ExpiryOut(soonest.points, soonest.expires_at))

    async def entries(self, citizen_id: uuid.UUID, *, limit: int,
                      cursor: str | None) -> EntryPage:
        t = JournalEntry.__table__
        stmt = select(t).where(t.c.citizen_id == citizen_id)
        after = decode_cursor(cursor, dt.datetime, uuid.UUID)
        if after is not None:
            at, eid = after
            stmt = stmt.where(or_(t.c.created_at < at,
                                  and_(t.c.created_at == at, t.c.id < eid)))
        stmt = stmt.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit + 1)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        shown, next_cursor = page(rows, limit, lambda r: (r.created_at, r.id))
        items = [EntryOut(id=r.id, kind=r.kind, points=r.points, behaviour_id=r.behaviour_id,
                          redemption_id=r.redemption_id, reverses_id=r.reverses_id,
                          memo=r.memo, created_at=r.created_at) for r in shown]
        return EntryPage(items, next_cursor)

    # --- simulate -----------------------------------------------------------------------

    async def simulate(self, code: str, version: int, occurred_from: dt.datetime,
                       occurred_to: dt.datetime) -> SimulationOut:
        """What version ``version`` of ``code`` would have paid for the behaviours recorded
        in the window, beside what was paid, per type and district (before daily caps)."""
        if occurred_to <= occurred_from:
            raise InvalidInput.field("occurred_to", "must be later than occurred_from")
        if occurred_to - occurred_from > dt.timedelta(days=92):
            raise InvalidInput.field("occurred_to", "the window is at most 92 days")
        async with self.db.engine.connect() as conn:
            doc = (await conn.execute(
                select(MethodologyVersion.document, MethodologyVersion.behaviour)
                .where(MethodologyVersion.code == code,
                       MethodologyVersion.version == version))).first()
            if doc is None:
                raise NotFound(f"No methodology {code} v{version}.")
            compiled = rules.compile_methodology(rules.load_document(doc.document))
            t = Behaviour.__table__
            result = await conn.stream(
                select(t.c.type, t.c.district_code, t.c.data, t.c.evidence, t.c.status,
                       t.c.computed_reduction_g, t.c.computed_points, t.c.reduction_g,
                       t.c.points)
                .where(t.c.type == doc.behaviour, t.c.status.in_(("credited", "superseded",
                                                                   "pending_review")),
                       t.c.occurred_at >= occurred_from, t.c.occurred_at < occurred_to)
                .execution_options(yield_per=2000))
            acc: dict[tuple[str, str], list[Any]] = {}
            async for r in result:
                a = acc.setdefault((r.type, r.district_code), [0, ZERO, 0, ZERO, 0, 0, 0])
                a[0] += 1
                if r.status == "credited":
                    a[1] += r.reduction_g
                    a[2] += r.points
                try:
                    e = compiled.evaluate(r.data, r.evidence)
                except rules.InputError:
                    a[6] += 1
                    continue
                a[3] += e.reduction_g
                a[4] += e.points
                if (e.reduction_g, e.points) != (r.computed_reduction_g, r.computed_points):
                    a[5] += 1
        rows = [SimulationRow(type=k[0], district=k[1], behaviours=a[0],
                              paid_reduction_g=grams_text(a[1]), paid_points=a[2],
                              simulated_reduction_g=grams_text(a[3]), simulated_points=a[4],
                              changed=a[5], not_scorable=a[6])
                for k, a in sorted(acc.items())]
        return SimulationOut(code=code, version=version, occurred_from=occurred_from,
                             occurred_to=occurred_to, rows=rows)


def _record_result(i: int, o: Outcome) -> RecordResult:
    c = o.candidate
    if o.errors:
        return RecordResult(i, c.external_id, "rejected", "invalid_data",
                            [{"field": e.field, "message": e.message} for e in o.errors])
    b = o.behaviour
    assert b is not None
    if b["status"] not in ("credited", "pending_review"):
        return RecordResult(i, c.external_id, "rejected", b["reason"])
    return RecordResult(i, c.external_id, b["status"], b["reason"], None, b["id"], b["points"])
