"""Every statement on partners and bindings. ORM (session) for administration and
bindings; Core on the caller's connection for what a partner batch reads (its hot path)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from carbon_inclusion.common.locks import LOCK_ONE
from carbon_inclusion.partners.models import Binding, Partner


async def get(session: AsyncSession, partner_id: str, *,
              for_update: bool = False) -> Partner | None:
    return await session.get(Partner, partner_id, with_for_update=for_update or None)


async def all_partners(session: AsyncSession) -> Sequence[Partner]:
    return (await session.scalars(select(Partner).order_by(Partner.id))).all()


async def lock(session: AsyncSession, key: int) -> None:
    await session.execute(LOCK_ONE, {"key": key})


async def active_binding(session: AsyncSession, partner_id: str,
                         ref_hash: bytes) -> Binding | None:
    return (await session.scalars(select(Binding).where(
        Binding.partner_id == partner_id, Binding.ref_hash == ref_hash,
        Binding.removed_at.is_(None)))).first()


async def bindings_of(session: AsyncSession, citizen_id: uuid.UUID) -> Sequence[Binding]:
    return (await session.scalars(
        select(Binding).where(Binding.citizen_id == citizen_id, Binding.removed_at.is_(None))
        .order_by(Binding.created_at))).all()


async def remove_binding(session: AsyncSession, citizen_id: uuid.UUID,
                         binding_id: uuid.UUID, now: dt.datetime) -> bool:
    """Mark the citizen's active binding removed; False when there is none such."""
    result = await session.execute(
        update(Binding)
        .where(Binding.id == binding_id, Binding.citizen_id == citizen_id,
               Binding.removed_at.is_(None))
        .values(removed_at=now))
    return bool(result.rowcount)


# --- used by behaviours ---

async def bound_citizens(conn: AsyncConnection, partner_id: str,
                         hashes: set[bytes]) -> dict[bytes, uuid.UUID]:
    """``ref_hash → citizen_id`` of the references actively bound."""
    rows = (await conn.execute(
        select(Binding.ref_hash, Binding.citizen_id)
        .where(Binding.partner_id == partner_id, Binding.removed_at.is_(None),
               Binding.ref_hash.in_(hashes)))).all()
    return {r.ref_hash: r.citizen_id for r in rows}


# --- used by rewards --------------------------------------------------------------------


async def partner_exists(session: AsyncSession, partner_id: str) -> bool:
    return await session.get(Partner, partner_id) is not None


# --- used by privacy --------------------------------------------------------------------


async def export_bindings(conn: AsyncConnection, citizen_id: uuid.UUID) -> list[dict]:
    """Every binding the citizen made, removed ones too (the reference only as its hint)."""
    rows = await conn.execute(select(
        Binding.id, Binding.partner_id, Binding.ref_hint, Binding.created_at,
        Binding.removed_at).where(Binding.citizen_id == citizen_id)
        .order_by(Binding.created_at, Binding.id))
    return [dict(r._mapping) for r in rows]


async def erase_bindings(conn: AsyncConnection, citizen_id: uuid.UUID) -> int:
    """Delete every binding of a citizen whose account is deleted (the card may be bound
    again by its new holder); nothing else references a binding row."""
    result = await conn.execute(delete(Binding).where(Binding.citizen_id == citizen_id))
    return result.rowcount or 0
