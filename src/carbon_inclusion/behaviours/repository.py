"""Every statement on the behaviours' tables."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# --- used by registry ---
# The registry pools credited reductions into batches and shows where a batch's grams came
# from; what it has allocated (``credit_allocations``) it passes in as ``(behaviour, grams)``.


async def credited_for_vintage(conn: AsyncConnection, methodology_code: str,
                               day_from: dt.date, day_to: dt.date
                               ) -> list[tuple[uuid.UUID, Decimal, int]]:
    """``(behaviour, reduction_g, methodology_version)`` of the methodology's credited
    behaviours with a reduction, on programme days ``day_from``–``day_to``."""
    rows = await conn.execute(text(
        "SELECT id, reduction_g, methodology_version FROM behaviours "
        "WHERE methodology_code = :code AND status = 'credited' AND reduction_g > 0 "
        "AND programme_day BETWEEN :from AND :to ORDER BY id"),
        {"code": methodology_code, "from": day_from, "to": day_to})
    return [(r.id, r.reduction_g, r.methodology_version) for r in rows]


_PROVENANCE = text("""
    WITH a AS (SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:grams AS numeric[]))
                      AS x(behaviour_id, grams))
    SELECT dimension, key, count(*) AS n, sum(grams) AS grams FROM (
        SELECT 'type' AS dimension, b.type AS key, a.grams
          FROM a JOIN behaviours b ON b.id = a.behaviour_id
        UNION ALL
        SELECT 'district', coalesce(b.district_code, 'unknown'), a.grams
          FROM a JOIN behaviours b ON b.id = a.behaviour_id
        UNION ALL
        SELECT 'month', to_char(b.programme_day, 'YYYY-MM'), a.grams
          FROM a JOIN behaviours b ON b.id = a.behaviour_id) s
     GROUP BY dimension, key ORDER BY dimension, grams DESC, key""")


async def provenance(conn: AsyncConnection,
                     allocations: Sequence[tuple[uuid.UUID, Decimal]]) -> list[Any]:
    """``(dimension, key, n, grams)`` of ``(behaviour, grams)`` by behaviour type, district
    and month, largest first within each dimension."""
    return list((await conn.execute(_PROVENANCE, {
        "ids": [b for b, _ in allocations], "grams": [g for _, g in allocations]})).all())


async def allocation_mismatches(conn: AsyncConnection,
                                allocations: Sequence[tuple[uuid.UUID, Decimal]]) -> list[str]:
    """One sentence per allocated behaviour that is not credited with the grams allocated."""
    return list((await conn.execute(text("""
        SELECT 'behaviour ' || b.id || ' (' || b.status || ', ' || b.reduction_g
               || ' g) is allocated ' || a.grams || ' g'
          FROM unnest(CAST(:ids AS uuid[]), CAST(:grams AS numeric[])) AS a(id, grams)
          JOIN behaviours b ON b.id = a.id
         WHERE b.status <> 'credited' OR b.reduction_g <> a.grams"""), {
        "ids": [b for b, _ in allocations], "grams": [g for _, g in allocations]})).scalars())
