"""The one way a behaviour is recorded and paid, shared by app claims, partner batches,
bindings and review.

``Recorder.record`` takes candidate behaviours and, inside the caller's transaction:

1. scores each with the methodology version in force at its ``occurred_at``;
2. takes a transaction lock per (citizen, behaviour type), in a fixed order so that two
   writers never deadlock; every writer of a citizen's behaviours of one type, and of the
   cap counters behind them, holds it, so what is read next cannot change underneath;
3. reads, in one statement, the open behaviours close in time (the same trip recorded twice:
   a partner record supersedes an app self-report and reverses its pay; a self-report of a
   trip a partner already sent is refused; two self-reports close together wait for review)
   and the day's cap counters;
4. pays the remainder up to each cap, then writes counters, behaviours and ledger entries —
   a handful of statements whatever the number of candidates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion import metrics, rules
from carbon_inclusion.behaviours.models import Behaviour
from carbon_inclusion.core import caps, trips
from carbon_inclusion.core import lots as core_lots
from carbon_inclusion.db import after_commit
from carbon_inclusion.errors import FieldError
from carbon_inclusion.ids import uuid7
from carbon_inclusion.ledger import service as ledger
from carbon_inclusion.methodologies.models import MethodologyVersion
from carbon_inclusion.methodologies.service import PUBLIC_STATUSES
from carbon_inclusion.registry.service import issued_among
from carbon_inclusion.settings import Settings

ZERO = Decimal(0)
OPEN = ("credited", "pending_review")
DayKey = tuple[uuid.UUID, str, dt.date]


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
    evaluation: rules.Evaluation | None = None  # what the methodology computed

    @property
    def status(self) -> str:
        return self.behaviour["status"] if self.behaviour else "rejected"


@dataclass(frozen=True, slots=True)
class Version:
    """A published (or retired) methodology version's identity and period in force."""

    id: uuid.UUID
    code: str
    version: int
    sha256: str
    in_force_from: dt.datetime
    in_force_to: dt.datetime | None
    behaviour: str

    def in_force(self, at: dt.datetime) -> bool:
        return self.in_force_from <= at and (self.in_force_to is None or at < self.in_force_to)


Versions = dict[str, list[Version]]
Payable = tuple[dict[str, Any], rules.CompiledMethodology, rules.Evaluation]


CITIZEN = "*"  # not a behaviour type: the lock over all of a citizen's behaviours


def lock_key(citizen_id: uuid.UUID, behaviour_type: str) -> int:
    digest = hashlib.blake2b(f"behaviours:{citizen_id}:{behaviour_type}".encode(),
                             digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


# Transaction locks on :keys, taken in order (so that no two takers wait in a circle).
LOCK_IN_ORDER = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) "
                     "AS k ORDER BY k")
# The keys that could not be taken at once (null when all were), in order.
_TRY_ALL = text("SELECT array_agg(k ORDER BY k) FILTER (WHERE NOT pg_try_advisory_xact_lock(k)) "
                "FROM unnest(CAST(:keys AS bigint[])) AS k")

# Versions as JSON, so a caller can fetch them inside a statement it runs anyway.
VERSIONS_JSON = (
    "(SELECT coalesce(json_agg(json_build_array(id, code, version, sha256, in_force_from, "
    "in_force_to, behaviour)), '[]') FROM methodology_versions "
    "WHERE behaviour = ANY(CAST(:types AS text[])) AND status IN ('published', 'retired') "
    "AND kind = 'behaviour')")


def parse_versions(raw: str | list[Any]) -> Versions:
    rows = json.loads(raw) if isinstance(raw, str) else raw
    out: Versions = defaultdict(list)
    for vid, code, version, sha, start, end, behaviour in rows:
        out[behaviour].append(Version(
            uuid.UUID(vid), code, version, sha, dt.datetime.fromisoformat(start),
            dt.datetime.fromisoformat(end) if end else None, behaviour))
    return out


# Told, after the commit, which citizens' credited totals changed (and whether any went down).
OnChange = Callable[[set[uuid.UUID], bool], Awaitable[None]]
# Called inside the transaction, with the citizens' locks held, once behaviours of theirs
# are credited: what follows from a credit and must be exactly-once (badges, challenges).
OnCredited = Callable[[AsyncConnection, set[uuid.UUID]], Awaitable[None]]
# Told of the credited behaviours (their rows), inside the transaction (live notifications).
OnPaid = Callable[[list[dict[str, Any]]], None]


