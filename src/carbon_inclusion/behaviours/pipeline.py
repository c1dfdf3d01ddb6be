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
   and the day's cap counters (a partner record of a trip another partner record already
   recorded is ``duplicate_trip``: kept for review, not paid);
4. pays the remainder up to each cap, then writes counters, behaviours and ledger entries —
   a handful of statements whatever the number of candidates.

A *period behaviour* (its methodology declares ``once_per``) is settled by its period
instead of the same-trip window: the open behaviour holding the citizen's day or month
(``behaviour_period_keys``, read after the locks) is superseded or the new record refused,
as ``core.periods.settle_period`` decides; monthly caps (``limits.per_month``) count over
the month's day counters.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion import metrics, rules
from carbon_inclusion.behaviours import repository
from carbon_inclusion.behaviours.repository import DayKey
from carbon_inclusion.common import locks
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.idempotency import digest_of
from carbon_inclusion.core import caps, periods, trips
from carbon_inclusion.core import lots as core_lots
from carbon_inclusion.db import after_commit
from carbon_inclusion.errors import FieldError
from carbon_inclusion.ids import uuid7
from carbon_inclusion.ledger import service as ledger
from carbon_inclusion.methodologies import repository as methodologies
from carbon_inclusion.methodologies.repository import Version, Versions, in_force
from carbon_inclusion.registry.service import issued_among
from carbon_inclusion.settings import Settings

ZERO = Decimal(0)
OPEN = ("credited", "pending_review")


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
    photo_id: uuid.UUID | None = None  # the photo a self-report carries (checked by claims)


@dataclass
class Outcome:
    candidate: Candidate
    errors: list[FieldError] = field(default_factory=list)  # refused: nothing stored
    behaviour: dict[str, Any] | None = None  # the row written
    evaluation: rules.Evaluation | None = None  # what the methodology computed

    @property
    def status(self) -> str:
        return self.behaviour["status"] if self.behaviour else "rejected"


Payable = tuple[dict[str, Any], rules.CompiledMethodology, rules.Evaluation]


CITIZEN = "*"  # not a behaviour type: the lock over all of a citizen's behaviours


def lock_key(citizen_id: uuid.UUID, behaviour_type: str) -> int:
    """The lock of a citizen's behaviours of one type (``CITIZEN``: of all of them), held
    by every writer of those behaviours and of the cap counters behind them."""
    return locks.lock_key("behaviours", citizen_id, behaviour_type)


# Told, after the commit, which citizens' credited totals changed (and whether any went down).
OnChange = Callable[[set[uuid.UUID], bool], Awaitable[None]]
# Called inside the transaction, with the citizens' locks held, once behaviours of theirs
# are credited (each with the district its behaviours were recorded in): what follows from a
# credit and must be exactly-once (badges, challenges).
OnCredited = Callable[[AsyncConnection, dict[uuid.UUID, str | None]], Awaitable[None]]
# Told of the credited behaviours (their rows), inside the transaction (live notifications).
OnPaid = Callable[[list[dict[str, Any]]], None]


