"""Badges: definitions as data, checked like methodology formulas, awarded once per level.

A badge has a ``measure`` (a number worked out from the citizen's statistics, in the same
checked expression language as methodologies) and levels, each reached when the measure is
at least its ``at_least`` and its optional ``condition`` holds: "100 kg saved" is
``measure: total_g``, ``at_least: 100000``. Definitions are versioned: a change is a new
version, and what was earned under an older one stays earned.

Awards are made inside the transaction that credits a behaviour (``BadgeService.award``),
from ``daily_totals`` as that transaction sees it, while the caller holds the citizen's
lock (``Recorder.lock``), so concurrent behaviours of one citizen are evaluated one after
the other and none is missed. ``badge_awards`` has a unique key on (citizen, badge, level),
and a bonus is a ledger entry whose idempotency key names the badge and level: a level is
awarded, and its bonus paid, at most once, whatever races. Awards are never taken back:
a behaviour reversed later does not revoke a badge.

The statistics a formula may name, and how formulas are checked and evaluated, are in
``conditions`` (pure); statements on the badge tables are in ``repository``.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.accounts import repository as accounts
from carbon_inclusion.behaviours import repository as behaviours
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.idempotency import digest_of
from carbon_inclusion.common.periods import programme_day
from carbon_inclusion.db import Database, after_commit
from carbon_inclusion.errors import Conflict, FieldError, InvalidInput, NotFound
from carbon_inclusion.gamification import repository as repo
from carbon_inclusion.gamification.conditions import (
    CompiledBadge,
    Level,
    Statistics,
    compile_badge,
    reached,
    run,
    statistic_names,
    statistics_of,
)
from carbon_inclusion.gamification.schemas import (
    BadgeIn,
    BadgeLevelIn,
    BadgeOut,
    BadgeUpdate,
    EarnedOut,
    MyBadgesOut,
    NextOut,
)
from carbon_inclusion.ids import uuid7
from carbon_inclusion.ledger import service as ledger
from carbon_inclusion.methodologies import repository as methodologies
from carbon_inclusion.notifications.service import Notifier
from carbon_inclusion.rules.expressions import Type
from carbon_inclusion.settings import Settings

LIST_TTL_S = 2.0
# Award levels this process has seen stored: a claim of a citizen who has them all asks
# nothing more. Bounded (the older half is dropped when full); awards are never taken back,
# so a remembered one is never wrong, and a forgotten one costs one INSERT … DO NOTHING.
KNOWN_AWARDS_MAX = 200_000


@dataclass(frozen=True, slots=True)
class Award:
    citizen_id: uuid.UUID
    code: str
    level: int
    name_zh: str
    name_en: str
    bonus_points: int


async def statistics(conn: AsyncConnection, citizens: list[uuid.UUID], today: dt.date,
                     districts: Mapping[uuid.UUID, str | None] | None = None
                     ) -> dict[uuid.UUID, Statistics]:
    """The statistics of each of ``citizens`` that is a user, as ``conn`` sees them.
    ``districts``: the caller knows each citizen's district (and that each is a user)."""
    if districts is None:
        districts = await accounts.districts_of(conn, citizens)
    ids = [c for c in citizens if c in districts]
    if not ids:
        return {}
    totals = await behaviours.totals_by_type(conn, ids)
    return {c: statistics_of(*totals[c], districts[c], today) for c in ids}


