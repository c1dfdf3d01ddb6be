"""Statements on the accounts domain's tables (users, districts, organisations)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.accounts.models import District, User

# --- used by cli/seeding ---


async def upsert_districts(conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
    """Insert the districts of ``seed/districts.json``, updating those already there by code."""
    stmt = insert(District).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[District.code],
        set_={c: stmt.excluded[c] for c in ("adcode", "name_zh", "name_en", "kind")},
    )
    await conn.execute(stmt)
    return len(rows)


async def district_codes(conn: AsyncConnection) -> list[str]:
    """Every district's code, in code order."""
    return list((await conn.scalars(select(District.code).order_by(District.code))).all())


async def any_citizen(conn: AsyncConnection) -> bool:
    return bool(await conn.scalar(select(exists().where(User.role == "citizen"))))
