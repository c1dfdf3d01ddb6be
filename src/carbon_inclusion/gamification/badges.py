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

Statistics (all numbers unless said):

* ``total_g``, ``behaviours``: grams and count of credited behaviours, lifetime;
* ``active_days``: distinct programme days with a credited behaviour;
* ``streak``, ``best_streak``: consecutive programme days, current and best;
* ``count_<behaviour>``, ``grams_<behaviour>`` for each behaviour a methodology scores
  (``count_transit_trip``, ``grams_waste_sorting``…);
* ``district``: the citizen's district code (an enum; ``none`` when not set).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.db import Database
from carbon_inclusion.errors import Conflict, FieldError, InvalidInput, NotFound
from carbon_inclusion.gamification.service import streaks
from carbon_inclusion.ids import uuid7
from carbon_inclusion.ledger import service as ledger
from carbon_inclusion.notifications import Notifier
from carbon_inclusion.rules.evaluate import FUNCTIONS, OPERATORS, CheckedEval
from carbon_inclusion.rules.expressions import (
    BOOL,
    Formula,
    FormulaError,
    Type,
    number,
    parse,
)
from carbon_inclusion.settings import Settings

CODE = r"^[a-z][a-z0-9_]{1,31}$"
BIG = Decimal(10) ** 15
NO_DISTRICT = "none"
LIST_TTL_S = 2.0


class BadgeLevelIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    level: Annotated[int, msgspec.Meta(ge=1, le=20)]
    # Reached when the badge's measure is at least this (a decimal string or number).
    at_least: Decimal
    bonus_points: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 0
    # Optional extra condition, e.g. "district == 'yuzhong'".
    condition: Annotated[str, msgspec.Meta(max_length=1000)] | None = None


class BadgeIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    code: Annotated[str, msgspec.Meta(pattern=CODE, examples=["metro_first"])]
    name_zh: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    name_en: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    description_zh: Annotated[str, msgspec.Meta(max_length=500)] = ""
    description_en: Annotated[str, msgspec.Meta(max_length=500)] = ""
    # A number from the citizen's statistics; progress is shown against it.
    measure: Annotated[str, msgspec.Meta(min_length=1, max_length=1000,
                                         examples=["count_transit_trip"])]
    levels: Annotated[list[BadgeLevelIn], msgspec.Meta(min_length=1, max_length=20)]


class BadgeUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new version of a badge (the code is the path's)."""

    name_zh: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    name_en: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    description_zh: Annotated[str, msgspec.Meta(max_length=500)] = ""
    description_en: Annotated[str, msgspec.Meta(max_length=500)] = ""
    measure: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    levels: Annotated[list[BadgeLevelIn], msgspec.Meta(min_length=1, max_length=20)]
    status: str = "active"  # "retired": no more awards; earned ones stay


class BadgeOut(msgspec.Struct):
    code: str
    version: int
    status: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    measure: str
    levels: list[BadgeLevelIn]


class BadgeList(msgspec.Struct):
    items: list[BadgeOut]


class EarnedOut(msgspec.Struct):
    code: str
    level: int
    name_zh: str
    name_en: str
    bonus_points: int
    awarded_at: dt.datetime


class NextOut(msgspec.Struct):
    code: str
    level: int
    name_zh: str
    name_en: str
    value: Decimal  # the measure now
    target: Decimal  # the level's at_least
    progress: Decimal  # value / target, 0–1
    bonus_points: int


class MyBadgesOut(msgspec.Struct):
    earned: list[EarnedOut]
    next: list[NextOut]  # the next level of every active badge not yet complete


@dataclass(frozen=True, slots=True)
class Award:
    citizen_id: uuid.UUID
    code: str
    level: int
    name_zh: str
    name_en: str
    bonus_points: int


# --- checking ---------------------------------------------------------------------------


def statistic_names(behaviours: list[str], districts: list[str]) -> dict[str, Type]:
    grams, count = number(Decimal(0), BIG), number(Decimal(0), BIG, integer=True)
    names = {"total_g": grams, "behaviours": count, "active_days": count, "streak": count,
             "best_streak": count,
             "district": Type("enum", values=frozenset([*districts, NO_DISTRICT]))}
    for b in behaviours:
        names[f"count_{b}"], names[f"grams_{b}"] = count, grams
    return names


@dataclass(frozen=True, slots=True)
class Level:
    level: int
    at_least: Decimal
    bonus_points: int
    condition: Formula | None


@dataclass(frozen=True, slots=True)
class CompiledBadge:
    code: str
    version: int
    name_zh: str
    name_en: str
    measure: Formula
    levels: tuple[Level, ...]


def compile_badge(code: str, version: int, doc: BadgeIn | BadgeUpdate,
                  names: dict[str, Type]) -> CompiledBadge:
    """Check every formula against the statistics; InvalidInput names each field at fault."""
    errors: list[FieldError] = []
    measure = None
    try:
        measure = parse(doc.measure, names)
        if not measure.type.numeric:
            errors.append(FieldError("measure", f"must be a number, not "
                                                f"{measure.type.describe()}"))
    except FormulaError as exc:
        errors.append(FieldError("measure", str(exc)))
    levels = []
    seen: set[int] = set()
    previous: Decimal | None = None
    for i, lv in enumerate(sorted(doc.levels, key=lambda x: x.level)):
        at = f"levels[{i}]"
        if lv.level in seen:
            errors.append(FieldError(f"{at}.level", f"level {lv.level} is given twice"))
        seen.add(lv.level)
        if not lv.at_least.is_finite() or lv.at_least < 0 or lv.at_least > BIG:
            errors.append(FieldError(f"{at}.at_least", "must be a number from 0 to 10^15"))
        elif previous is not None and lv.at_least <= previous:
            errors.append(FieldError(f"{at}.at_least", "must rise with the level"))
        previous = lv.at_least
        condition = None
        if lv.condition is not None:
            try:
                condition = parse(lv.condition, names)
                if condition.type != BOOL:
                    errors.append(FieldError(f"{at}.condition", "must be a condition, not "
                                                                f"{condition.type.describe()}"))
            except FormulaError as exc:
                errors.append(FieldError(f"{at}.condition", str(exc)))
        levels.append(Level(lv.level, lv.at_least, lv.bonus_points, condition))
    if errors or measure is None:
        raise InvalidInput("The badge does not check.", code="badge_invalid", errors=errors)
    return CompiledBadge(code, version, doc.name_zh, doc.name_en, measure, tuple(levels))


# --- statistics and evaluation ----------------------------------------------------------


class Statistics(dict[str, Any]):
    """A citizen's statistics by name; behaviours never done count zero. ``awarded``: the
    (badge, level) pairs already earned."""

    awarded: set[tuple[str, int]]

    def __missing__(self, name: str) -> Decimal:
        if name.startswith(("count_", "grams_")):
            return Decimal(0)
        raise KeyError(name)


_evaluator = CheckedEval(operators=dict(OPERATORS), functions=dict(FUNCTIONS), names={})


def run(formula: Formula, stats: Statistics) -> Any:
    _evaluator.names = stats
    return _evaluator._eval(formula.tree)  # checked when the badge was written


def reached(badge: CompiledBadge, stats: Statistics) -> tuple[Decimal, list[Level]]:
    """The measure's value and the levels it reaches."""
    value = Decimal(run(badge.measure, stats))
    return value, [lv for lv in badge.levels if value >= lv.at_least
                   and (lv.condition is None or run(lv.condition, stats) is True)]


async def statistics(conn: AsyncConnection, citizens: list[uuid.UUID],
                     today: dt.date) -> dict[uuid.UUID, Statistics]:
    rows = (await conn.execute(_STATS, {"ids": citizens})).all()
    out: dict[uuid.UUID, Statistics] = {}
    for r in rows:
        s = out.get(r.id)
        if s is None:
            streak = streaks(r.days or [], today)
            s = out[r.id] = Statistics(
                total_g=Decimal(0), behaviours=Decimal(0), active_days=Decimal(len(r.days or [])),
                streak=Decimal(streak.current), best_streak=Decimal(streak.best),
                district=r.district_code or NO_DISTRICT)
            s.awarded = {(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1]))
                         for a in r.awarded or ()}
        if r.type is not None:
            s[f"count_{r.type}"] = Decimal(r.count)
            s[f"grams_{r.type}"] = Decimal(r.grams)
            s["total_g"] += Decimal(r.grams)
            s["behaviours"] += Decimal(r.count)
    return out