class Recorder:
    def __init__(self, settings: Settings, on_change: OnChange | None = None,
                 on_credited: Sequence[OnCredited] = (), on_paid: OnPaid | None = None
                 ) -> None:
        self.settings = settings
        self.tz = settings.tz
        self.window = dt.timedelta(seconds=settings.same_trip_window_s)
        self.on_change = on_change
        self.on_credited = tuple(on_credited)
        self.on_paid = on_paid
        self._compiled: dict[str, rules.CompiledMethodology] = {}

    def changed(self, citizens: set[uuid.UUID], lowered: bool) -> None:
        """Tell ``on_change`` about these citizens once the caller's transaction commits."""
        if citizens and self.on_change is not None:
            on_change = self.on_change
            after_commit(lambda: on_change(citizens, lowered))

    async def credited(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        """What follows, in the same transaction, from crediting these behaviour rows."""
        paid = [r for r in rows if r["status"] == "credited"]
        if not paid:
            return
        metrics.behaviours_credited(paid)
        if self.on_paid is not None:
            self.on_paid(paid)
        citizens = {r["citizen_id"] for r in paid}
        for hook in self.on_credited:
            await hook(conn, citizens)

    # --- methodology versions -----------------------------------------------------------

    async def versions(self, conn: AsyncConnection, types: Iterable[str]) -> Versions:
        raw = await conn.scalar(text(f"SELECT {VERSIONS_JSON}"), {"types": sorted(set(types))})
        return parse_versions(raw)

    async def compile(self, conn: AsyncConnection,
                      versions: Iterable[Version]) -> dict[str, rules.CompiledMethodology]:
        """Compiled methodologies by sha256; documents are fetched only for new hashes."""
        missing = {v.id: v.sha256 for v in versions if v.sha256 not in self._compiled}
        if missing:
            rows = (await conn.execute(
                select(MethodologyVersion.sha256, MethodologyVersion.document)
                .where(MethodologyVersion.id.in_(missing),
                       MethodologyVersion.status.in_(PUBLIC_STATUSES)))).all()
            for sha, document in rows:
                # Published documents never change, so a hash names one compiled version.
                self._compiled[sha] = rules.compile_methodology(rules.load_document(document))
        return self._compiled

    async def compiled_by_id(self, conn: AsyncConnection,
                             version_id: uuid.UUID) -> rules.CompiledMethodology:
        row = (await conn.execute(
            select(MethodologyVersion.sha256, MethodologyVersion.document)
            .where(MethodologyVersion.id == version_id))).one()
        if row.sha256 not in self._compiled:
            self._compiled[row.sha256] = rules.compile_methodology(
                rules.load_document(row.document))
        return self._compiled[row.sha256]

    # --- locks and counters -------------------------------------------------------------

    async def lock(self, conn: AsyncConnection,
                   pairs: Iterable[tuple[uuid.UUID, str]]) -> None:
        """Each (citizen, behaviour type) pair's lock, and each citizen's own (``CITIZEN``:
        what follows a credit, badges and challenges, reads all of a citizen's totals), in
        one sorted pass so that no two callers wait on each other in a circle."""
        pairs = set(pairs)
        keys = sorted({lock_key(c, t) for c, t in pairs} | {lock_key(c, CITIZEN) for c, _ in pairs})
        if len(keys) <= 2:  # one citizen: nothing to hold while waiting for the other
            await conn.execute(LOCK_IN_ORDER, {"keys": keys})
            return
        # Many citizens (a partner batch): all of them or none, so that a batch never holds
        # some citizens while it waits for another (claims of those would queue behind it).
        # Try them all; when one is busy, let go of everything (roll back to the savepoint),
        # wait for that one alone, and try again. Under `make soak`, whose 200 citizens put
        # every batch in every other's way, this and one ordered pass measured alike.
        await conn.exec_driver_sql("SAVEPOINT behaviour_locks")
        while busy := await conn.scalar(_TRY_ALL, {"keys": keys}):
            await conn.exec_driver_sql("ROLLBACK TO SAVEPOINT behaviour_locks")
            await conn.execute(LOCK_IN_ORDER, {"keys": busy[:1]})

    async def read_totals(self, conn: AsyncConnection,
                          keys: Iterable[DayKey]) -> dict[DayKey, rules.DayUsage]:
        keys = sorted(set(keys))
        rows = (await conn.execute(text(
            "SELECT citizen_id, type, day, count, grams, points FROM daily_totals "
            "WHERE (citizen_id, type, day) IN (SELECT * FROM unnest(CAST(:c AS uuid[]), "
            "CAST(:t AS text[]), CAST(:d AS date[])))"),
            {"c": [k[0] for k in keys], "t": [k[1] for k in keys],
             "d": [k[2] for k in keys]})).all()
        used = dict.fromkeys(keys, rules.DayUsage())
        used.update({(r.citizen_id, r.type, r.day): rules.DayUsage(r.count, r.grams, r.points)
                     for r in rows})
        return used

    async def write_totals(self, conn: AsyncConnection,
                           used: dict[DayKey, rules.DayUsage]) -> None:
        """Store the counters as computed under the lock (absolute values, not deltas)."""
        if used:
            await conn.execute(text(_TOTALS_UPSERT), _totals_params(used))

    def day_keys(self, c: Candidate) -> set[DayKey]:
        """The counters a candidate may touch: its own day's, and those of any behaviour
        close enough in time to be the same trip (which it may supersede)."""
        return {(c.citizen_id, c.type, rules.programme_day(at, self.tz))
                for at in (c.occurred_at - self.window, c.occurred_at,
                           c.occurred_at + self.window)}

    # --- the pipeline -------------------------------------------------------------------

    async def record(self, conn: AsyncConnection, candidates: Sequence[Candidate], *,
                     versions: Versions | None = None, locked: bool = False) -> list[Outcome]:
        """Score, settle and pay ``candidates``; see the module docstring.

        ``versions``: the caller fetched them already; ``locked``: it holds the locks.
        """
        now = dt.datetime.now(dt.UTC)
        outcomes = [Outcome(c) for c in candidates]
        if not candidates:
            return outcomes
        if versions is None:
            versions = await self.versions(conn, {c.type for c in candidates})
        compiled = await self.compile(conn, [v for vs in versions.values() for v in vs])
        skew = now + dt.timedelta(seconds=self.settings.clock_skew_s)
        scored: list[tuple[Outcome, Version, rules.CompiledMethodology, rules.Evaluation]] = []
        for o in outcomes:
            c = o.candidate
            if c.occurred_at > skew:
                o.errors = [FieldError("occurred_at", "is in the future")]
                continue
            version = next((v for v in versions.get(c.type, ()) if v.in_force(c.occurred_at)),
                           None)
            if version is None:
                o.errors = [FieldError("type", f"no methodology scores {c.type!r}")
                            if c.type not in versions else
                            FieldError("occurred_at", f"no methodology for {c.type} was in "
                                       "force at that time")]
                continue
            methodology = compiled[version.sha256]
            try:
                evaluation = methodology.evaluate(c.data, c.evidence)
            except rules.InputError as exc:
                o.errors = [FieldError(e.field, e.message) for e in exc.errors]
                continue
            scored.append((o, version, methodology, evaluation))
        if not scored:
            return outcomes

        live = [s[0].candidate for s in scored]
        if not locked:
            await self.lock(conn, {(c.citizen_id, c.type) for c in live})
        nearby, used = await self._context(conn, live)
        issued = await self._issued(conn, live, nearby)
        oldest = now - dt.timedelta(days=self.settings.claim_window_days)
        rows: list[dict[str, Any]] = []
        to_pay: list[Payable] = []
        superseded: dict[uuid.UUID, Any] = {}
        for o, version, methodology, evaluation in scored:
            c = o.candidate
            row = self._row(c, version, evaluation, now)
            rows.append(row)
            o.behaviour, o.evaluation = row, evaluation
            trip = trips.same_trip(c.occurred_at, nearby.get((c.citizen_id, c.type), ()),
                                   self.window, ignore=superseded)
            settled = trips.settle(c.source, trip, issued)
            if c.occurred_at < oldest:
                _refuse(row, "outside_claim_window",
                        {"claim_window_days": self.settings.claim_window_days})
            elif settled.refused is not None:
                # issued_as_credits: the app's report of this trip backs issued credits; it
                # stays, and the partner's record of the same trip would count it twice.
                _refuse(row, settled.refused, {"behaviour_id": str(settled.because)})
            else:
                superseded.update((b.id, b) for b in trip if b.id in settled.supersedes)
                if settled.overlapping:
                    row["flags"] = ["overlapping"]
                if evaluation.needs_review or row["flags"]:
                    row["status"] = "pending_review"
                    row["reason"] = "overlapping" if row["flags"] else "needs_review"
                else:
                    to_pay.append((row, methodology, evaluation))
        released = await self._supersede(conn, list(superseded.values()), now)
        for b in released:
            release(used, b)
        self.pay(to_pay, used)
        entries = self.credits(rows)
        # A refused app claim is kept (its replay must answer the same); a refused partner
        # record is not (the partner may correct and resend it).
        kept = [r for r in rows if r["status"] != "rejected" or r["source"] == "app"]
        # Counters, behaviours, entries and postings: one statement.
        await conn.execute(_WRITE, _totals_params(used) | _behaviour_params(kept)
                           | ledger.post_params(entries))
        await self.credited(conn, rows)
        self.changed({r["citizen_id"] for r in rows if r["status"] == "credited"}
                      | {b.citizen_id for b in released}, bool(released))
        return outcomes

    async def _issued(self, conn: AsyncConnection, candidates: list[Candidate],
                      nearby: dict[tuple[uuid.UUID, str], list[Any]]) -> set[uuid.UUID]:
        """Which app reports a partner record could supersede already back issued credits.
        Asked under the registry lock (rarely: only when there is such a report), so no
        issuance takes them between this answer and the commit."""
        return await issued_among(conn, sorted({
            b.id for c in candidates if c.source == "partner"
            for b in nearby.get((c.citizen_id, c.type), ())
            if b.source == "app" and b.status == "credited"}))

    async def _context(self, conn: AsyncConnection, candidates: list[Candidate]
                       ) -> tuple[dict[tuple[uuid.UUID, str], list[Any]],
                                  dict[DayKey, rules.DayUsage]]:
        """Open behaviours close in time, and the cap counters, in one statement."""
        lo = min(c.occurred_at for c in candidates) - self.window
        hi = max(c.occurred_at for c in candidates) + self.window
        keys = sorted(set().union(*(self.day_keys(c) for c in candidates)))
        row = (await conn.execute(_CONTEXT, {
            "cs": sorted({c.citizen_id for c in candidates}),
            "ts": sorted({c.type for c in candidates}), "lo": lo, "hi": hi,
            "c": [k[0] for k in keys], "t": [k[1] for k in keys],
            "d": [k[2] for k in keys]})).one()
        nearby: dict[tuple[uuid.UUID, str], list[Any]] = defaultdict(list)
        for b in _json(row.nearby):
            behaviour = _Nearby(uuid.UUID(b[0]), uuid.UUID(b[1]), b[2],
                                dt.datetime.fromisoformat(b[3]), b[4], b[5], b[6],
                                Decimal(str(b[7])), dt.date.fromisoformat(b[8]),
                                uuid.UUID(b[9]) if b[9] else None)
            nearby[(behaviour.citizen_id, behaviour.type)].append(behaviour)
        used = dict.fromkeys(keys, rules.DayUsage())
        for c, t, d, n, g, p in _json(row.totals):
            used[(uuid.UUID(c), t, dt.date.fromisoformat(d))] = rules.DayUsage(
                n, Decimal(str(g)), p)
        return nearby, used

    def _row(self, c: Candidate, version: Version, e: rules.Evaluation,
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

    async def _supersede(self, conn: AsyncConnection, behaviours: list[Any],
                         now: dt.datetime) -> list[Any]:
        """A partner record replaces the app's self-report of the same trip: undo its pay.
        Returns the paid ones, whose counters the caller releases."""
        if not behaviours:
            return []
        t = Behaviour.__table__
        await conn.execute(
            update(t).where(t.c.id == bindparam("bid"))
            .values(status="superseded", reason="superseded_by_partner", decided_at=now),
            [{"bid": b.id} for b in behaviours])
        paid = [b for b in behaviours if b.status == "credited"]
        await self.reverse(conn, paid, "superseded by a partner record", partial=True)
        return paid

    async def reverse(self, conn: AsyncConnection, behaviours: Iterable[Any], memo: str, *,
                      partial: bool = False) -> None:
        """Take back what ``behaviours`` were paid. Points already spent cannot come back:
        ``ledger.InsufficientPoints``, or with ``partial`` whatever is left is taken."""
        paid = [b for b in behaviours if b.points > 0 and b.ledger_entry_id is not None]
        if not paid:
            return
        wanted: dict[uuid.UUID, int] = {}
        for b in paid:
            wanted[b.citizen_id] = wanted.get(b.citizen_id, 0) + b.points
        lots = await ledger.allocate(conn, wanted, partial=partial)
        entries = []
        for b in paid:
            take, lots[b.citizen_id] = core_lots.split(lots.get(b.citizen_id, ()), b.points)
            if take:
                entries.append(ledger.Entry(
                    citizen_id=b.citizen_id, kind="reversal",
                    points=sum(a for _, a in take), counter="reversal",
                    idempotency_key=f"reversal:{b.ledger_entry_id}",
                    request_hash=hashlib.sha256(str(b.ledger_entry_id).encode()).digest(),
                    behaviour_id=b.id, reverses_id=b.ledger_entry_id, memo=memo, lots=take))
        await ledger.post(conn, entries)
        self.changed({b.citizen_id for b in paid}, True)

    def pay(self, to_pay: list[Payable], used: dict[DayKey, rules.DayUsage]) -> None:
        """Apply the daily caps in order of occurrence; fill in what each row is paid."""
        for row, methodology, e in sorted(to_pay, key=lambda x: x[0]["occurred_at"]):
            key = (row["citizen_id"], row["type"], row["programme_day"])
            before = used.get(key, rules.DayUsage())
            paid = rules.apply_daily_limits(
                methodology.limits, before, e.reduction_g, e.points,
                lambda g, e=e, m=methodology: m.points_for(e, g))
            used[key] = caps.after(before, paid)
            row["reduction_g"], row["points"] = paid.reduction_g, paid.points
            if paid.capped_by:
                _, end = rules.day_bounds(row["programme_day"], self.tz)
                row["reason"] = "daily_cap_reached"
                row["reason_detail"] = {"capped_by": list(paid.capped_by),
                                        "earn_again_at": end.astimezone(self.tz).isoformat()}

    def credits(self, rows: list[dict[str, Any]]) -> list[ledger.Entry]:
        """Ledger entries for the credited rows; sets each row's ``ledger_entry_id``."""
        entries = []
        lot = ledger.lot_of(dt.datetime.now(dt.UTC), self.tz)
        for row in rows:
            if row["status"] == "credited" and row["points"] > 0:
                row["ledger_entry_id"] = uuid7()
                entries.append(ledger.Entry(
                    id=row["ledger_entry_id"], citizen_id=row["citizen_id"],
                    kind="behaviour_credit", points=row["points"], counter="issuance",
                    idempotency_key=f"behaviour:{row['id']}",
                    request_hash=row["request_hash"] or hashlib.sha256(
                        f"{row['partner_id']}:{row['external_id']}:{row['id']}".encode()
                    ).digest(),
                    behaviour_id=row["id"], lots=((lot, row["points"]),)))
        return entries


@dataclass(frozen=True, slots=True)
class _Nearby:
    id: uuid.UUID
    citizen_id: uuid.UUID
    type: str
    occurred_at: dt.datetime
    source: str
    status: str
    points: int
    reduction_g: Decimal
    programme_day: dt.date
    ledger_entry_id: uuid.UUID | None


_CONTEXT = text(
    "SELECT (SELECT coalesce(json_agg(json_build_array(id, citizen_id, type, "
    "occurred_at, source, status, points, reduction_g, programme_day, ledger_entry_id)"
    "), '[]') FROM behaviours WHERE citizen_id = ANY(CAST(:cs AS uuid[])) "
    "AND type = ANY(CAST(:ts AS text[])) AND status IN ('credited', 'pending_review') "
    "AND occurred_at BETWEEN :lo AND :hi) AS nearby, "
    "(SELECT coalesce(json_agg(json_build_array(citizen_id, type, day, count, grams, "
    "points)), '[]') FROM daily_totals WHERE (citizen_id, type, day) IN "
    "(SELECT * FROM unnest(CAST(:c AS uuid[]), CAST(:t AS text[]), "
    "CAST(:d AS date[])))) AS totals")

_TOTALS_UPSERT = (
    "INSERT INTO daily_totals (citizen_id, type, day, count, grams, points) "
    "SELECT * FROM unnest(CAST(:t_c AS uuid[]), CAST(:t_t AS text[]), CAST(:t_d AS date[]), "
    "CAST(:t_n AS int[]), CAST(:t_g AS numeric[]), CAST(:t_p AS int[])) "
    "ON CONFLICT (citizen_id, type, day) DO UPDATE SET count = EXCLUDED.count, "
    "grams = EXCLUDED.grams, points = EXCLUDED.points")

BEHAVIOUR_COLUMNS = (
    ("id", "uuid"), ("citizen_id", "uuid"), ("type", "text"), ("occurred_at", "timestamptz"),
    ("programme_day", "date"), ("district_code", "text"), ("source", "text"),
    ("evidence", "text"), ("partner_id", "text"), ("external_id", "text"),
    ("idempotency_key", "text"), ("request_hash", "bytea"), ("status", "text"),
    ("reason", "text"), ("reason_detail", "jsonb"), ("flags", "jsonb"), ("data", "jsonb"),
    ("methodology_id", "uuid"), ("methodology_code", "text"), ("methodology_version", "bigint"),
    ("computed_reduction_g", "numeric"), ("computed_points", "int"), ("reduction_g", "numeric"),
    ("points", "int"), ("ledger_entry_id", "uuid"), ("created_at", "timestamptz"),
    ("decided_at", "timestamptz"),
)
_NAMES = [name for name, _ in BEHAVIOUR_COLUMNS]
_BEHAVIOURS_INSERT = (
    f"INSERT INTO behaviours ({', '.join(_NAMES)}) SELECT "  # noqa: S608 - constant SQL
    + ", ".join("ARRAY(SELECT jsonb_array_elements_text(u.flags))" if n == "flags"
                else f"u.{n}" for n in _NAMES)
    + " FROM unnest(" + ", ".join(f"CAST(:b_{n} AS {t}[])" for n, t in BEHAVIOUR_COLUMNS)
    + f") AS u({', '.join(_NAMES)})")
_WRITE = text(f"WITH totals AS ({_TOTALS_UPSERT}), new_behaviours AS ({_BEHAVIOURS_INSERT}), "
              f"{ledger.ENTRIES_CTE} {ledger.POSTINGS_INSERT}")


def _totals_params(used: dict[DayKey, rules.DayUsage]) -> dict[str, list[Any]]:
    items = sorted(used.items())
    return {"t_c": [k[0] for k, _ in items], "t_t": [k[1] for k, _ in items],
            "t_d": [k[2] for k, _ in items], "t_n": [u.count for _, u in items],
            "t_g": [u.reduction_g for _, u in items], "t_p": [u.points for _, u in items]}


_encode = msgspec.json.Encoder().encode


def _behaviour_params(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    params: dict[str, list[Any]] = {f"b_{n}": [] for n in _NAMES}
    for row in rows:
        for n in _NAMES:
            value = row[n]
            if n in ("flags", "data", "reason_detail") and value is not None:
                value = _encode(value).decode()
            params[f"b_{n}"].append(value)
    return params


def release(used: dict[DayKey, rules.DayUsage], behaviour: Any) -> None:
    """Give a day's counters back what ``behaviour`` had been paid."""
    key = (behaviour.citizen_id, behaviour.type, behaviour.programme_day)
    used[key] = caps.release(used.get(key, caps.Usage()), behaviour.reduction_g,
                             behaviour.points)


def _json(raw: Any) -> list[Any]:
    return json.loads(raw, parse_float=Decimal) if isinstance(raw, str) else raw


def _refuse(row: dict[str, Any], reason: str, detail: dict[str, Any]) -> None:
    row["status"], row["reason"], row["reason_detail"] = "rejected", reason, detail
