"""Challenges: time-boxed goals, alone ("10 metro trips this week") or by district ("the
district that saves the most this month").

Progress is read from ``daily_totals`` over the challenge's programme days, so a behaviour
credited late for a day inside the window counts, and one taken back stops counting.

* individual: a participant whose count or grams reaches the target completes it; this is
  decided inside the transaction that credits the behaviour (or the one that joins, if the
  goal is met already), under the citizen's lock, and ``completed_at IS NULL`` plus the
  bonus's ledger idempotency key make the bonus paid once;
* district: participants count for the district they joined from. Standings are live; once
  the last day is over, ``carbon-inclusion challenges settle`` (or the admin endpoint) pays
  every participant of the leading district, once (``settled_at``, and the ledger key).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.behaviours.pipeline import CITIZEN, lock_key
from carbon_inclusion.db import Database
from carbon_inclusion.errors import Conflict, FieldError, InvalidInput, NotFound
from carbon_inclusion.ids import uuid7
from carbon_inclusion.ledger import service as ledger
from carbon_inclusion.notifications import Notifier
from carbon_inclusion.settings import Settings

BEHAVIOUR = r"^[a-z][a-z0-9_]{1,63}$"
RUNNING_TTL_S = 2.0


class ChallengeIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title_zh: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    title_en: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    kind: Literal["individual", "district"] = "individual"
    # The behaviour type counted; null counts every behaviour.
    behaviour: Annotated[str, msgspec.Meta(pattern=BEHAVIOUR)] | None = None
    measure: Literal["count", "grams"] = "count"
    target: Decimal
    starts_on: dt.date  # programme days (Asia/Shanghai), both included
    ends_on: dt.date
    bonus_points: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 0


class StandingOut(msgspec.Struct):
    district: str
    value: Decimal
    participants: int


class ChallengeOut(msgspec.Struct):
    id: uuid.UUID
    title_zh: str
    title_en: str
    kind: str
    behaviour: str | None
    measure: str
    target: Decimal
    starts_on: dt.date
    ends_on: dt.date
    bonus_points: int
    state: str  # upcoming, running, ended
    participants: int
    joined: bool | None = None  # with a citizen's token
    progress: Decimal | None = None  # the caller's own (individual) or district's value
    completed_at: dt.datetime | None = None
    standings: list[StandingOut] | None = None  # district challenges, leader first
    settled_at: dt.datetime | None = None


class ChallengeList(msgspec.Struct):
    items: list[ChallengeOut]


class ChallengeService:
    def __init__(self, db: Database, settings: Settings,
                 notifier: Notifier | None = None) -> None:
        self.db = db
        self.tz = settings.tz
        self.notifier = notifier
        self._running: tuple[float, bool] | None = None

    def today(self) -> dt.date:
        return dt.datetime.now(self.tz).date()

    # --- administration -------------------------------------------------------------------

    async def create(self, admin_id: uuid.UUID | None, body: ChallengeIn) -> ChallengeOut:
        errors = []
        if not body.target.is_finite() or body.target <= 0 or body.target > Decimal(10) ** 15:
            errors.append(FieldError("target", "must be a positive number up to 10^15"))
        elif body.measure == "count" and body.target != body.target.to_integral_value():
            errors.append(FieldError("target", "a count is a whole number"))
        if body.ends_on < body.starts_on:
            errors.append(FieldError("ends_on", "is before starts_on"))
        elif body.ends_on < self.today():
            errors.append(FieldError("ends_on", "is in the past"))
        if body.ends_on - body.starts_on > dt.timedelta(days=366):
            errors.append(FieldError("ends_on", "a challenge lasts at most a year"))
        async with self.db.connect() as conn:
            if body.behaviour is not None and not await conn.scalar(text(
                    "SELECT 1 FROM methodology_versions WHERE behaviour = :b "
                    "AND kind = 'behaviour' LIMIT 1"),
                    {"b": body.behaviour}):
                errors.append(FieldError("behaviour", f"no methodology scores "
                                                      f"{body.behaviour!r}"))
            if errors:
                raise InvalidInput("The challenge is not valid.", errors=errors)
            challenge_id = uuid7()
            await conn.execute(text("""
                INSERT INTO challenges (id, title_zh, title_en, kind, behaviour, measure,
                                        target, starts_on, ends_on, bonus_points, created_by)
                VALUES (:id, :title_zh, :title_en, :kind, :behaviour, :measure, :target,
                        :starts_on, :ends_on, :bonus_points, :by)"""),
                msgspec.structs.asdict(body) | {"id": challenge_id, "by": admin_id})
        self._running = None
        return await self.get(challenge_id, None)

    # --- reading --------------------------------------------------------------------------

    async def listing(self, citizen_id: uuid.UUID | None) -> ChallengeList:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(_LIST, {"today": self.today(),
                                               "c": citizen_id})).all()
            items = [await self._out(conn, r, citizen_id, standings=False) for r in rows]
        return ChallengeList(items)

    async def get(self, challenge_id: uuid.UUID, citizen_id: uuid.UUID | None) -> ChallengeOut:
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(_ONE, {"id": challenge_id, "c": citizen_id})).first()
            if row is None:
                raise NotFound("No such challenge.")
            return await self._out(conn, row, citizen_id, standings=True)

    async def _out(self, conn: AsyncConnection, r: Any, citizen_id: uuid.UUID | None, *,
                   standings: bool) -> ChallengeOut:
        today = self.today()
        state = ("upcoming" if today < r.starts_on else
                 "ended" if today > r.ends_on else "running")
        out = ChallengeOut(
            id=r.id, title_zh=r.title_zh, title_en=r.title_en, kind=r.kind,
            behaviour=r.behaviour, measure=r.measure, target=r.target, starts_on=r.starts_on,
            ends_on=r.ends_on, bonus_points=r.bonus_points, state=state,
            participants=r.participants, settled_at=r.settled_at)
        if citizen_id is not None:
            out.joined = r.joined_at is not None
            out.completed_at = r.completed_at
        table = await _standings(conn, r) if r.kind == "district" and (
            standings or out.joined) else None
        if standings and table is not None:
            out.standings = table
        if out.joined:
            if r.kind == "individual":
                out.progress = (await _progress(conn, r, [citizen_id])).get(citizen_id,
                                                                            Decimal(0))
            else:
                mine = next((s for s in table or [] if s.district == r.district_code), None)
                out.progress = mine.value if mine else Decimal(0)
        return out

    # --- joining and completing -----------------------------------------------------------

    async def join(self, citizen_id: uuid.UUID, district: str | None,
                   challenge_id: uuid.UUID) -> tuple[ChallengeOut, bool]:
        """``(challenge, newly joined)``; joining again changes nothing."""
        async with self.db.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                               {"k": lock_key(citizen_id, CITIZEN)})
            row = (await conn.execute(_ONE, {"id": challenge_id, "c": citizen_id})).first()
            if row is None:
                raise NotFound("No such challenge.")
            if row.joined_at is not None:
                joined = False
            else:
                if self.today() > row.ends_on:
                    raise Conflict(f"This challenge ended on {row.ends_on}.",
                                   code="challenge_ended")
                if row.kind == "district" and district is None:
                    raise Conflict("Set your district (PATCH /v1/me) to join a district "
                                   "challenge.", code="no_district",
                                   errors=[FieldError("district", "not set")])
                await conn.execute(text(
                    "INSERT INTO challenge_participants (challenge_id, citizen_id, "
                    "district_code, bonus_points) VALUES (:ch, :c, :d, 0)"),
                    {"ch": challenge_id, "c": citizen_id, "d": district})
                joined = True
                if row.kind == "individual":  # the goal may be met already
                    await self._complete(conn, [(challenge_id, citizen_id)])
        return await self.get(challenge_id, citizen_id), joined

    async def _any_running(self, conn: AsyncConnection) -> bool:
        """Whether an individual challenge runs today: asked of the database at most every
        ``RUNNING_TTL_S`` (challenges created here are seen at once)."""
        now = time.monotonic()
        if self._running is None or self._running[0] <= now:
            running = bool(await conn.scalar(text(
                "SELECT EXISTS (SELECT 1 FROM challenges WHERE kind = 'individual' "
                "AND :today BETWEEN starts_on AND ends_on)"), {"today": self.today()}))
            self._running = (now + RUNNING_TTL_S, running)
        return self._running[1]

    async def on_credited(self, conn: AsyncConnection, citizens: set[uuid.UUID]) -> None:
        """The behaviour pipeline's hook (the citizens' locks are held): complete running
        individual challenges whose goal is now met."""
        if not await self._any_running(conn):
            return
        rows = (await conn.execute(text("""
            SELECT p.challenge_id, p.citizen_id FROM challenge_participants p
              JOIN challenges c ON c.id = p.challenge_id
             WHERE p.citizen_id = ANY(CAST(:ids AS uuid[])) AND p.completed_at IS NULL
               AND c.kind = 'individual' AND :today BETWEEN c.starts_on AND c.ends_on"""),
            {"ids": sorted(citizens), "today": self.today()})).all()
        if rows:
            await self._complete(conn, [(r.challenge_id, r.citizen_id) for r in rows])

    async def _complete(self, conn: AsyncConnection,
                        pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
        challenges = {r.id: r for r in (await conn.execute(text(
            "SELECT * FROM challenges WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": sorted({c for c, _ in pairs})})).all()}
        done = []
        for challenge_id, citizen_id in pairs:
            c = challenges[challenge_id]
            if (await _progress(conn, c, [citizen_id])).get(citizen_id, 0) >= c.target:
                done.append((c, citizen_id))
        await self._pay(conn, done)

    async def _pay(self, conn: AsyncConnection, done: list[tuple[Any, uuid.UUID]]) -> None:
        """Mark completed and pay the bonus, for those not completed before."""
        entries = []
        for c, citizen_id in sorted(done, key=lambda x: (x[1], x[0].id)):
            marked = await conn.scalar(text(
                "UPDATE challenge_participants SET completed_at = now(), bonus_points = :b "
                "WHERE challenge_id = :ch AND citizen_id = :c AND completed_at IS NULL "
                "RETURNING 1"), {"ch": c.id, "c": citizen_id, "b": c.bonus_points})
            if not marked:
                continue
            if c.bonus_points:
                key = f"challenge:{c.id}"
                entries.append(ledger.Entry(
                    citizen_id=citizen_id, kind="bonus", points=c.bonus_points,
                    counter="bonus", idempotency_key=key,
                    request_hash=hashlib.sha256(key.encode()).digest(),
                    memo=f"challenge {c.title_en}",
                    lots=((self.today().year, c.bonus_points),)))
            if self.notifier is not None:
                self.notifier.send(citizen_id, "challenge_completed", {
                    "challenge_id": str(c.id), "title_zh": c.title_zh,
                    "title_en": c.title_en, "bonus_points": c.bonus_points})
        if entries:
            await ledger.post(conn, entries)

    # --- settling district challenges -----------------------------------------------------

    async def settle(self, today: dt.date | None = None) -> dict[str, Any]:
        """Pay the leading district of each district challenge whose last day is over.
        Safe to run again, and concurrently: each challenge is settled once."""
        today = today or self.today()
        settled = []
        async with self.db.engine.connect() as conn:
            due = list((await conn.execute(text(
                "SELECT id FROM challenges WHERE kind = 'district' AND ends_on < :today "
                "AND settled_at IS NULL ORDER BY id"), {"today": today})).scalars())
        for challenge_id in due:
            async with self.db.connect() as conn:
                c = (await conn.execute(text(
                    "SELECT * FROM challenges WHERE id = :id AND settled_at IS NULL "
                    "FOR UPDATE SKIP LOCKED"), {"id": challenge_id})).first()
                if c is None:
                    continue  # settled meanwhile, or being settled
                table = await _standings(conn, c)
                winner = table[0].district if table and table[0].value > 0 else None
                if winner is not None:
                    ids = list((await conn.execute(text(
                        "SELECT citizen_id FROM challenge_participants WHERE challenge_id = :ch "
                        "AND district_code = :d ORDER BY citizen_id"),
                        {"ch": c.id, "d": winner})).scalars())
                    await self._pay(conn, [(c, i) for i in ids])
                await conn.execute(text(
                    "UPDATE challenges SET settled_at = now() WHERE id = :id"), {"id": c.id})
                settled.append({"id": str(c.id), "winner": winner})
        return {"settled": settled}


async def _progress(conn: AsyncConnection, c: Any, citizens: list[uuid.UUID]
                    ) -> dict[uuid.UUID, Decimal]:
    column = "count" if c.measure == "count" else "grams"
    rows = (await conn.execute(text(_PROGRESS.format(column=column)), {
        "ids": citizens, "start": c.starts_on, "end": c.ends_on,
        "behaviour": c.behaviour})).all()
    return {r[0]: Decimal(r[1]) for r in rows}


async def _standings(conn: AsyncConnection, c: Any) -> list[StandingOut]:
    column = "count" if c.measure == "count" else "grams"
    rows = (await conn.execute(text(_STANDINGS.format(column=column)), {
        "ch": c.id, "start": c.starts_on, "end": c.ends_on, "behaviour": c.behaviour})).all()
    return [StandingOut(r.district, Decimal(r.value), r.participants) for r in rows]


# ``column`` is "count" or "grams", never user input.
_PROGRESS = """
    SELECT citizen_id, sum({column}) FROM daily_totals
     WHERE citizen_id = ANY(CAST(:ids AS uuid[])) AND day BETWEEN :start AND :end
       AND (CAST(:behaviour AS text) IS NULL OR type = :behaviour)
     GROUP BY citizen_id"""

# Ties: the district that got there with fewer participants, then by code.
_STANDINGS = """
    SELECT p.district_code AS district, coalesce(sum(t.{column}), 0) AS value,
           count(DISTINCT p.citizen_id) AS participants
      FROM challenge_participants p
      LEFT JOIN daily_totals t ON t.citizen_id = p.citizen_id
       AND t.day BETWEEN :start AND :end
       AND (CAST(:behaviour AS text) IS NULL OR t.type = :behaviour)
     WHERE p.challenge_id = :ch AND p.district_code IS NOT NULL
     GROUP BY p.district_code
     ORDER BY value DESC, participants, district"""

_SELECT = """
    SELECT c.*, (SELECT count(*) FROM challenge_participants x WHERE x.challenge_id = c.id)
           AS participants, p.joined_at, p.completed_at, p.district_code
      FROM challenges c
      LEFT JOIN challenge_participants p ON p.challenge_id = c.id AND p.citizen_id = :c"""

_LIST = text(_SELECT + " WHERE c.ends_on >= :today ORDER BY c.starts_on, c.id")
_ONE = text(_SELECT + " WHERE c.id = :id")
