"""Every statement on gamification's tables: ``levels``, ``badges``, ``badge_versions``,
``badge_awards``, ``challenges``, ``challenge_participants``.

Statements are ``text()`` constants (the award insert is an ``unnest`` on the behaviour
pipeline's hot path; the rest keep the SQL they were reviewed with) except the levels, which
are ORM. What gamification needs of other domains' tables it asks of their repositories
(``behaviours.repository``: daily totals; ``accounts.repository``: districts, nicknames;
``methodologies.repository``: behaviour types); bonuses are posted through the ledger.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from carbon_inclusion.gamification.models import Level

# --- levels -----------------------------------------------------------------------------


async def levels(session: AsyncSession) -> list[Level]:
    return list((await session.scalars(select(Level).order_by(Level.min_reduction_g))).all())


async def upsert_levels(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    stmt = insert(Level).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Level.level],
        set_={c: stmt.excluded[c] for c in ("name_zh", "name_en", "min_reduction_g")})
    await conn.execute(stmt)


# --- badges -----------------------------------------------------------------------------


async def badge_exists(conn: AsyncConnection, code: str) -> bool:
    return bool(await conn.scalar(text("SELECT 1 FROM badges WHERE code = :c"), {"c": code}))


async def insert_badge(conn: AsyncConnection, code: str) -> bool:
    """Version 1 of a new badge; False when the code is taken."""
    return await conn.scalar(text(
        "INSERT INTO badges (code, version) VALUES (:c, 1) "
        "ON CONFLICT (code) DO NOTHING RETURNING code"), {"c": code}) is not None


async def lock_badge(conn: AsyncConnection, code: str) -> int | None:
    """The badge's current version, locked for this transaction; None when there is none."""
    return await conn.scalar(text("SELECT version FROM badges WHERE code = :c FOR UPDATE"),
                             {"c": code})


async def insert_version(conn: AsyncConnection, code: str, version: int,
                         document: dict[str, Any], admin_id: uuid.UUID | None) -> None:
    await conn.execute(text(
        "INSERT INTO badge_versions (code, version, document, created_by) "
        "VALUES (:c, :v, CAST(:d AS jsonb), :by)"),
        {"c": code, "v": version, "d": msgspec.json.encode(document).decode(),
         "by": admin_id})


async def set_current(conn: AsyncConnection, code: str, version: int, status: str) -> None:
    await conn.execute(text(
        "UPDATE badges SET version = :v, status = :s, updated_at = now() "
        "WHERE code = :c"), {"c": code, "v": version, "s": status})


_BADGES = text("""
    SELECT b.code, b.version, b.status, v.document
      FROM badges b JOIN badge_versions v ON v.code = b.code AND v.version = b.version
     WHERE (CAST(:code AS text) IS NULL OR b.code = :code)
       AND (NOT :active OR b.status = 'active')
     ORDER BY b.code""")


async def current_badges(conn: AsyncConnection, code: str | None, *, active_only: bool
                         ) -> list[Any]:
    """``(code, version, status, document)`` of each badge (or the one) at its version."""
    return list((await conn.execute(_BADGES, {"code": code, "active": active_only})).all())


async def active_versions(conn: AsyncConnection) -> list[tuple[str, int]]:
    rows = await conn.execute(text(
        "SELECT code, version FROM badges WHERE status = 'active' ORDER BY code"))
    return [(r.code, r.version) for r in rows]


async def documents(conn: AsyncConnection, versions: Sequence[tuple[str, int]]) -> list[Any]:
    """``(code, version, document)`` of these badge versions."""
    return list((await conn.execute(text(
        "SELECT code, version, document FROM badge_versions "
        "WHERE (code, version) IN (SELECT * FROM unnest(CAST(:c AS text[]), "
        "CAST(:v AS int[])))"),
        {"c": [c for c, _ in versions], "v": [v for _, v in versions]})).all())


# --- badge awards -----------------------------------------------------------------------


_INSERT_AWARDS = text("""
    INSERT INTO badge_awards (id, citizen_id, code, level, version, bonus_points, entry_id)
    SELECT * FROM unnest(CAST(:id AS uuid[]), CAST(:citizen AS uuid[]),
                         CAST(:code AS text[]), CAST(:level AS smallint[]),
                         CAST(:version AS smallint[]), CAST(:bonus AS bigint[]),
                         CAST(:entry AS uuid[]))
        ON CONFLICT (citizen_id, code, level) DO NOTHING
    RETURNING citizen_id, code, level""")


async def insert_awards(conn: AsyncConnection, rows: list[dict[str, Any]]
                        ) -> set[tuple[uuid.UUID, str, int]]:
    """Insert the awards not made before (rows: id, citizen, code, level, version, bonus,
    entry); the (citizen, code, level) of those inserted."""
    result = await conn.execute(_INSERT_AWARDS, {k: [r[k] for r in rows] for k in rows[0]})
    return {(r.citizen_id, r.code, r.level) for r in result.all()}


async def awards_of(conn: AsyncConnection, citizen_id: uuid.UUID) -> list[Any]:
    """``(code, level, bonus_points, awarded_at, document)`` of a citizen's awards, in the
    order earned; ``document`` is the badge version's they were earned under."""
    return list((await conn.execute(text("""
        SELECT a.code, a.level, a.bonus_points, a.awarded_at, v.document
          FROM badge_awards a
          JOIN badge_versions v ON v.code = a.code AND v.version = a.version
         WHERE a.citizen_id = :c ORDER BY a.awarded_at, a.code, a.level"""),
        {"c": citizen_id})).all())


# --- challenges -------------------------------------------------------------------------


