"""Every statement on partners and bindings. ORM (session) for administration and
bindings; Core on the caller's connection for what a partner batch reads (its hot path)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from carbon_inclusion.common.locks import LOCK_ONE
from carbon_inclusion.partners.models import Binding, BindingCode, Partner


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


async def confirmed_binding(session: AsyncSession, partner_id: str,
                            ref_hash: bytes) -> Binding | None:
    """The reference's confirmed binding (at most one: the unique index)."""
    return (await session.scalars(select(Binding).where(
        Binding.partner_id == partner_id, Binding.ref_hash == ref_hash,
        Binding.status == "confirmed", Binding.removed_at.is_(None)))).first()


async def own_binding(session: AsyncSession, citizen_id: uuid.UUID, partner_id: str,
                      ref_hash: bytes) -> Binding | None:
    """The citizen's active (pending or confirmed) binding of the reference, if any."""
    return (await session.scalars(select(Binding).where(
        Binding.citizen_id == citizen_id, Binding.partner_id == partner_id,
        Binding.ref_hash == ref_hash, Binding.removed_at.is_(None))
        .order_by(Binding.created_at))).first()


async def binding(session: AsyncSession, binding_id: uuid.UUID, *,
                  for_update: bool = False) -> Binding | None:
    return await session.get(Binding, binding_id, with_for_update=for_update or None)


def add_code(session: AsyncSession, code: BindingCode) -> None:
    session.add(code)


async def take_code(session: AsyncSession, partner_id: str, ref_hash: bytes,
                    code_hash: bytes, now: dt.datetime) -> bool:
    """Use up an unexpired, unused code of the reference; False when there is none such."""
    result = await session.execute(
        update(BindingCode)
        .where(BindingCode.partner_id == partner_id, BindingCode.ref_hash == ref_hash,
               BindingCode.code_hash == code_hash, BindingCode.used_at.is_(None),
               BindingCode.expires_at > now)
        .values(used_at=now))
    return bool(result.rowcount)


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
    """``ref_hash → citizen_id`` of the references bound and confirmed (a pending binding
    receives nothing)."""
    rows = (await conn.execute(
        select(Binding.ref_hash, Binding.citizen_id)
        .where(Binding.partner_id == partner_id, Binding.removed_at.is_(None),
               Binding.status == "confirmed",
               Binding.ref_hash.in_(hashes)))).all()
    return {r.ref_hash: r.citizen_id for r in rows}


# --- used by registry (monitoring reports) ---


async def names(conn: AsyncConnection, partner_ids: Sequence[str]) -> dict[str, str]:
    """``partner_id → name`` of these partners."""
    rows = (await conn.execute(select(Partner.id, Partner.name)
                               .where(Partner.id.in_(list(partner_ids))))).all()
    return {r.id: r.name for r in rows}


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
