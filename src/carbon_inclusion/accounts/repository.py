"""Every statement on the accounts' tables."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# --- used by events ---


async def organisation_name(conn: AsyncConnection, organisation_id: uuid.UUID) -> str | None:
    return await conn.scalar(text("SELECT name FROM organisations WHERE id = :id"),
                             {"id": organisation_id})
