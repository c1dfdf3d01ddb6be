"""Every statement on ``audit_log`` (append-only: rows are added, never changed)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from carbon_inclusion.audit.models import AuditRecord
from carbon_inclusion.ids import uuid7


def append(session: AsyncSession, row: AuditRecord) -> None:
    """Add ``row`` in the caller's transaction, so it commits with the action it records."""
    session.add(row)


async def insert_on(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """The same, for a service that works on a Core connection (the registry)."""
    await conn.execute(insert(AuditRecord.__table__).values(id=uuid7(), **values))
