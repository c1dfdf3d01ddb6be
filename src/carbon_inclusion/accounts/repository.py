"""Statements on the accounts domain's tables."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.accounts.models import User

# --- used by behaviours ---


async def district_of(conn: AsyncConnection, citizen_id: uuid.UUID) -> str | None:
    """The district a citizen's behaviours are counted in."""
    return await conn.scalar(select(User.district_code).where(User.id == citizen_id))