async def insert_challenge(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(text("""
        INSERT INTO challenges (id, title_zh, title_en, kind, behaviour, measure,
                                target, starts_on, ends_on, bonus_points, created_by)
        VALUES (:id, :title_zh, :title_en, :kind, :behaviour, :measure, :target,
                :starts_on, :ends_on, :bonus_points, :by)"""), values)


# A challenge with its participant count, and the citizen's participation (nulls if none).
_SELECT = """
    SELECT c.*, (SELECT count(*) FROM challenge_participants x WHERE x.challenge_id = c.id)
           AS participants, p.joined_at, p.completed_at, p.district_code
      FROM challenges c
      LEFT JOIN challenge_participants p ON p.challenge_id = c.id AND p.citizen_id = :c"""
_LIST = text(_SELECT + " WHERE c.ends_on >= :today ORDER BY c.starts_on, c.id")
_ONE = text(_SELECT + " WHERE c.id = :id")


async def open_challenges(conn: AsyncConnection, today: dt.date,
                          citizen_id: uuid.UUID | None) -> list[Any]:
    """Challenges not ended by ``today``, as seen by ``citizen_id``."""
    return list((await conn.execute(_LIST, {"today": today, "c": citizen_id})).all())


async def challenge_as_seen(conn: AsyncConnection, challenge_id: uuid.UUID,
                            citizen_id: uuid.UUID | None) -> Any:
    return (await conn.execute(_ONE, {"id": challenge_id, "c": citizen_id})).first()


async def add_participant(conn: AsyncConnection, challenge_id: uuid.UUID,
                          citizen_id: uuid.UUID, district: str | None) -> None:
    await conn.execute(text(
        "INSERT INTO challenge_participants (challenge_id, citizen_id, "
        "district_code, bonus_points) VALUES (:ch, :c, :d, 0)"),
        {"ch": challenge_id, "c": citizen_id, "d": district})


async def individual_running(conn: AsyncConnection, today: dt.date) -> bool:
    return bool(await conn.scalar(text(
        "SELECT EXISTS (SELECT 1 FROM challenges WHERE kind = 'individual' "
        "AND :today BETWEEN starts_on AND ends_on)"), {"today": today}))


async def open_participations(conn: AsyncConnection, citizens: list[uuid.UUID],
                              today: dt.date) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """``(challenge, citizen)`` of running individual challenges these citizens joined and
    have not completed."""
    rows = await conn.execute(text("""
        SELECT p.challenge_id, p.citizen_id FROM challenge_participants p
          JOIN challenges c ON c.id = p.challenge_id
         WHERE p.citizen_id = ANY(CAST(:ids AS uuid[])) AND p.completed_at IS NULL
           AND c.kind = 'individual' AND :today BETWEEN c.starts_on AND c.ends_on"""),
        {"ids": citizens, "today": today})
    return [(r.challenge_id, r.citizen_id) for r in rows]


async def challenges(conn: AsyncConnection, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    return {r.id: r for r in (await conn.execute(text(
        "SELECT * FROM challenges WHERE id = ANY(CAST(:ids AS uuid[]))"),
        {"ids": ids})).all()}


async def mark_completed(conn: AsyncConnection, challenge_id: uuid.UUID,
                         citizen_id: uuid.UUID, bonus_points: int) -> bool:
    """False when the participant had completed it already (or is not one)."""
    return bool(await conn.scalar(text(
        "UPDATE challenge_participants SET completed_at = now(), bonus_points = :b "
        "WHERE challenge_id = :ch AND citizen_id = :c AND completed_at IS NULL "
        "RETURNING 1"), {"ch": challenge_id, "c": citizen_id, "b": bonus_points}))


async def due_for_settling(conn: AsyncConnection, today: dt.date) -> list[uuid.UUID]:
    return list((await conn.execute(text(
        "SELECT id FROM challenges WHERE kind = 'district' AND ends_on < :today "
        "AND settled_at IS NULL ORDER BY id"), {"today": today})).scalars())


async def lock_unsettled(conn: AsyncConnection, challenge_id: uuid.UUID) -> Any:
    """The challenge, locked, when it is not settled and nobody else is settling it."""
    return (await conn.execute(text(
        "SELECT * FROM challenges WHERE id = :id AND settled_at IS NULL "
        "FOR UPDATE SKIP LOCKED"), {"id": challenge_id})).first()


async def participants(conn: AsyncConnection, challenge_id: uuid.UUID
                       ) -> list[tuple[uuid.UUID, str]]:
    """``(citizen, district)`` of every participant counted for a district."""
    rows = await conn.execute(text(
        "SELECT citizen_id, district_code FROM challenge_participants "
        "WHERE challenge_id = :ch AND district_code IS NOT NULL ORDER BY citizen_id"),
        {"ch": challenge_id})
    return [(r.citizen_id, r.district_code) for r in rows]


async def mark_settled(conn: AsyncConnection, challenge_id: uuid.UUID) -> None:
    await conn.execute(text("UPDATE challenges SET settled_at = now() WHERE id = :id"),
                       {"id": challenge_id})




# --- used by privacy --------------------------------------------------------------------


async def export_awards(conn: AsyncConnection, citizen_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.execute(text(
        "SELECT code, level, version, bonus_points, entry_id, awarded_at FROM badge_awards "
        "WHERE citizen_id = :c ORDER BY awarded_at, code, level"), {"c": citizen_id})
    return [dict(r._mapping) for r in rows]


async def export_participations(conn: AsyncConnection, citizen_id: uuid.UUID
                                ) -> list[dict[str, Any]]:
    rows = await conn.execute(text(
        "SELECT challenge_id, district_code, joined_at, completed_at, bonus_points "
        "FROM challenge_participants WHERE citizen_id = :c ORDER BY joined_at, challenge_id"),
        {"c": citizen_id})
    return [dict(r._mapping) for r in rows]
