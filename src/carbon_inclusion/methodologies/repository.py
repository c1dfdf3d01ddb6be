"""Every statement on the methodologies' tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# --- used by registry ---


async def is_published_behaviour_code(conn: AsyncConnection, code: str) -> bool:
    """Whether a behaviour methodology of this code has been published (in force or not)."""
    return bool(await conn.scalar(text(
        "SELECT 1 FROM methodology_versions WHERE code = :c AND status <> 'draft' "
        "AND kind = 'behaviour' LIMIT 1"), {"c": code}))


# --- used by events ---


async def footprint_version_at(conn: AsyncConnection, behaviour: str, at: dt.datetime
                               ) -> Any | None:
    """``(id, code, version, sha256, document)`` of the footprint methodology for
    ``behaviour`` in force at ``at``, or None."""
    return (await conn.execute(text("""
        SELECT id, code, version, sha256, document FROM methodology_versions
         WHERE kind = 'footprint' AND behaviour = :b
           AND status IN ('published', 'retired')
           AND in_force_from <= :at AND (in_force_to IS NULL OR in_force_to > :at)
         ORDER BY code, version DESC LIMIT 1"""), {"b": behaviour, "at": at})).first()


# --- used by gamification ---------------------------------------------------------------
# Imports are local to this section so that it can sit at the end of the methodologies
# repository as it grows.

from sqlalchemy import text as _text
from sqlalchemy.ext.asyncio import AsyncConnection as _AsyncConnection

_BEHAVIOUR_TYPES = _text("SELECT DISTINCT behaviour FROM methodology_versions "
                         "WHERE kind = 'behaviour' ORDER BY 1")


async def behaviour_types(conn: _AsyncConnection) -> list[str]:
    """Every behaviour type a methodology (any version, any status) scores, sorted."""
    return list((await conn.execute(_BEHAVIOUR_TYPES)).scalars())