class Recorder:
    def __init__(self, settings: Settings, on_change: OnChange | None = None,
                 on_credited: Sequence[OnCredited] = (), on_paid: OnPaid | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.settings = settings
        self.clock = clock
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
        citizens = {r["citizen_id"]: r["district_code"] or None for r in paid}
        for hook in self.on_credited:
            await hook(conn, citizens)

    # --- methodology versions -----------------------------------------------------------

    async def versions(self, conn: AsyncConnection, types: Iterable[str]) -> Versions:
        return await methodologies.versions(conn, types)

    async def compile(self, conn: AsyncConnection,
                      versions: Iterable[Version]) -> dict[str, rules.CompiledMethodology]:
        """Compiled methodologies by sha256; documents are fetched only for new hashes."""
        missing = {v.id: v.sha256 for v in versions if v.sha256 not in self._compiled}
        if missing:
            for sha, document in await methodologies.documents(conn, missing):
                # Published documents never change, so a hash names one compiled version.
                self._compiled[sha] = rules.compile_methodology(rules.load_document(document))
        return self._compiled

    async def compiled_by_id(self, conn: AsyncConnection,
                             version_id: uuid.UUID) -> rules.CompiledMethodology:
        sha, document = await methodologies.document_of(conn, version_id)
        if sha not in self._compiled:
            self._compiled[sha] = rules.compile_methodology(rules.load_document(document))
        return self._compiled[sha]

    # --- locks and counters -------------------------------------------------------------

    async def lock(self, conn: AsyncConnection,
                   pairs: Iterable[tuple[uuid.UUID, str]]) -> None:
        """Each (citizen, behaviour type) pair's lock, and each citizen's own (``CITIZEN``:
        what follows a credit, badges and challenges, reads all of a citizen's totals), in
        one sorted pass so that no two callers wait on each other in a circle."""
        pairs = set(pairs)
        keys = sorted({lock_key(c, t) for c, t in pairs} | {lock_key(c, CITIZEN) for c, _ in pairs})
        if len(keys) <= 2:  # one citizen: nothing to hold while waiting for the other
            await conn.execute(locks.LOCK_IN_ORDER, {"keys": keys})
            return
        # Many citizens (a partner batch): all of them or none, so that a batch never holds
        # some citizens while it waits for another (claims of those would queue behind it).
        # Try them all; when one is busy, let go of everything (roll back to the savepoint),
        # wait for that one alone, and try again. Under `make soak`, whose 200 citizens put
        # every batch in every other's way, this and one ordered pass measured alike.
        await conn.exec_driver_sql("SAVEPOINT behaviour_locks")
        while busy := await conn.scalar(locks.TRY_ALL, {"keys": keys}):
            await conn.exec_driver_sql("ROLLBACK TO SAVEPOINT behaviour_locks")
            await conn.execute(locks.LOCK_IN_ORDER, {"keys": busy[:1]})

    async def read_totals(self, conn: AsyncConnection,
                          keys: Iterable[DayKey]) -> dict[DayKey, caps.Usage]:
        return await repository.read_totals(conn, keys)

    async def write_totals(self, conn: AsyncConnection,
                           used: dict[DayKey, caps.Usage]) -> None:
        await repository.write_totals(conn, used)

    def window_of(self, methodology: rules.CompiledMethodology) -> dt.timedelta | None:
        """How close in time two records of a behaviour are the same one: the document's
        ``same_behaviour_window_s`` (0: never, ``None`` here), else the programme's
        same-trip window."""
        seconds = methodology.same_behaviour_window_s
        if seconds is None:
            return self.window
        return dt.timedelta(seconds=seconds) if seconds else None

    def day_keys(self, c: Candidate, window: dt.timedelta | None = None) -> set[DayKey]:
        """The counters a candidate may touch: its own day's, and those of any behaviour
        close enough in time to be the same trip (which it may supersede)."""
        window = self.window if window is None else window
        return {(c.citizen_id, c.type, rules.programme_day(at, self.tz))
                for at in (c.occurred_at - window, c.occurred_at, c.occurred_at + window)}

    # --- the pipeline -------------------------------------------------------------------

    async def record(self, conn: AsyncConnection, candidates: Sequence[Candidate], *,
                     versions: Versions | None = None, locked: bool = False) -> list[Outcome]:
        """Score, settle and pay ``candidates``; see the module docstring.

        ``versions``: the caller fetched them already; ``locked``: it holds the locks.
        """
        now = self.clock.now()
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
            version = in_force(versions.get(c.type, ()), c.occurred_at)
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
            problem = rules.photo_problem(methodology.evidence_tiers[c.evidence],
                                          c.photo_id is not None)
            if problem is not None:
                o.errors = [FieldError("photo_id", problem)]
                continue
            scored.append((o, version, methodology, evaluation))
        if not scored:
            return outcomes

        live = [s[0].candidate for s in scored]
        # None: never one behaviour by time (a period behaviour is settled by its period).
        windows = {id(s[0].candidate): None if s[2].once_per else self.window_of(s[2])
                   for s in scored}
        if not locked:
            await self.lock(conn, {(c.citizen_id, c.type) for c in live})
        starts = {id(o): rules.period_start(m.once_per.period, rules.programme_day(
            o.candidate.occurred_at, self.tz)) for o, _, m, _ in scored if m.once_per}
        holders: dict[repository.PeriodKey, Any] = dict(await repository.period_holders(
            conn, {(o.candidate.citizen_id, o.candidate.type, starts[id(o)])
                   for o, *_ in scored if id(o) in starts}))
        nearby, used = await self._context(conn, live, windows, {
            (h.citizen_id, h.type, h.programme_day) for h in holders.values()})
        issued = await self._issued(conn, live, nearby, [
            holders[k] for o, _, m, e in scored if id(o) in starts
            for k in [(o.candidate.citizen_id, o.candidate.type, starts[id(o)])]
            if k in holders and periods.settle_period(
                m.once_per.later, o.candidate.source, e.reduction_g, holders[k]).supersedes])
        period_days = await self.period_days(conn, [
            (s[0].candidate.citizen_id, s[0].candidate.type, s[0].candidate.occurred_at, s[2])
            for s in scored])
        oldest = now - dt.timedelta(days=self.settings.claim_window_days)
        rows: list[dict[str, Any]] = []
        to_pay: list[Payable] = []
        superseded: dict[uuid.UUID, Any] = {}
        replaced: dict[str, dict[uuid.UUID, Any]] = {}  # period holders, by reason
        dropped: set[uuid.UUID] = set()  # rows of this batch superseded in it
        for o, version, methodology, evaluation in scored:
            c = o.candidate
            row = self._row(c, version, evaluation, now)
            rows.append(row)
            o.behaviour, o.evaluation = row, evaluation
            if methodology.once_per is not None:
                row["period_start"] = starts[id(o)]
                if c.occurred_at < oldest:
                    _refuse(row, "outside_claim_window",
                            {"claim_window_days": self.settings.claim_window_days})
                    continue
                key = (c.citizen_id, c.type, row["period_start"])
                holder = holders.get(key)
                settled_period = periods.settle_period(
                    methodology.once_per.later, c.source, evaluation.reduction_g, holder,
                    issued)
                if settled_period.refused is not None:
                    _refuse(row, settled_period.refused, {
                        "behaviour_id": str(settled_period.because),
                        "period": methodology.once_per.period,
                        "period_start": row["period_start"].isoformat()})
                    continue
                if holder is not None:
                    reason = ("superseded_by_partner" if c.source == "partner"
                              and holder.source == "app" else "superseded_by_later_record")
                    earlier = getattr(holder, "row", None)
                    if earlier is not None:  # recorded earlier in this batch: not written
                        earlier["status"], earlier["reason"] = "superseded", reason
                        earlier["reduction_g"], earlier["points"] = ZERO, 0
                        dropped.add(earlier["id"])
                    else:
                        replaced.setdefault(reason, {})[holder.id] = holder
                _review_or_pay(row, c, methodology, evaluation, to_pay)
                holders[key] = SimpleNamespace(
                    id=row["id"], source=c.source, row=row,
                    computed_reduction_g=evaluation.reduction_g)
                continue
            window = windows[id(c)]
            trip = trips.same_trip(c.occurred_at, nearby.get((c.citizen_id, c.type), ()),
                                   window, ignore=superseded) if window is not None else []
            settled = trips.settle(c.source, trip, issued)
            if c.occurred_at < oldest:
                _refuse(row, "outside_claim_window",
                        {"claim_window_days": self.settings.claim_window_days})
            elif settled.refused is not None:
                # issued_as_credits: the app's report of this trip backs issued credits; it
                # stays, and the partner's record of the same trip would count it twice.
                _refuse(row, settled.refused, {"behaviour_id": str(settled.because)})
            elif settled.duplicate_of is not None:
                # The same trip, already recorded by a partner (this or another): kept, not
                # paid, shown to review.
                row["flags"] = ["duplicate_trip"]
                row["status"], row["reason"] = "pending_review", "duplicate_trip"
                row["reason_detail"] = {"behaviour_id": str(settled.duplicate_of)}
            else:
                superseded.update((b.id, b) for b in trip if b.id in settled.supersedes)
                if settled.overlapping:
                    row["flags"] = ["overlapping"]
                _review_or_pay(row, c, methodology, evaluation, to_pay)
                if c.source == "partner":  # a later record of this batch may repeat it
                    nearby.setdefault((c.citizen_id, c.type), []).append(SimpleNamespace(
                        id=row["id"], source="partner", occurred_at=c.occurred_at,
                        status=row["status"]))
        released = await self._supersede(conn, list(superseded.values()), now)
        for reason, behaviours in sorted(replaced.items()):
            released += await self._supersede(
                conn, list(behaviours.values()), now, reason=reason,
                memo="superseded by a later record of the same period")
        for b in released:
            release(used, b)
        self.pay([p for p in to_pay if p[0]["id"] not in dropped], used, period_days)
        entries = self.credits(rows)
        # A refused app claim is kept (its replay must answer the same); a refused partner
        # record is not (the partner may correct and resend it).
        kept = [r for r in rows if r["status"] != "rejected" or r["source"] == "app"]
        # Counters, behaviours, entries and postings: one statement.
        await repository.write(conn, used, kept, entries)
        await self.credited(conn, rows)
        self.changed({r["citizen_id"] for r in rows if r["status"] == "credited"}
                      | {b.citizen_id for b in released}, bool(released))
        return outcomes

    async def _issued(self, conn: AsyncConnection, candidates: list[Candidate],
                      nearby: dict[tuple[uuid.UUID, str], list[Any]],
                      holders: Iterable[Any] = ()) -> set[uuid.UUID]:
        """Which app reports a partner record could supersede, and which period holders a
        later record could supersede, already back issued credits. Asked under the registry
        lock (rarely: only when there is such a behaviour), so no issuance takes them
        between this answer and the commit."""
        return await issued_among(conn, sorted({
            b.id for c in candidates if c.source == "partner"
            for b in nearby.get((c.citizen_id, c.type), ())
            if b.source == "app" and b.status == "credited"}
            | {h.id for h in holders if h.status == "credited"}))

    async def period_days(self, conn: AsyncConnection,
                          items: Iterable[tuple[uuid.UUID, str, dt.datetime,
                                                rules.CompiledMethodology]]
                          ) -> dict[DayKey, caps.Usage]:
        """The day counters of the months (citizen, type, occurred_at) falls in, for those
        whose methodology caps a month (``limits.per_month``): what the month's caps count."""
        ranges = {(c, t, *rules.period_bounds("month", rules.programme_day(at, self.tz)))
                  for c, t, at, m in items if "month" in m.period_limits}
        return await repository.totals_between(conn, ranges) if ranges else {}

    async def _context(self, conn: AsyncConnection, candidates: list[Candidate],
                       windows: dict[int, dt.timedelta | None], days: Iterable[DayKey] = ()
                       ) -> tuple[dict[tuple[uuid.UUID, str], list[repository.Nearby]],
                                  dict[DayKey, caps.Usage]]:
        """Open behaviours close in time (each candidate's window: ``windows`` by its id),
        and the cap counters (those of ``days`` too: the days of period holders a candidate
        may supersede), in one statement."""
        reach = {i: w or dt.timedelta(0) for i, w in windows.items()}
        lo = min(c.occurred_at - reach[id(c)] for c in candidates)
        hi = max(c.occurred_at + reach[id(c)] for c in candidates)
        keys = sorted(set().union(*(self.day_keys(c, reach[id(c)]) for c in candidates),
                                  days))
        return await repository.context(conn, {c.citizen_id for c in candidates},
                                        {c.type for c in candidates}, lo, hi, keys)

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
            "reviewed_by": None, "review_reason": None, "period_start": None,
        }

    async def _supersede(self, conn: AsyncConnection, behaviours: list[Any],
                         now: dt.datetime, *, reason: str = "superseded_by_partner",
                         memo: str = "superseded by a partner record") -> list[Any]:
        """A partner record replaces the app's self-report of the same trip (or a later
        record the holder of its period): undo its pay. Returns the paid ones, whose
        counters the caller releases."""
        if not behaviours:
            return []
        await repository.supersede(conn, [b.id for b in behaviours], now, reason)
        paid = [b for b in behaviours if b.status == "credited"]
        await self.reverse(conn, paid, memo, partial=True)
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
                    request_hash=digest_of(str(b.ledger_entry_id)),
                    behaviour_id=b.id, reverses_id=b.ledger_entry_id, memo=memo, lots=take))
        await ledger.post(conn, entries)
        self.changed({b.citizen_id for b in paid}, True)

    def pay(self, to_pay: list[Payable], used: dict[DayKey, caps.Usage],
            period_days: dict[DayKey, caps.Usage] | None = None) -> None:
        """Apply the caps per day and per month in order of occurrence; fill in what each
        row is paid. ``used``: the day counters written back; ``period_days``: the other
        stored days of months whose caps are counted (``period_days()``)."""
        for row, methodology, e in sorted(to_pay, key=lambda x: x[0]["occurred_at"]):
            key = (row["citizen_id"], row["type"], row["programme_day"])
            before = used.get(key, caps.Usage())
            usage = {"day": before}
            if "month" in methodology.period_limits:
                usage["month"] = month_usage(used, period_days or {}, key)
            paid = rules.apply_limits(
                methodology.period_limits, usage, e.reduction_g, e.points,
                lambda g, e=e, m=methodology: m.points_for(e, g))
            used[key] = caps.after(before, caps.Paid(paid.reduction_g, paid.points))
            row["reduction_g"], row["points"] = paid.reduction_g, paid.points
            if "month" in paid.capped_in:
                _, last = rules.period_bounds("month", row["programme_day"])
                end, _ = rules.day_bounds(last, self.tz)
                row["reason"] = "monthly_cap_reached"
                row["reason_detail"] = {"capped_by": list(paid.capped_by),
                                        "earn_again_at": end.astimezone(self.tz).isoformat()}
            elif paid.capped_by:
                _, end = rules.day_bounds(row["programme_day"], self.tz)
                row["reason"] = "daily_cap_reached"
                row["reason_detail"] = {"capped_by": list(paid.capped_by),
                                        "earn_again_at": end.astimezone(self.tz).isoformat()}

    def credits(self, rows: list[dict[str, Any]]) -> list[ledger.Entry]:
        """Ledger entries for the credited rows; sets each row's ``ledger_entry_id``."""
        entries = []
        lot = ledger.lot_of(self.clock.now(), self.tz)
        for row in rows:
            if row["status"] == "credited" and row["points"] > 0:
                row["ledger_entry_id"] = uuid7()
                entries.append(ledger.Entry(
                    id=row["ledger_entry_id"], citizen_id=row["citizen_id"],
                    kind="behaviour_credit", points=row["points"], counter="issuance",
                    idempotency_key=f"behaviour:{row['id']}",
                    request_hash=row["request_hash"] or digest_of(
                        f"{row['partner_id']}:{row['external_id']}:{row['id']}"),
                    behaviour_id=row["id"], lots=((lot, row["points"]),)))
        return entries