_STATS = text("""
    WITH days AS (
        SELECT citizen_id, array_agg(DISTINCT day ORDER BY day) AS days FROM daily_totals
         WHERE citizen_id = ANY(CAST(:ids AS uuid[])) AND count > 0 GROUP BY citizen_id)
    SELECT u.id, u.district_code, d.days, t.type, t.count, t.grams,
           (SELECT array_agg(a.code || ':' || a.level) FROM badge_awards a
             WHERE a.citizen_id = u.id) AS awarded
      FROM users u
      LEFT JOIN days d ON d.citizen_id = u.id
      LEFT JOIN (SELECT citizen_id, type, sum(count) AS count, sum(grams) AS grams
                   FROM daily_totals WHERE citizen_id = ANY(CAST(:ids AS uuid[]))
                  GROUP BY citizen_id, type) t ON t.citizen_id = u.id
     WHERE u.id = ANY(CAST(:ids AS uuid[]))""")


# --- the service ------------------------------------------------------------------------


class BadgeService:
    def __init__(self, db: Database, settings: Settings,
                 notifier: Notifier | None = None) -> None:
        self.db = db
        self.tz = settings.tz
        self.notifier = notifier
        self._compiled: dict[tuple[str, int], CompiledBadge] = {}
        self._listed: tuple[float, list[CompiledBadge]] | None = None

    async def on_credited(self, conn: AsyncConnection, citizens: set[uuid.UUID]) -> None:
        """The behaviour pipeline's hook: award, and tell the apps once committed."""
        awards = await self.award(conn, citizens)
        if self.notifier is not None:
            self.notifier.send_many([(a.citizen_id, "badge_earned", {
                "code": a.code, "level": a.level, "name_zh": a.name_zh, "name_en": a.name_en,
                "bonus_points": a.bonus_points}) for a in awards])

    async def _names(self, conn: AsyncConnection) -> dict[str, Type]:
        behaviours = list((await conn.execute(text(
            "SELECT DISTINCT behaviour FROM methodology_versions WHERE kind = 'behaviour' "
            "ORDER BY 1"))).scalars())
        districts = list((await conn.execute(text(
            "SELECT code FROM districts ORDER BY 1"))).scalars())
        return statistic_names(behaviours, districts)

    # --- administration -------------------------------------------------------------------

    async def create(self, admin_id: uuid.UUID | None, body: BadgeIn) -> BadgeOut:
        async with self.db.connect() as conn:
            compile_badge(body.code, 1, body, await self._names(conn))
            created = await conn.scalar(text(
                "INSERT INTO badges (code, version) VALUES (:c, 1) "
                "ON CONFLICT (code) DO NOTHING RETURNING code"), {"c": body.code})
            if created is None:
                raise Conflict(f"There is already a badge {body.code!r}; PUT a new version.",
                               code="badge_exists",
                               errors=[FieldError("code", "already used")])
            await self._write_version(conn, body.code, 1, _document(body), admin_id)
        self.forget()
        return await self.get(body.code)

    async def update(self, admin_id: uuid.UUID, code: str, body: BadgeUpdate) -> BadgeOut:
        if body.status not in ("active", "retired"):
            raise InvalidInput.field("status", "must be active or retired")
        async with self.db.connect() as conn:
            version = await conn.scalar(text(
                "SELECT version FROM badges WHERE code = :c FOR UPDATE"), {"c": code})
            if version is None:
                raise NotFound(f"No badge {code!r}.")
            compile_badge(code, version + 1, body, await self._names(conn))
            await self._write_version(conn, code, version + 1, _document(body), admin_id)
            await conn.execute(text(
                "UPDATE badges SET version = :v, status = :s, updated_at = now() "
                "WHERE code = :c"), {"c": code, "v": version + 1, "s": body.status})
        self.forget()
        return await self.get(code)

    async def _write_version(self, conn: AsyncConnection, code: str, version: int,
                             document: dict[str, Any], admin_id: uuid.UUID | None) -> None:
        await conn.execute(text(
            "INSERT INTO badge_versions (code, version, document, created_by) "
            "VALUES (:c, :v, CAST(:d AS jsonb), :by)"),
            {"c": code, "v": version, "d": msgspec.json.encode(document).decode(),
             "by": admin_id})

    async def get(self, code: str) -> BadgeOut:
        items = await self.listing(code)
        if not items:
            raise NotFound(f"No badge {code!r}.")
        return items[0]

    async def listing(self, code: str | None = None, *, active_only: bool = False
                   ) -> list[BadgeOut]:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(_BADGES, {"code": code, "active": active_only})).all()
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
        rows = (await conn.execute(text(
            "SELECT code, version FROM badges WHERE status = 'active' ORDER BY code"))).all()
        missing = [(r.code, r.version) for r in rows if (r.code, r.version) not in self._compiled]
        if missing:
            names = await self._names(conn)
            docs = (await conn.execute(text(
                "SELECT code, version, document FROM badge_versions "
                "WHERE (code, version) IN (SELECT * FROM unnest(CAST(:c AS text[]), "
                "CAST(:v AS int[])))"),
                {"c": [c for c, _ in missing], "v": [v for _, v in missing]})).all()
            for d in docs:
                body = msgspec.convert(d.document | {"code": d.code}, BadgeIn)
                self._compiled[(d.code, d.version)] = compile_badge(d.code, d.version, body,
                                                                    names)
        active = [self._compiled[(r.code, r.version)] for r in rows]
        self._listed = (time.monotonic() + LIST_TTL_S, active)
        return active

    async def award(self, conn: AsyncConnection, citizens: set[uuid.UUID]) -> list[Award]:
        """Inside the caller's transaction, which holds these citizens' locks: award every
        badge level they now reach and have not earned, paying bonuses through the ledger."""
        if not citizens:
            return []
        badges = await self._active(conn)
        if not badges:
            return []
        ids = sorted(citizens)
        today = dt.datetime.now(self.tz).date()
        stats = await statistics(conn, ids, today)
        have = {(c, code, level) for c, s in stats.items() for code, level in s.awarded}
        new: list[tuple[CompiledBadge, Level, uuid.UUID]] = []
        for citizen in ids:
            s = stats.get(citizen)
            if s is None:
                continue
            for badge in badges:
                for lv in reached(badge, s)[1]:
                    if (citizen, badge.code, lv.level) not in have:
                        new.append((badge, lv, citizen))
        if not new:
            return []
        rows = [{"id": uuid7(), "citizen": c, "code": b.code, "level": lv.level,
                 "version": b.version, "bonus": lv.bonus_points,
                 "entry": uuid7() if lv.bonus_points else None} for b, lv, c in new]
        inserted = {(r.citizen_id, r.code, r.level) for r in (await conn.execute(_INSERT, {
            k: [r[k] for r in rows] for k in rows[0]})).all()}
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
                    request_hash=hashlib.sha256(key.encode()).digest(),
                    memo=f"badge {badge.code} level {lv.level}",
                    lots=((today.year, lv.bonus_points),)))
        if entries:
            await ledger.post(conn, entries)
        return awards

    # --- a citizen's badges ---------------------------------------------------------------

    async def mine(self, citizen_id: uuid.UUID) -> MyBadgesOut:
        today = dt.datetime.now(self.tz).date()
        async with self.db.engine.connect() as conn:
            badges = await self._active(conn)
            stats = (await statistics(conn, [citizen_id], today)).get(citizen_id)
            rows = (await conn.execute(text("""
                SELECT a.code, a.level, a.bonus_points, a.awarded_at, v.document
                  FROM badge_awards a
                  JOIN badge_versions v ON v.code = a.code AND v.version = a.version
                 WHERE a.citizen_id = :c ORDER BY a.awarded_at, a.code, a.level"""),
                {"c": citizen_id})).all()
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


