"""Every statement on ``verified_emissions`` (append-only: rows are added, never changed).

The latest revision of an organisation-year is its current entry. Writers of an
organisation-year (an entry or correction here, a compliance offset in ``events``) hold
``year_lock_key`` for the rest of their transaction, so an offset is never capped by a
revision that is being replaced under it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.common.locks import LOCK_IN_ORDER, LOCK_ONE, lock_key


def year_lock_key(organisation_id: uuid.UUID, year: int) -> int:
    return lock_key("verified-emissions", organisation_id, year)


async def lock_keys(conn: AsyncConnection, keys: list[int]) -> None:
    await conn.execute(LOCK_IN_ORDER, {"keys": keys})


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(text("""
        INSERT INTO verified_emissions (id, organisation_id, year, revision,
            verified_emissions_t, report_reference, verified_on, reason, supersedes,
            verification_body_id, entered_by, idempotency_key, request_sha256, entered_at)
        VALUES (:id, :o, :year, :revision, :t, :ref, :on, :reason, :supersedes, :body,
                :by, :key, :sha, :at)"""), values)


# Each row with the id of the revision that replaced it (None: the current one). ``where``
# is one of the fixed conditions below, never user input.
_ROWS = """
    SELECT v.*, (SELECT n.id FROM verified_emissions n WHERE n.supersedes = v.id)
               AS superseded_by
      FROM verified_emissions v WHERE {where}"""
_BY_ID = text(_ROWS.format(where="v.id = :id"))
_BY_KEY = text(_ROWS.format(where="v.entered_by = :by AND v.idempotency_key = :key"))
_LATEST = text(_ROWS.format(where="v.organisation_id = :o AND v.year = :y "
                                  "ORDER BY v.revision DESC LIMIT 1"))
# Every revision of the ``n`` most recent years before ``before`` (all years when null).
_YEARS = text(_ROWS.format(where="""v.organisation_id = :o AND v.year IN (
           SELECT DISTINCT year FROM verified_emissions
            WHERE organisation_id = :o AND (CAST(:before AS int) IS NULL OR year < :before)
            ORDER BY year DESC LIMIT :n)
     ORDER BY v.year DESC, v.revision DESC"""))


async def entry(conn: AsyncConnection, entry_id: uuid.UUID) -> Any | None:
    return (await conn.execute(_BY_ID, {"id": entry_id})).first()


async def by_key(conn: AsyncConnection, entered_by: uuid.UUID, key: str) -> Any | None:
    """The entry this verifier made under this Idempotency-Key."""
    return (await conn.execute(_BY_KEY, {"by": entered_by, "key": key})).first()


async def years(conn: AsyncConnection, organisation_id: uuid.UUID, before: int | None,
                limit: int) -> list[Any]:
    """Every revision of the organisation's ``limit`` latest years before ``before``,
    newest year first, each year's latest revision first."""
    return list((await conn.execute(_YEARS, {"o": organisation_id, "before": before,
                                             "n": limit})).all())


# --- used by events -------------------------------------------------------------------------

async def lock_year(conn: AsyncConnection, organisation_id: uuid.UUID, year: int) -> None:
    """Hold the organisation-year until the transaction ends (see the module docstring)."""
    await conn.execute(LOCK_ONE, {"key": year_lock_key(organisation_id, year)})


async def current(conn: AsyncConnection, organisation_id: uuid.UUID, year: int) -> Any | None:
    """The organisation's latest entry for ``year``, or None when the register has none."""
    return (await conn.execute(_LATEST, {"o": organisation_id, "y": year})).first()
