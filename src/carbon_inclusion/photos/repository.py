"""Every statement on photos (Core, on the caller's connection)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, delete, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.photos.models import Photo

_P = Photo.__table__


async def insert_new(conn: AsyncConnection, row: dict[str, Any]) -> bool:
    """Insert ``row`` unless the citizen used its Idempotency-Key before (False then). A
    concurrent insert with the same key waits here for the first to commit or roll back."""
    stmt = insert(_P).values(**row).on_conflict_do_nothing(
        index_elements=["citizen_id", "idempotency_key"]).returning(_P.c.id)
    return (await conn.execute(stmt)).first() is not None


async def by_key(conn: AsyncConnection, citizen_id: uuid.UUID, key: str) -> Any:
    return (await conn.execute(select(_P).where(
        _P.c.citizen_id == citizen_id, _P.c.idempotency_key == key))).first()


async def get(conn: AsyncConnection, photo_id: uuid.UUID,
              citizen_id: uuid.UUID | None = None) -> Any:
    """One photo; with ``citizen_id``, only if it is that citizen's."""
    stmt = select(_P).where(_P.c.id == photo_id)
    if citizen_id is not None:
        stmt = stmt.where(_P.c.citizen_id == citizen_id)
    return (await conn.execute(stmt)).first()


async def attach(conn: AsyncConnection, citizen_id: uuid.UUID, photo_id: uuid.UUID,
                 behaviour_id: uuid.UUID, occurred_at: dt.datetime, now: dt.datetime) -> bool:
    """Attach the citizen's photo to their behaviour, unless it is attached already (False):
    a conditional update, so of two claims naming one photo only one can have it."""
    stmt = (update(_P).where(_P.c.citizen_id == citizen_id, _P.c.id == photo_id,
                             _P.c.behaviour_id.is_(None))
            .values(behaviour_id=behaviour_id, behaviour_occurred_at=occurred_at,
                    attached_at=now).returning(_P.c.id))
    return (await conn.execute(stmt)).first() is not None


_OF_BEHAVIOURS = text(
    "SELECT p.* FROM photos p JOIN unnest(CAST(:c AS uuid[]), CAST(:b AS uuid[])) "
    "AS w(citizen_id, behaviour_id) ON p.citizen_id = w.citizen_id "
    "AND p.behaviour_id = w.behaviour_id")


async def of_behaviours(conn: AsyncConnection,
                        behaviours: Iterable[tuple[uuid.UUID, uuid.UUID]]) -> dict[uuid.UUID, Any]:
    """The photos attached to these (citizen, behaviour) pairs, by behaviour id."""
    pairs = sorted(set(behaviours))
    if not pairs:
        return {}
    rows = (await conn.execute(_OF_BEHAVIOURS, {"c": [c for c, _ in pairs],
                                                "b": [b for _, b in pairs]})).all()
    return {r.behaviour_id: r for r in rows}


async def erase(conn: AsyncConnection, citizen_id: uuid.UUID) -> list[str]:
    """Delete the citizen's photo rows; the keys of their objects, for the caller to delete."""
    rows = await conn.execute(delete(_P).where(_P.c.citizen_id == citizen_id)
                              .returning(_P.c.key))
    return sorted(r.key for r in rows)


async def expire(conn: AsyncConnection, *, attached_before: dt.datetime,
                 loose_before: dt.datetime) -> list[str]:
    """Delete the rows of photos past retention: attached to a behaviour that occurred before
    ``attached_before``, or never attached and uploaded before ``loose_before``; the keys of
    their objects, for the caller to delete. Across citizens (a daily job)."""
    rows = await conn.execute(delete(_P).where(or_(
        _P.c.behaviour_occurred_at < attached_before,
        and_(_P.c.behaviour_id.is_(None), _P.c.created_at < loose_before))).returning(_P.c.key))
    return sorted(r.key for r in rows)


_EXPORTED = ("id", "content_type", "bytes", "behaviour_id", "created_at", "attached_at")


async def export(conn: AsyncConnection, citizen_id: uuid.UUID) -> list[dict[str, Any]]:
    rows: Sequence[Any] = (await conn.execute(
        select(*(_P.c[name] for name in _EXPORTED), _P.c.sha256)
        .where(_P.c.citizen_id == citizen_id).order_by(_P.c.created_at, _P.c.id))).all()
    return [{**{n: getattr(r, n) for n in _EXPORTED}, "sha256": r.sha256.hex()} for r in rows]