_BADGES = text("""
    SELECT b.code, b.version, b.status, v.document
      FROM badges b JOIN badge_versions v ON v.code = b.code AND v.version = b.version
     WHERE (CAST(:code AS text) IS NULL OR b.code = :code)
       AND (NOT :active OR b.status = 'active')
     ORDER BY b.code""")

_INSERT = text("""
    INSERT INTO badge_awards (id, citizen_id, code, level, version, bonus_points, entry_id)
    SELECT * FROM unnest(CAST(:id AS uuid[]), CAST(:citizen AS uuid[]),
                         CAST(:code AS text[]), CAST(:level AS smallint[]),
                         CAST(:version AS smallint[]), CAST(:bonus AS bigint[]),
                         CAST(:entry AS uuid[]))
        ON CONFLICT (citizen_id, code, level) DO NOTHING
    RETURNING citizen_id, code, level""")


async def seed_badges(db: Database, items: list[dict[str, Any]],
                      settings: Settings | None = None) -> int:
    """Add the badges (``seed/badges.json``) not there yet, by code; returns how many."""
    service, added = BadgeService(db, settings or Settings.from_env()), 0
    for item in items:
        async with db.engine.connect() as conn:
            if await conn.scalar(text("SELECT 1 FROM badges WHERE code = :c"),
                                 {"c": item["code"]}):
                continue
        await service.create(None, msgspec.convert(item, BadgeIn))
        added += 1
    return added
