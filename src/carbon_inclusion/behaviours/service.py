"""Recording behaviours and paying for them: app claims, partner batches, bindings, review.

Every path ends in ``_record``, which takes a list of candidate behaviours and, inside the
caller's transaction:

1. picks the methodology version in force at each ``occurred_at`` and scores it;
2. finds the same trip recorded twice (a partner record supersedes an app self-report; a
   self-report of a trip a partner already sent is refused; two self-reports close together
   are flagged for review), locking the rows it compares against;
3. locks the day's cap counters of every (citizen, type, day) it touches, in a fixed order,
   and pays the remainder up to each cap from the cumulative totals it just locked;
4. writes the behaviours, their ledger entries and the new totals.

It is set-based (a handful of statements per batch, whatever its size) so that a partner's
batch of 1,000 records costs about as much as a few single claims.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import and_, bindparam, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion import rules
from carbon_inclusion.accounts.models import User
from carbon_inclusion.behaviours.models import Behaviour, PartnerRecord
from carbon_inclusion.behaviours.schemas import (
    BatchResult,
    BehaviourOut,
    BehaviourPage,
    ClaimIn,
    EntryOut,
    EntryPage,
    Explanation,
    MethodologyRef,
    PartnerRecordIn,
    RecordResult,
    SimulationOut,
    SimulationRow,
    WalletOut,
)
from carbon_inclusion.db import Database
from carbon_inclusion.errors import Conflict, FieldError, InvalidInput, NotFound, RateLimited
from carbon_inclusion.ids import uuid7
from carbon_inclusion.ledger import service as ledger
from carbon_inclusion.ledger.models import JournalEntry
from carbon_inclusion.methodologies.models import MethodologyVersion
from carbon_inclusion.methodologies.service import PUBLIC_STATUSES, MethodologyService
from carbon_inclusion.partners.models import Binding
from carbon_inclusion.partners.service import AuthenticatedPartner, PartnerService
from carbon_inclusion.ratelimit import RateLimiter
from carbon_inclusion.rules import canonical_json
from carbon_inclusion.settings import Settings
from carbon_inclusion.validation import field_of
from carbon_inclusion.web.pagination import decode_cursor, encode_cursor

ZERO = Decimal(0)
OPEN = ("credited", "pending_review")


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


@dataclass
class Candidate:
    """A behaviour about to be recorded, from the app or from a partner."""

    citizen_id: uuid.UUID
    district: str
    type: str
    occurred_at: dt.datetime
    data: dict[str, Any]
    source: str  # "app" | "partner"
    evidence: str  # "self_reported" | "partner_verified"
    partner_id: str | None = None
    external_id: str | None = None
    idempotency_key: str | None = None
    request_hash: bytes | None = None
    record_id: uuid.UUID | None = None  # the partner_records row it came from


@dataclass
class Outcome:
    candidate: Candidate
    errors: list[FieldError] = field(default_factory=list)  # refused: nothing stored
    behaviour: dict[str, Any] | None = None  # the row written

    @property
    def status(self) -> str:
        return self.behaviour["status"] if self.behaviour else "rejected"


_Payable = tuple[dict[str, Any], "rules.CompiledMethodology", "rules.Evaluation"]


@dataclass(frozen=True, slots=True)
class _Version:
    id: uuid.UUID
    code: str
    version: int
    sha256: str
    in_force_from: dt.datetime
    in_force_to: dt.datetime | None
    document: dict[str, Any]


class BehaviourService:
    def __init__(self, db: Database, settings: Settings, methodologies: MethodologyService,
                 partners: PartnerService, limiter: RateLimiter) -> None:
        self.db = db
        self.settings = settings
        self.tz = settings.tz
        self.methodologies = methodologies
        self.partners = partners
        self.limiter = limiter
        self._compiled: dict[str, rules.CompiledMethodology] = {}
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
        replay = await self._replay(citizen_id, key, digest)
        if replay is not None:
            return replay, False
        decision = await self.limiter.hit(f"claims:{citizen_id}",
                                          self.settings.claims_per_minute, 60)
        if not decision.allowed:
            raise RateLimited("Too many behaviours recorded in a minute.",
                              retry_after=decision.retry_after_s)
        async with self.db.connect() as conn:
            got = await conn.scalar(
                text("SELECT pg_try_advisory_xact_lock(hashtextextended(:k, 0))"),
                {"k": f"claim:{citizen_id}:{key}"})
            if not got:
                raise Conflict("A request with this Idempotency-Key is still being processed.",
                               code="idempotency_key_in_use")
            # The first request may have committed between our look and our lock.
            existing = await self._by_key(conn, citizen_id, key)
            if existing is not None:
                return self._check_replay(existing, digest), False
            candidate = Candidate(
                citizen_id=citizen_id, district=district or "", type=body.type,
                occurred_at=body.occurred_at, data=body.data, source="app",
                evidence="self_reported", idempotency_key=key, request_hash=digest)
            (outcome,) = await self._record(conn, [candidate])
            if outcome.errors:
                raise InvalidInput("; ".join(f"{e.field}: {e.message}" for e in outcome.errors),
                                   code="invalid_behaviour", errors=outcome.errors)
            assert outcome.behaviour is not None
            return self._out(outcome.behaviour), True

    async def _replay(self, citizen_id: uuid.UUID, key: str,
                      digest: bytes) -> BehaviourOut | None:
        async with self.db.engine.connect() as conn:
            existing = await self._by_key(conn, citizen_id, key)
        return None if existing is None else self._check_replay(existing, digest)

    async def _by_key(self, conn: AsyncConnection, citizen_id: uuid.UUID,
                      key: str) -> Any:
        return (await conn.execute(select(Behaviour.__table__).where(
            Behaviour.citizen_id == citizen_id, Behaviour.idempotency_key == key))).first()

    def _check_replay(self, row: Any, digest: bytes) -> BehaviourOut:
        if row.request_hash != digest:
            raise InvalidInput(
                "This Idempotency-Key was used for a different request.",
                code="idempotency_key_reused",
                errors=[FieldError("Idempotency-Key", "already used with another body")])
        return self._out(row._asdict())

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
        outcomes = await self._record(conn, [c for _, c in candidates])
        for (i, c), o in zip(candidates, outcomes, strict=True):
            out[i] = _record_result(i, o)
            b = o.behaviour
            statuses.append({
                "rid": c.record_id,
                "status": "rejected" if o.errors or o.status == "rejected" else "credited",
                "reason": (b or {}).get("reason") or ("invalid_data" if o.errors else None),
                "citizen": c.citizen_id, "behaviour": b["id"] if b else None})
        await self._set_record_statuses(conn, statuses)
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

    async def credit_bound(self, citizen_id: uuid.UUID, partner_id: str,
                           ref_hash: bytes) -> int:
        """After a binding: credit the records that waited for it, within the claim window."""
        now = dt.datetime.now(dt.UTC)
        oldest = now - dt.timedelta(days=self.settings.claim_window_days)
        async with self.db.connect() as conn:
            district = await conn.scalar(select(User.district_code)
                                         .where(User.id == citizen_id)) or ""
            waiting = (await conn.execute(
                select(PartnerRecord.__table__).where(
                    PartnerRecord.partner_id == partner_id, PartnerRecord.ref_hash == ref_hash,
                    PartnerRecord.status == "unbound")
                .order_by(PartnerRecord.occurred_at).with_for_update(skip_locked=True))).all()
            fresh = [r for r in waiting if r.occurred_at >= oldest]
            statuses = [{"rid": r.id, "status": "expired", "reason": "outside_claim_window",
                         "citizen": citizen_id, "behaviour": None}
                        for r in waiting if r.occurred_at < oldest]
            candidates = [Candidate(
                citizen_id=citizen_id, district=district, type=r.type,
                occurred_at=r.occurred_at, data=r.data, source="partner",
                evidence="partner_verified", partner_id=partner_id,
                external_id=r.external_id, record_id=r.id) for r in fresh]
            outcomes = await self._record(conn, candidates)
            credited = 0
            for c, o in zip(candidates, outcomes, strict=True):
                ok = not o.errors and o.status != "rejected"
                credited += ok
                statuses.append({"rid": c.record_id, "status": "credited" if ok else "rejected",
                                 "reason": None if ok else "invalid_data",
                                 "citizen": citizen_id,
                                 "behaviour": o.behaviour["id"] if o.behaviour else None})
            await self._set_record_statuses(conn, statuses)
        return credited

    # --- the pipeline -------------------------------------------------------------------

    async def _record(self, conn: AsyncConnection,
                      candidates: Sequence[Candidate]) -> list[Outcome]:
        now = dt.datetime.now(dt.UTC)
        outcomes = [Outcome(c) for c in candidates]
        if not candidates:
            return outcomes
        versions = await self._versions(conn, {c.type for c in candidates})
        scored: list[tuple[Outcome, _Version, rules.CompiledMethodology,
                           rules.Evaluation]] = []
        for o in outcomes:
            c = o.candidate
            if c.occurred_at > now + dt.timedelta(seconds=self.settings.clock_skew_s):
                o.errors = [FieldError("occurred_at", "is in the future")]
                continue
            version = _in_force(versions.get(c.type, []), c.occurred_at)
            if version is None:
                o.errors = [FieldError("type", f"no methodology scores {c.type!r}")
                            if c.type not in versions else
                            FieldError("occurred_at", f"no methodology for {c.type} was in "
                                       "force at that time")]
                continue
            compiled = self._compiled_for(version)
            try:
                evaluation = compiled.evaluate(c.data, c.evidence)
            except rules.InputError as exc:
                o.errors = [FieldError(e.field, e.message) for e in exc.errors]
                continue
            scored.append((o, version, compiled, evaluation))
        if not scored:
            return outcomes

        # One writer at a time per citizen and behaviour type (taken in a fixed order, so two
        # batches never deadlock): the same-trip checks below then see every earlier record.
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k "
                 "ORDER BY k"),
            {"keys": sorted({_lock_key(s[0].candidate) for s in scored})})
        window = dt.timedelta(seconds=self.settings.same_trip_window_s)
        nearby = await self._nearby(conn, [s[0].candidate for s in scored], window)
        oldest = now - dt.timedelta(days=self.settings.claim_window_days)
        rows: list[dict[str, Any]] = []
        to_pay: list[_Payable] = []
        superseded: list[Any] = []
        for o, version, compiled, evaluation in scored:
            c = o.candidate
            row = self._row(c, version, evaluation, now)
            rows.append(row)
            o.behaviour = row
            same_trip = [b for b in nearby.get((c.citizen_id, c.type), ())
                         if abs(b.occurred_at - c.occurred_at) <= window
                         and b.id not in {s.id for s in superseded}]
            if c.occurred_at < oldest:
                _refuse(row, "outside_claim_window",
                        {"claim_window_days": self.settings.claim_window_days})
            elif c.source == "app" and any(b.source == "partner" for b in same_trip):
                first = next(b for b in same_trip if b.source == "partner")
                _refuse(row, "recorded_by_partner", {"behaviour_id": str(first.id)})
            else:
                if c.source == "partner":
                    superseded += [b for b in same_trip if b.source == "app"]
                elif same_trip:
                    row["flags"] = ["overlapping"]
                if evaluation.needs_review or row["flags"]:
                    row["status"] = "pending_review"
                    row["reason"] = "overlapping" if row["flags"] else "needs_review"
                else:
                    to_pay.append((row, compiled, evaluation))
        await self._supersede(conn, superseded, now)
        await self._pay(conn, to_pay)
        entries = self._credits(rows)
        await conn.execute(insert(Behaviour.__table__), rows)
        await ledger.post(conn, entries)
        return outcomes

    def _row(self, c: Candidate, version: _Version, e: rules.Evaluation,
             now: dt.datetime) -> dict[str, Any]:
        return {
            "id": uuid7(), "citizen_id": c.citizen_id, "type": c.type,
            "occurred_at": c.occurred_at,
            "programme_day": rules.programme_day(c.occurred_at, self.tz),
            "district_code": c.district, "source": c.source, "evidence": c.evidence,
            "partner_id": c.partner_id, "external_id": c.external_id,
            "idempotency_key": c.idempotency_key, "request_hash": c.request_hash,
            "status": "credited", "reason": None, "reason_detail": None, "flags": [],
            "data": e.inputs, "methodology_id": version.id, "methodology_code": version.code,
            "methodology_version": version.version, "computed_reduction_g": e.reduction_g,
            "computed_points": e.points, "reduction_g": ZERO, "points": 0,
            "ledger_entry_id": None, "created_at": now, "decided_at": now,
            "reviewed_by": None, "review_reason": None,
        }

    async def _nearby(self, conn: AsyncConnection, candidates: list[Candidate],
                      window: dt.timedelta) -> dict[tuple[uuid.UUID, str], list[Any]]:
        """Open behaviours of the same citizens and types close in time, locked."""
        lo = min(c.occurred_at for c in candidates) - window
        hi = max(c.occurred_at for c in candidates) + window
        t = Behaviour.__table__
        found = (await conn.execute(
            select(t.c.id, t.c.citizen_id, t.c.type, t.c.occurred_at, t.c.source,
                   t.c.status, t.c.points, t.c.reduction_g, t.c.programme_day,
                   t.c.ledger_entry_id)
            .where(t.c.citizen_id.in_({c.citizen_id for c in candidates}),
                   t.c.type.in_({c.type for c in candidates}),
                   t.c.status.in_(OPEN), t.c.occurred_at.between(lo, hi))
            .order_by(t.c.id).with_for_update())).all()
        nearby: dict[tuple[uuid.UUID, str], list[Any]] = defaultdict(list)
        for b in found:
            nearby[(b.citizen_id, b.type)].append(b)
        return nearby

    async def _supersede(self, conn: AsyncConnection, behaviours: list[Any],
                         now: dt.datetime) -> None:
        """A partner record replaces the app's self-report of the same trip: undo its pay."""
        if not behaviours:
            return
        t = Behaviour.__table__
        await conn.execute(
            update(t).where(t.c.id == bindparam("bid"))
            .values(status="superseded", reason="superseded_by_partner", decided_at=now),
            [{"bid": b.id} for b in behaviours])
        paid = [b for b in behaviours if b.status == "credited"]
        await self._release_caps(conn, paid)
        await self._reverse(conn, paid, "superseded by a partner record")

    async def _release_caps(self, conn: AsyncConnection, behaviours: Iterable[Any]) -> None:
        rows = [{"c": b.citizen_id, "t": b.type, "d": b.programme_day, "g": b.reduction_g,
                 "p": b.points} for b in behaviours]
        if rows:
            await conn.execute(text(
                "UPDATE daily_totals SET count = count - 1, grams = grams - :g, "
                "points = points - :p WHERE citizen_id = :c AND type = :t AND day = :d"), rows)

    async def _reverse(self, conn: AsyncConnection, behaviours: Iterable[Any],
                       memo: str) -> None:
        entries = [ledger.Entry(
            citizen_id=b.citizen_id, kind="reversal", points=-b.points, counter="reversal",
            idempotency_key=f"reversal:{b.ledger_entry_id}",
            request_hash=hashlib.sha256(str(b.ledger_entry_id).encode()).digest(),
            behaviour_id=b.id, reverses_id=b.ledger_entry_id, memo=memo)
            for b in behaviours if b.points > 0 and b.ledger_entry_id is not None]
        await ledger.post(conn, entries)

    async def _pay(self, conn: AsyncConnection, to_pay: list[_Payable]) -> None:
        """Apply the daily caps from locked cumulative totals and fill in what is paid."""
        if not to_pay:
            return
        keys = sorted({(r["citizen_id"], r["type"], r["programme_day"]) for r, _, _ in to_pay})
        # Creates missing counters and locks all of them, in key order (no deadlocks).
        locked = await conn.execute(text(
            "INSERT INTO daily_totals (citizen_id, type, day, count, grams, points) "
            "SELECT c, t, d, 0, 0, 0 FROM unnest(CAST(:c AS uuid[]), CAST(:t AS text[]), "
            "CAST(:d AS date[])) AS u(c, t, d) ORDER BY c, t, d "
            "ON CONFLICT (citizen_id, type, day) DO UPDATE SET count = daily_totals.count "
            "RETURNING citizen_id, type, day, count, grams, points"),
            {"c": [k[0] for k in keys], "t": [k[1] for k in keys], "d": [k[2] for k in keys]})
        used = {(r.citizen_id, r.type, r.day): rules.DayUsage(r.count, r.grams, r.points)
                for r in locked.all()}
        for row, compiled, e in sorted(to_pay, key=lambda x: x[0]["occurred_at"]):
            key = (row["citizen_id"], row["type"], row["programme_day"])
            paid = rules.apply_daily_limits(compiled.limits, used[key], e.reduction_g,
                                            e.points, lambda g, e=e, c=compiled:
                                            c.points_for(e, g))
            u = used[key]
            used[key] = rules.DayUsage(u.count + 1, u.reduction_g + paid.reduction_g,
                                       u.points + paid.points)
            row["reduction_g"], row["points"] = paid.reduction_g, paid.points
            if paid.capped_by:
                _, end = rules.day_bounds(row["programme_day"], self.tz)
                row["reason"] = "daily_cap_reached"
                row["reason_detail"] = {"capped_by": list(paid.capped_by),
                                        "earn_again_at": end.astimezone(self.tz).isoformat()}
        items = sorted(used.items())
        await conn.execute(text(
            "UPDATE daily_totals x SET count = u.n, grams = u.g, points = u.p "
            "FROM unnest(CAST(:c AS uuid[]), CAST(:t AS text[]), CAST(:d AS date[]), "
            "CAST(:n AS int[]), CAST(:g AS numeric[]), CAST(:p AS int[])) AS u(c, t, d, n, g, p) "
            "WHERE x.citizen_id = u.c AND x.type = u.t AND x.day = u.d"),
            {"c": [k[0] for k, _ in items], "t": [k[1] for k, _ in items],
             "d": [k[2] for k, _ in items], "n": [u.count for _, u in items],
             "g": [u.reduction_g for _, u in items], "p": [u.points for _, u in items]})

    def _credits(self, rows: list[dict[str, Any]]) -> list[ledger.Entry]:
        """Ledger entries for the credited rows; sets each row's ``ledger_entry_id``."""
        entries = []
        for row in rows:
            if row["status"] == "credited" and row["points"] > 0:
                row["ledger_entry_id"] = uuid7()
                entries.append(ledger.Entry(
                    id=row["ledger_entry_id"], citizen_id=row["citizen_id"],
                    kind="behaviour_credit", points=row["points"], counter="issuance",
                    idempotency_key=f"behaviour:{row['id']}",
                    request_hash=row["request_hash"] or hashlib.sha256(
                        f"{row['partner_id']}:{row['external_id']}".encode()).digest(),
                    behaviour_id=row["id"]))
        return entries

    # --- methodology versions -----------------------------------------------------------

    async def _versions(self, conn: AsyncConnection,
                        types: set[str]) -> dict[str, list[_Version]]:
        m = MethodologyVersion
        rows = (await conn.execute(
            select(m.id, m.code, m.version, m.sha256, m.in_force_from, m.in_force_to,
                   m.document, m.behaviour)
            .where(m.behaviour.in_(types), m.status.in_(PUBLIC_STATUSES)))).all()
        out: dict[str, list[_Version]] = defaultdict(list)
        for r in rows:
            out[r.behaviour].append(_Version(r.id, r.code, r.version, r.sha256,
                                             r.in_force_from, r.in_force_to, r.document))
        return out

    def _compiled_for(self, v: _Version) -> rules.CompiledMethodology:
        compiled = self._compiled.get(v.sha256)
        if compiled is None:
            compiled = rules.compile_methodology(rules.load_document(v.document))
            self._compiled[v.sha256] = compiled
        return compiled

    # --- reading ------------------------------------------------------------------------

    def _out(self, row: dict[str, Any], explain: bool = False) -> BehaviourOut:
        out = BehaviourOut(
            id=row["id"], type=row["type"], status=row["status"],
            occurred_at=row["occurred_at"].astimezone(dt.UTC), source=row["source"],
            evidence=row["evidence"], reduction_g=grams_text(row["reduction_g"]),
            points=row["points"],
            methodology=MethodologyRef(row["methodology_code"], row["methodology_version"])
            if row["methodology_code"] else None,
            reason=row["reason"], reason_detail=row["reason_detail"], flags=list(row["flags"]),
            partner_id=row["partner_id"], created_at=row["created_at"])
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
            version = (await conn.execute(
                select(MethodologyVersion.id, MethodologyVersion.code,
                       MethodologyVersion.version, MethodologyVersion.sha256,
                       MethodologyVersion.in_force_from, MethodologyVersion.in_force_to,
                       MethodologyVersion.document)
                .where(MethodologyVersion.id == row.methodology_id))).first()
        out = self._out(row._asdict())
        if version is not None:
            e = self._compiled_for(_Version(*version)).evaluate(row.data, row.evidence)
            out.explanation = Explanation(
                inputs=e.inputs, params=e.params, intermediates=e.intermediates,
                computed_reduction_g=str(e.reduction_g), computed_points=e.points)
        return out

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
        after = decode_cursor(cursor, 2)
        if after is not None:
            at, bid = dt.datetime.fromisoformat(after[0]), uuid.UUID(after[1])
            stmt = stmt.where(or_(t.c.occurred_at < at,
                                  and_(t.c.occurred_at == at, t.c.id < bid)))
        stmt = stmt.order_by(t.c.occurred_at.desc(), t.c.id.desc()).limit(limit + 1)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        items = [self._out(r._asdict()) for r in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        return BehaviourPage(items, encode_cursor([last.occurred_at.isoformat(), str(last.id)])
                             if last else None)

    # --- review -------------------------------------------------------------------------

    async def reviews(self, *, limit: int, cursor: str | None) -> BehaviourPage:
        t = Behaviour.__table__
        stmt = select(t).where(t.c.status == "pending_review")
        after = decode_cursor(cursor, 2)
        if after is not None:
            at, bid = dt.datetime.fromisoformat(after[0]), uuid.UUID(after[1])
            stmt = stmt.where(or_(t.c.created_at > at,
                                  and_(t.c.created_at == at, t.c.id > bid)))
        stmt = stmt.order_by(t.c.created_at, t.c.id).limit(limit + 1)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        items = [self._out(r._asdict()) for r in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        return BehaviourPage(items, encode_cursor([last.created_at.isoformat(), str(last.id)])
                             if last else None)

    async def approve(self, admin_id: uuid.UUID, behaviour_id: uuid.UUID,
                      reason: str) -> BehaviourOut:
        now = dt.datetime.now(dt.UTC)
        async with self.db.connect() as conn:
            row = await self._locked(conn, behaviour_id)
            if row.status != "pending_review":
                raise Conflict(f"This behaviour is {row.status}, not waiting for review.",
                               code="not_pending_review")
            version = (await conn.execute(
                select(MethodologyVersion.id, MethodologyVersion.code,
                       MethodologyVersion.version, MethodologyVersion.sha256,
                       MethodologyVersion.in_force_from, MethodologyVersion.in_force_to,
                       MethodologyVersion.document)
                .where(MethodologyVersion.id == row.methodology_id))).one()
            compiled = self._compiled_for(_Version(*version))
            e = compiled.evaluate(row.data, row.evidence)
            data = row._asdict() | {"status": "credited", "reason": None, "decided_at": now,
                                    "reviewed_by": admin_id, "review_reason": reason}
            await self._pay(conn, [(data, compiled, e)])
            await self._post_credits_existing(conn, data)
            return self._out(data)

    async def _post_credits_existing(self, conn: AsyncConnection, data: dict[str, Any]) -> None:
        if data["points"] > 0:
            data["ledger_entry_id"] = uuid7()
            await ledger.post(conn, [ledger.Entry(
                id=data["ledger_entry_id"], citizen_id=data["citizen_id"],
                kind="behaviour_credit", points=data["points"], counter="issuance",
                idempotency_key=f"behaviour:{data['id']}",
                request_hash=data["request_hash"] or hashlib.sha256(
                    str(data["id"]).encode()).digest(),
                behaviour_id=data["id"], memo="approved on review")])
        t = Behaviour.__table__
        await conn.execute(update(t).where(t.c.id == data["id"]).values(
            status=data["status"], reason=data["reason"], reason_detail=data["reason_detail"],
            reduction_g=data["reduction_g"], points=data["points"],
            ledger_entry_id=data["ledger_entry_id"], decided_at=data["decided_at"],
            reviewed_by=data["reviewed_by"], review_reason=data["review_reason"]))

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
                await self._release_caps(conn, [row])
                await self._reverse(conn, [row], f"rejected on review: {reason}")
            t = Behaviour.__table__
            await conn.execute(update(t).where(t.c.id == behaviour_id).values(
                status="rejected", reason="rejected_on_review", decided_at=now,
                reviewed_by=admin_id, review_reason=reason))
            return self._out(row._asdict() | {"status": "rejected",
                                              "reason": "rejected_on_review"})

    async def _locked(self, conn: AsyncConnection, behaviour_id: uuid.UUID) -> Any:
        t = Behaviour.__table__
        row = (await conn.execute(select(t).where(t.c.id == behaviour_id)
                                  .with_for_update())).first()
        if row is None:
            raise NotFound("No such behaviour.")
        return row

    # --- wallet -------------------------------------------------------------------------

    async def wallet(self, citizen_id: uuid.UUID) -> WalletOut:
        async with self.db.engine.connect() as conn:
            w = await ledger.wallet(conn, citizen_id)
            pending = await conn.scalar(
                select(func.coalesce(func.sum(Behaviour.computed_points), 0))
                .where(Behaviour.citizen_id == citizen_id,
                       Behaviour.status == "pending_review"))
        return WalletOut(balance=w.balance, lifetime_earned=w.earned, pending=int(pending))

    async def entries(self, citizen_id: uuid.UUID, *, limit: int,
                      cursor: str | None) -> EntryPage:
        t = JournalEntry.__table__
        stmt = select(t).where(t.c.citizen_id == citizen_id)
        after = decode_cursor(cursor, 2)
        if after is not None:
            at, eid = dt.datetime.fromisoformat(after[0]), uuid.UUID(after[1])
            stmt = stmt.where(or_(t.c.created_at < at,
                                  and_(t.c.created_at == at, t.c.id < eid)))
        stmt = stmt.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit + 1)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        items = [EntryOut(id=r.id, kind=r.kind, points=r.points, behaviour_id=r.behaviour_id,
                          redemption_id=r.redemption_id, reverses_id=r.reverses_id,
                          memo=r.memo, created_at=r.created_at) for r in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        return EntryPage(items, encode_cursor([last.created_at.isoformat(), str(last.id)])
                         if last else None)

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


def _lock_key(c: Candidate) -> int:
    digest = hashlib.blake2b(f"behaviours:{c.citizen_id}:{c.type}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _in_force(versions: list[_Version], at: dt.datetime) -> _Version | None:
    for v in versions:
        if v.in_force_from <= at and (v.in_force_to is None or at < v.in_force_to):
            return v
    return None


def _refuse(row: dict[str, Any], reason: str, detail: dict[str, Any]) -> None:
    row["status"], row["reason"], row["reason_detail"] = "rejected", reason, detail


def _record_result(i: int, o: Outcome) -> RecordResult:
    c = o.candidate
    if o.errors:
        return RecordResult(i, c.external_id, "rejected", "invalid_data",
                            [{"field": e.field, "message": e.message} for e in o.errors])
    b = o.behaviour
    assert b is not None
    status = b["status"] if b["status"] in ("credited", "pending_review") else "rejected"
    return RecordResult(i, c.external_id, status, b["reason"], None, b["id"], b["points"])