def month_usage(used: dict[DayKey, caps.Usage], stored: dict[DayKey, caps.Usage],
                key: DayKey) -> caps.Usage:
    """What the month of ``key``'s day has paid: each of its days as counted now (``used``)
    or else as stored (``stored``)."""
    citizen, kind, day = key
    first, end = rules.period_bounds("month", day)
    count, grams, points = 0, ZERO, 0
    for n in range((end - first).days):
        k = (citizen, kind, first + dt.timedelta(days=n))
        u = used.get(k) or stored.get(k)
        if u is not None:
            count, grams, points = count + u.count, grams + u.reduction_g, points + u.points
    return caps.Usage(count, grams, points)


def release(used: dict[DayKey, caps.Usage], behaviour: Any) -> None:
    """Give a day's counters back what ``behaviour`` had been paid."""
    key = (behaviour.citizen_id, behaviour.type, behaviour.programme_day)
    used[key] = caps.release(used.get(key, caps.Usage()), behaviour.reduction_g,
                             behaviour.points)


def _review_or_pay(row: dict[str, Any], c: Candidate, methodology: rules.CompiledMethodology,
                   evaluation: rules.Evaluation, to_pay: list[Payable]) -> None:
    """A scored row that stands: it waits for review when a flag is on it (``overlapping``,
    or the document's review flags, shown with why), its evidence tier asks for review, or
    the photo it carries does; otherwise it is to be paid."""
    if evaluation.flags:  # the document's review flags: why a person must look
        row["flags"] = [*row["flags"], *evaluation.flags]
        row["reason_detail"] = {"review_flags": methodology.review_details(evaluation.flags)}
    if evaluation.needs_review or row["flags"] or rules.photo_sends_to_review(
            methodology.evidence_tiers[c.evidence], c.photo_id is not None):
        row["status"] = "pending_review"
        row["reason"] = ("overlapping" if "overlapping" in row["flags"] else
                         "flagged_for_review" if evaluation.flags else "needs_review")
    else:
        to_pay.append((row, methodology, evaluation))


def _refuse(row: dict[str, Any], reason: str, detail: dict[str, Any]) -> None:
    row["status"], row["reason"], row["reason_detail"] = "rejected", reason, detail
