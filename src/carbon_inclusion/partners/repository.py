"""Every statement on the partners' tables."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from carbon_inclusion.partners.models import Partner

# --- used by rewards ---


async def partner_exists(session: AsyncSession, partner_id: str) -> bool:
    return await session.get(Partner, partner_id) is not None
