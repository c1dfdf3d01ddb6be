"""Every statement on ``audit_log`` (append-only: rows are added, never changed)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from carbon_inclusion.audit.models import AuditRecord


def append(session: AsyncSession, row: AuditRecord) -> None:
    """Add ``row`` in the caller's transaction, so it commits with the action it records."""
    session.add(row)
