"""Append-only audit records, written inside the transaction of the action they describe."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from carbon_inclusion.audit import repository
from carbon_inclusion.audit.models import AuditRecord


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
