"""Append-only audit records, written inside the transaction of the action they describe, and
read by administrators (``AuditLog``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from carbon_inclusion.audit import repository
from carbon_inclusion.audit.models import AuditRecord
from carbon_inclusion.audit.schemas import AuditOut, AuditPage
from carbon_inclusion.common.pagination import decode_one, page
from carbon_inclusion.db import Database


def record(
    session: AsyncSession,
    *,
    actor_id: uuid.UUID | None,
    action: str,
    subject_type: str,
    subject_id: str,
    document_sha256: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    repository.append(
        session,
        AuditRecord(
            actor_id=actor_id,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            document_sha256=document_sha256,
            details=details or {},
        )
    )


async def record_on(
    conn: AsyncConnection,
    *,
    actor_id: uuid.UUID | None,
    action: str,
    subject_type: str,
    subject_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    """``record`` on a Core connection, in its transaction."""
    await repository.insert_on(conn, {
        "actor_id": actor_id, "action": action, "subject_type": subject_type,
        "subject_id": subject_id, "details": details or {}})


class AuditLog:
    """The log as administrators read it: newest first, by action and by actor."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def page(self, *, action: str | None, actor_id: uuid.UUID | None, limit: int,
                   cursor: str | None) -> AuditPage:
        after = decode_one(cursor, uuid.UUID)
        async with self.db.engine.connect() as conn:
            rows = await repository.page(conn, action=action, actor_id=actor_id, after=after,
                                         limit=limit + 1)
        shown, next_cursor = page(rows, limit, lambda r: (r.id,))
        return AuditPage([AuditOut(
            id=r.id, at=r.at, actor_id=r.actor_id, action=r.action,
            subject_type=r.subject_type, subject_id=r.subject_id,
            document_sha256=r.document_sha256, detail=r.details or {})
            for r in shown], next_cursor)
