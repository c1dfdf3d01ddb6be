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
import time
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.behaviours import repository as behaviours
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.idempotency import digest_of
from carbon_inclusion.common.locks import LOCK_ONE, lock_key
from carbon_inclusion.common.periods import programme_day
from carbon_inclusion.db import Database
from carbon_inclusion.errors import Conflict, FieldError, InvalidInput, NotFound
from carbon_inclusion.gamification import repository as repo
from carbon_inclusion.gamification.schemas import (
    ChallengeIn,
    ChallengeList,
    ChallengeOut,
    StandingOut,
)
from carbon_inclusion.ids import uuid7
from carbon_inclusion.ledger import service as ledger
from carbon_inclusion.methodologies import repository as methodologies
from carbon_inclusion.notifications.service import Notifier
from carbon_inclusion.settings import Settings

RUNNING_TTL_S = 2.0
# The behaviour pipeline's lock over all of one citizen's behaviours (its ``lock_key(citizen,
# "*")``): joining takes it, so a join and a credit of one citizen run one after the other.
ALL_BEHAVIOURS = "*"


def citizen_lock(citizen_id: uuid.UUID) -> int:
    return lock_key("behaviours", citizen_id, ALL_BEHAVIOURS)


def standings(participants: Iterable[tuple[uuid.UUID, str]],
              values: dict[uuid.UUID, Decimal]) -> list[StandingOut]:
    """District standings: each district's summed ``values`` of its participants, leader
    first; ties go to the district that got there with fewer participants, then by code."""
    by_district: dict[str, tuple[Decimal, int]] = {}
    for citizen, district in participants:
        value, count = by_district.get(district, (Decimal(0), 0))
        by_district[district] = (value + values.get(citizen, Decimal(0)), count + 1)
    table = [StandingOut(d, v, n) for d, (v, n) in by_district.items()]
    return sorted(table, key=lambda s: (-s.value, s.participants, s.district))


class ChallengeService:
    def __init__(self, db: Database, settings: Settings,
                 notifier: Notifier | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.tz = settings.tz
        self.clock = clock
        self.notifier = notifier
        self._running: tuple[float, bool] | None = None

    def today(self) -> dt.date:
        return programme_day(self.clock.now(), self.tz)

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
            if body.behaviour is not None and body.behaviour not in (
                    await methodologies.scored_behaviours(conn)):
                errors.append(FieldError("behaviour", f"no methodology scores "
                                                      f"{body.behaviour!r}"))
            if errors:
                raise InvalidInput("The challenge is not valid.", errors=errors)
            challenge_id = uuid7()
            await repo.insert_challenge(
                conn, msgspec.structs.asdict(body) | {"id": challenge_id, "by": admin_id})
        self._running = None
        return await self.get(challenge_id, None)

    # --- reading --------------------------------------------------------------------------

    async def listing(self, citizen_id: uuid.UUID | None) -> ChallengeList:
        async with self.db.engine.connect() as conn:
            rows = await repo.open_challenges(conn, self.today(), citizen_id)
            items = [await self._out(conn, r, citizen_id, standings=False) for r in rows]
        return ChallengeList(items)

    async def get(self, challenge_id: uuid.UUID, citizen_id: uuid.UUID | None) -> ChallengeOut:
        async with self.db.engine.connect() as conn:
            row = await repo.challenge_as_seen(conn, challenge_id, citizen_id)
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
            await conn.execute(LOCK_ONE, {"key": citizen_lock(citizen_id)})
            row = await repo.challenge_as_seen(conn, challenge_id, citizen_id)
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
                await repo.add_participant(conn, challenge_id, citizen_id, district)
                joined = True
                if row.kind == "individual":  # the goal may be met already
                    await self._complete(conn, [(challenge_id, citizen_id)])
        return await self.get(challenge_id, citizen_id), joined

    async def _any_running(self, conn: AsyncConnection) -> bool:
        """Whether an individual challenge runs today: asked of the database at most every
        ``RUNNING_TTL_S`` (challenges created here are seen at once)."""
        now = time.monotonic()
        if self._running is None or self._running[0] <= now:
            running = await repo.individual_running(conn, self.today())
            self._running = (now + RUNNING_TTL_S, running)
        return self._running[1]

    async def on_credited(self, conn: AsyncConnection,
                          citizens: Mapping[uuid.UUID, str | None]) -> None:
        """The behaviour pipeline's hook (the citizens' locks are held): complete running
        individual challenges whose goal is now met."""
        if not await self._any_running(conn):
            return
        pairs = await repo.open_participations(conn, sorted(citizens), self.today())
        if pairs:
            await self._complete(conn, pairs)

    async def _complete(self, conn: AsyncConnection,
                        pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
        challenges = await repo.challenges(conn, sorted({c for c, _ in pairs}))
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
            if not await repo.mark_completed(conn, c.id, citizen_id, c.bonus_points):
                continue
            if c.bonus_points:
                key = f"challenge:{c.id}"
                entries.append(ledger.Entry(
                    citizen_id=citizen_id, kind="bonus", points=c.bonus_points,
                    counter="bonus", idempotency_key=key,
                    request_hash=digest_of(key),
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
            due = await repo.due_for_settling(conn, today)
        for challenge_id in due:
            async with self.db.connect() as conn:
                c = await repo.lock_unsettled(conn, challenge_id)
                if c is None:
                    continue  # settled meanwhile, or being settled
                members = await repo.participants(conn, c.id)
                table = await _standings(conn, c, members)
                winner = table[0].district if table and table[0].value > 0 else None
                if winner is not None:
                    ids = [i for i, d in members if d == winner]
                    await self._pay(conn, [(c, i) for i in ids])
                await repo.mark_settled(conn, c.id)
                settled.append({"id": str(c.id), "winner": winner})
        return {"settled": settled}


async def _progress(conn: AsyncConnection, c: Any, citizens: list[uuid.UUID]
                    ) -> dict[uuid.UUID, Decimal]:
    return await behaviours.sums_between(conn, citizens, c.starts_on, c.ends_on, c.behaviour,
                                         c.measure)


async def _standings(conn: AsyncConnection, c: Any,
                     members: list[tuple[uuid.UUID, str]] | None = None) -> list[StandingOut]:
    if members is None:
        members = await repo.participants(conn, c.id)
    values = await _progress(conn, c, [i for i, _ in members]) if members else {}
    return standings(members, values)
