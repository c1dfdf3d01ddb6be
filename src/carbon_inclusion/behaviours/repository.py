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


# --- used by gamification ---------------------------------------------------------------
# Reads of ``daily_totals`` (what each citizen was credited per type and programme day) for
# levels, streaks, badges, challenges and leaderboards. Imports are local to this section so
# that it can sit at the end of the behaviours repository as it grows.

import datetime as _dt
import uuid as _uuid
from collections.abc import AsyncIterator as _AsyncIterator
from decimal import Decimal as _Decimal
from typing import Any as _Any

from sqlalchemy import text as _text
from sqlalchemy.ext.asyncio import AsyncConnection as _AsyncConnection

CitizenTotals = tuple[list[_dt.date], dict[str, tuple[_Decimal, _Decimal]]]

_CITIZEN_TOTALS_BY_TYPE = _text("""
    WITH days AS (
        SELECT citizen_id, array_agg(DISTINCT day ORDER BY day) AS days FROM daily_totals
         WHERE citizen_id = ANY(CAST(:ids AS uuid[])) AND count > 0 GROUP BY citizen_id)
    SELECT c.id, d.days, t.type, t.count, t.grams
      FROM unnest(CAST(:ids AS uuid[])) AS c(id)
      LEFT JOIN days d ON d.citizen_id = c.id
      LEFT JOIN (SELECT citizen_id, type, sum(count) AS count, sum(grams) AS grams
                   FROM daily_totals WHERE citizen_id = ANY(CAST(:ids AS uuid[]))
                  GROUP BY citizen_id, type) t ON t.citizen_id = c.id""")


async def totals_by_type(conn: _AsyncConnection, citizens: list[_uuid.UUID]
                         ) -> dict[_uuid.UUID, CitizenTotals]:
    """Per citizen: the sorted programme days with a credited behaviour, and lifetime
    ``(count, grams)`` per behaviour type. Every citizen asked for is in the answer."""
    out: dict[_uuid.UUID, CitizenTotals] = {}
    for r in (await conn.execute(_CITIZEN_TOTALS_BY_TYPE, {"ids": citizens})).all():
        by_type = out.setdefault(r.id, (list(r.days or []), {}))[1]
        if r.type is not None:
            by_type[r.type] = (_Decimal(r.count), _Decimal(r.grams))
    return out


_LIFETIME = _text("""
    SELECT sum(grams) AS grams,
           array_agg(DISTINCT day ORDER BY day) FILTER (WHERE count > 0) AS days
      FROM daily_totals WHERE citizen_id = :c""")


async def lifetime(conn: _AsyncConnection, citizen_id: _uuid.UUID
                   ) -> tuple[_Decimal, list[_dt.date]]:
    """A citizen's lifetime grams and the sorted days with a credited behaviour."""
    row = (await conn.execute(_LIFETIME, {"c": citizen_id})).one()
    return _Decimal(row.grams or 0), list(row.days or [])


# ``column`` is "count" or "grams", never user input.
_SUMS_BETWEEN = """
    SELECT citizen_id, sum({column}) FROM daily_totals
     WHERE citizen_id = ANY(CAST(:ids AS uuid[])) AND day BETWEEN :start AND :end
       AND (CAST(:behaviour AS text) IS NULL OR type = :behaviour)
     GROUP BY citizen_id"""
_SUM_COLUMNS = {"count": _text(_SUMS_BETWEEN.format(column="count")),
                "grams": _text(_SUMS_BETWEEN.format(column="grams"))}


async def sums_between(conn: _AsyncConnection, citizens: list[_uuid.UUID], first: _dt.date,
                       last: _dt.date, behaviour: str | None, measure: str
                       ) -> dict[_uuid.UUID, _Decimal]:
    """``measure`` ("count" or "grams") per citizen over the days ``first``..``last`` (both
    included), of one behaviour type or (None) all; citizens with nothing are left out."""
    rows = (await conn.execute(_SUM_COLUMNS[measure], {
        "ids": citizens, "start": first, "end": last, "behaviour": behaviour})).all()
    return {r[0]: _Decimal(r[1]) for r in rows}


_GRAMS_SINCE = _text("""
    SELECT citizen_id,
           sum(grams) FILTER (WHERE day >= :week),
           sum(grams) FILTER (WHERE day >= :month),
           sum(grams)
      FROM daily_totals WHERE citizen_id = ANY(CAST(:ids AS uuid[]))
     GROUP BY citizen_id""")


async def grams_since(conn: _AsyncConnection, citizens: list[_uuid.UUID], week: _dt.date,
                      month: _dt.date) -> list[_Any]:
    """``(citizen_id, grams since week, grams since month, grams ever)`` of each citizen
    with any daily total (null sums when none in the period)."""
    return list((await conn.execute(_GRAMS_SINCE, {"ids": citizens, "week": week,
                                                   "month": month})).all())


def _window(start: _dt.date | None, end: _dt.date | None,
            citizens: list[_uuid.UUID] | None) -> tuple[str, dict[str, _Any]]:
    where, params = ["true"], {}
    if start is not None:
        where.append("day >= :start AND day < :end")
        params |= {"start": start, "end": end}
    if citizens is not None:
        where.append("citizen_id = ANY(CAST(:ids AS uuid[]))")
        params["ids"] = citizens
    return " AND ".join(where), params


async def stream_grams(conn: _AsyncConnection, start: _dt.date | None, end: _dt.date | None,
                       citizens: list[_uuid.UUID] | None, chunk: int
                       ) -> _AsyncIterator[list[tuple[_uuid.UUID, _Decimal]]]:
    """``(citizen_id, grams)`` of every citizen with positive grams in [start, end) (None:
    all time), optionally only among ``citizens``, in chunks from one server-side cursor."""
    where, params = _window(start, end, citizens)
    result = await conn.stream(_text(
        f"SELECT citizen_id, sum(grams) FROM daily_totals WHERE {where} "  # noqa: S608
        "GROUP BY citizen_id HAVING sum(grams) > 0"), params)
    async for rows in result.partitions(chunk):
        yield [(c, g) for c, g in rows]


async def grams_between(conn: _AsyncConnection, start: _dt.date | None, end: _dt.date | None,
                        citizens: list[_uuid.UUID]) -> dict[_uuid.UUID, _Decimal]:
    """Grams of each of ``citizens`` with any daily total in [start, end) (None: all time)."""
    where, params = _window(start, end, citizens)
    rows = (await conn.execute(_text(
        f"SELECT citizen_id, sum(grams) FROM daily_totals WHERE {where} "  # noqa: S608
        "GROUP BY citizen_id"), params)).all()
    return {c: g for c, g in rows}
