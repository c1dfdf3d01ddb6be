"""Every statement on ``audit_log`` (append-only: rows are added, never changed)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from carbon_inclusion.audit.models import AuditRecord
from carbon_inclusion.ids import uuid7


def append(session: AsyncSession, row: AuditRecord) -> None:
    """Add ``row`` in the caller's transaction, so it commits with the action it records."""
    session.add(row)


async def insert_on(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """The same, for a service that works on a Core connection (the registry)."""
    await conn.execute(insert(AuditRecord.__table__).values(id=uuid7(), **values))


async def page(conn: AsyncConnection, *, action: str | None, actor_id: uuid.UUID | None,
               after: uuid.UUID | None, limit: int) -> list[Any]:
    """Records newest first (ids are UUIDv7, in the order they were written), of one
    ``action`` and one ``actor_id`` when given."""
    t = AuditRecord.__table__
    stmt = select(t)
    if action is not None:
        stmt = stmt.where(t.c.action == action)
    if actor_id is not None:
        stmt = stmt.where(t.c.actor_id == actor_id)
    if after is not None:
        stmt = stmt.where(t.c.id < after)
    return list((await conn.execute(stmt.order_by(t.c.id.desc()).limit(limit))).all())