class BadgeService:
    def __init__(self, db: Database, settings: Settings,
                 notifier: Notifier | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.tz = settings.tz
        self.clock = clock
        self.notifier = notifier
        self._compiled: dict[tuple[str, int], CompiledBadge] = {}
        self._listed: tuple[float, list[CompiledBadge]] | None = None
        self._known: dict[tuple[uuid.UUID, str, int], None] = {}

    async def on_credited(self, conn: AsyncConnection,
                          citizens: Mapping[uuid.UUID, str | None]) -> None:
        """The behaviour pipeline's hook (credited citizens and their districts): award,
        and tell the apps once committed."""
        awards = await self.award(conn, set(citizens), districts=citizens)
        if self.notifier is not None:
            self.notifier.send_many([(a.citizen_id, "badge_earned", {
                "code": a.code, "level": a.level, "name_zh": a.name_zh, "name_en": a.name_en,
                "bonus_points": a.bonus_points}) for a in awards])

    async def _names(self, conn: AsyncConnection) -> dict[str, Type]:
        return statistic_names(await methodologies.scored_behaviours(conn),
                               await accounts.district_codes(conn))

    def today(self) -> dt.date:
        return programme_day(self.clock.now(), self.tz)

    # --- administration -------------------------------------------------------------------

    async def create(self, admin_id: uuid.UUID | None, body: BadgeIn) -> BadgeOut:
        async with self.db.connect() as conn:
            compile_badge(body.code, 1, body, await self._names(conn))
            if not await repo.insert_badge(conn, body.code):
                raise Conflict(f"There is already a badge {body.code!r}; PUT a new version.",
                               code="badge_exists",
                               errors=[FieldError("code", "already used")])
            await repo.insert_version(conn, body.code, 1, _document(body), admin_id)
        self.forget()
        return await self.get(body.code)

    async def update(self, admin_id: uuid.UUID, code: str, body: BadgeUpdate) -> BadgeOut:
        if body.status not in ("active", "retired"):
            raise InvalidInput.field("status", "must be active or retired")
        async with self.db.connect() as conn:
            version = await repo.lock_badge(conn, code)
            if version is None:
                raise NotFound(f"No badge {code!r}.")
            compile_badge(code, version + 1, body, await self._names(conn))
            await repo.insert_version(conn, code, version + 1, _document(body), admin_id)
            await repo.set_current(conn, code, version + 1, body.status)
        self.forget()
        return await self.get(code)

    async def get(self, code: str) -> BadgeOut:
        items = await self.listing(code)
        if not items:
            raise NotFound(f"No badge {code!r}.")
        return items[0]

    async def listing(self, code: str | None = None, *, active_only: bool = False
                   ) -> list[BadgeOut]:
        async with self.db.engine.connect() as conn:
            rows = await repo.current_badges(conn, code, active_only=active_only)
        return [_out(r) for r in rows]

    # --- awarding -------------------------------------------------------------------------

    def forget(self) -> None:
        """Badges changed (here, or by hand in the database): read them again."""
        self._listed = None

    async def _active(self, conn: AsyncConnection) -> list[CompiledBadge]:
        """The active badges, compiled; the list is read at most every ``LIST_TTL_S``
        (a badge written here is seen at once, elsewhere within that)."""
        if self._listed is not None and self._listed[0] > time.monotonic():
            return self._listed[1]
        rows = await repo.active_versions(conn)
        missing = [pair for pair in rows if pair not in self._compiled]
        if missing:
            names = await self._names(conn)
            for d in await repo.documents(conn, missing):
                body = msgspec.convert(d.document | {"code": d.code}, BadgeIn)
                self._compiled[(d.code, d.version)] = compile_badge(d.code, d.version, body,
                                                                    names)
        active = [self._compiled[pair] for pair in rows]
        self._listed = (time.monotonic() + LIST_TTL_S, active)
        return active

    async def award(self, conn: AsyncConnection, citizens: set[uuid.UUID],
                    districts: Mapping[uuid.UUID, str | None] | None = None) -> list[Award]:
        """Inside the caller's transaction, which holds these citizens' locks: award every
        badge level they now reach and have not earned, paying bonuses through the ledger.

        The unique key on (citizen, badge, level) says which are new: every level reached
        and not known to be stored is inserted ``ON CONFLICT DO NOTHING``, and only what
        was inserted is awarded and paid."""
        if not citizens:
            return []
        badges = await self._active(conn)
        if not badges:
            return []
        ids = sorted(citizens)
        today = self.today()
        stats = await statistics(conn, ids, today, districts)
        new: list[tuple[CompiledBadge, Level, uuid.UUID]] = []
        for citizen in ids:
            s = stats.get(citizen)
            if s is None:
                continue
            for badge in badges:
                for lv in reached(badge, s)[1]:
                    if (citizen, badge.code, lv.level) not in self._known:
                        new.append((badge, lv, citizen))
        if not new:
            return []
        rows = [{"id": uuid7(), "citizen": c, "code": b.code, "level": lv.level,
                 "version": b.version, "bonus": lv.bonus_points,
                 "entry": uuid7() if lv.bonus_points else None} for b, lv, c in new]
        inserted = await repo.insert_awards(conn, rows)
        # Stored, by this transaction or an earlier one: known once this one commits.
        after_commit(functools.partial(self._remember, [(c, b.code, lv.level)
                                                        for b, lv, c in new]))
        awards, entries = [], []
        for (badge, lv, citizen), row in zip(new, rows, strict=True):
            if (citizen, badge.code, lv.level) not in inserted:
                continue
            awards.append(Award(citizen, badge.code, lv.level, badge.name_zh, badge.name_en,
                                lv.bonus_points))
            if lv.bonus_points:
                key = f"badge:{badge.code}:{lv.level}"
                entries.append(ledger.Entry(
                    id=row["entry"], citizen_id=citizen, kind="bonus",
                    points=lv.bonus_points, counter="bonus", idempotency_key=key,
                    request_hash=digest_of(key),
                    memo=f"badge {badge.code} level {lv.level}",
                    lots=((today.year, lv.bonus_points),)))
        if entries:
            await ledger.post(conn, entries)
        return awards

    async def _remember(self, keys: list[tuple[uuid.UUID, str, int]]) -> None:
        if len(self._known) + len(keys) > KNOWN_AWARDS_MAX:
            for old in list(itertools.islice(self._known, len(self._known) // 2)):
                del self._known[old]
        self._known.update(dict.fromkeys(keys))

    # --- a citizen's badges ---------------------------------------------------------------

    async def mine(self, citizen_id: uuid.UUID) -> MyBadgesOut:
        today = self.today()
        async with self.db.engine.connect() as conn:
            badges = await self._active(conn)
            stats = (await statistics(conn, [citizen_id], today)).get(citizen_id)
            rows = await repo.awards_of(conn, citizen_id)
        earned = [EarnedOut(r.code, r.level, r.document["name_zh"], r.document["name_en"],
                            r.bonus_points, r.awarded_at) for r in rows]
        have = {(r.code, r.level) for r in rows}
        upcoming = []
        for badge in badges:
            value = Decimal(run(badge.measure, stats)) if stats is not None else Decimal(0)
            lv = next((x for x in badge.levels if (badge.code, x.level) not in have), None)
            if lv is None:
                continue
            progress = (min(value / lv.at_least, Decimal(1)) if lv.at_least
                        else Decimal(1)).quantize(Decimal("0.0001"))
            upcoming.append(NextOut(badge.code, lv.level, badge.name_zh, badge.name_en, value,
                                    lv.at_least, progress, lv.bonus_points))
        return MyBadgesOut(earned, upcoming)


def _document(body: BadgeIn | BadgeUpdate) -> dict[str, Any]:
    doc = msgspec.to_builtins(body)
    doc.pop("code", None)
    doc.pop("status", None)
    return doc


def _out(r: Any) -> BadgeOut:
    d = r.document
    return BadgeOut(code=r.code, version=r.version, status=r.status, name_zh=d["name_zh"],
                    name_en=d["name_en"], description_zh=d.get("description_zh", ""),
                    description_en=d.get("description_en", ""), measure=d["measure"],
                    levels=msgspec.convert(d["levels"], list[BadgeLevelIn]))
