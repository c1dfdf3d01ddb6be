"""Every statement on behaviours, partner_records and daily_totals.

Core on the caller's connection throughout: claims and partner batches are the hot paths,
and a batch's counters, behaviours and ledger entries are written in one statement (the
ledger runs it: ``ledger.post(..., along=...)``). Set-based statements (``unnest``, JSON
aggregates) stay ``text()`` constants here.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.behaviours.models import Behaviour, BehaviourKey, PartnerRecord
from carbon_inclusion.core.caps import Usage
from carbon_inclusion.ledger import service as ledger

DayKey = tuple[uuid.UUID, str, dt.date]
Keyset = tuple[dt.datetime, uuid.UUID]
_T = Behaviour.__table__


@dataclass(frozen=True, slots=True)
class Nearby:
    """An open behaviour close in time to a candidate (same trip, maybe)."""

    id: uuid.UUID
    citizen_id: uuid.UUID
    type: str
    occurred_at: dt.datetime
    source: str
    status: str
    points: int
    reduction_g: Decimal
    programme_day: dt.date
    ledger_entry_id: uuid.UUID | None


# --- the pipeline: context, counters, the one write -------------------------------------

_CONTEXT = text(
    "SELECT (SELECT coalesce(json_agg(json_build_array(id, citizen_id, type, "
    "occurred_at, source, status, points, reduction_g, programme_day, ledger_entry_id)"
    "), '[]') FROM behaviours WHERE citizen_id = ANY(CAST(:cs AS uuid[])) "
    "AND type = ANY(CAST(:ts AS text[])) AND status IN ('credited', 'pending_review') "
    "AND occurred_at BETWEEN :lo AND :hi) AS nearby, "
    "(SELECT coalesce(json_agg(json_build_array(citizen_id, type, day, count, grams, "
    "points)), '[]') FROM daily_totals WHERE (citizen_id, type, day) IN "
    "(SELECT * FROM unnest(CAST(:c AS uuid[]), CAST(:t AS text[]), "
    "CAST(:d AS date[])))) AS totals")


async def context(conn: AsyncConnection, citizens: Iterable[uuid.UUID], types: Iterable[str],
                  lo: dt.datetime, hi: dt.datetime, keys: Sequence[DayKey]
                  ) -> tuple[dict[tuple[uuid.UUID, str], list[Nearby]], dict[DayKey, Usage]]:
    """The open behaviours of ``citizens``/``types`` occurring in [lo, hi], by (citizen,
    type), and the day counters ``keys`` (zero where none is stored), in one statement."""
    row = (await conn.execute(_CONTEXT, {
        "cs": sorted(set(citizens)), "ts": sorted(set(types)), "lo": lo, "hi": hi,
        "c": [k[0] for k in keys], "t": [k[1] for k in keys],
        "d": [k[2] for k in keys]})).one()
    nearby: dict[tuple[uuid.UUID, str], list[Nearby]] = defaultdict(list)
    for b in _json(row.nearby):
        behaviour = Nearby(uuid.UUID(b[0]), uuid.UUID(b[1]), b[2],
                           dt.datetime.fromisoformat(b[3]), b[4], b[5], b[6],
                           Decimal(str(b[7])), dt.date.fromisoformat(b[8]),
                           uuid.UUID(b[9]) if b[9] else None)
        nearby[(behaviour.citizen_id, behaviour.type)].append(behaviour)
    used = dict.fromkeys(keys, Usage())
    for c, t, d, n, g, p in _json(row.totals):
        used[(uuid.UUID(c), t, dt.date.fromisoformat(d))] = Usage(n, Decimal(str(g)), p)
    return nearby, used


async def read_totals(conn: AsyncConnection, keys: Iterable[DayKey]) -> dict[DayKey, Usage]:
    keys = sorted(set(keys))
    rows = (await conn.execute(text(
        "SELECT citizen_id, type, day, count, grams, points FROM daily_totals "
        "WHERE (citizen_id, type, day) IN (SELECT * FROM unnest(CAST(:c AS uuid[]), "
        "CAST(:t AS text[]), CAST(:d AS date[])))"),
        {"c": [k[0] for k in keys], "t": [k[1] for k in keys],
         "d": [k[2] for k in keys]})).all()
    used = dict.fromkeys(keys, Usage())
    used.update({(r.citizen_id, r.type, r.day): Usage(r.count, r.grams, r.points)
                 for r in rows})
    return used


_TOTALS_UPSERT = (
    "INSERT INTO daily_totals (citizen_id, type, day, count, grams, points) "
    "SELECT * FROM unnest(CAST(:t_c AS uuid[]), CAST(:t_t AS text[]), CAST(:t_d AS date[]), "
    "CAST(:t_n AS int[]), CAST(:t_g AS numeric[]), CAST(:t_p AS int[])) "
    "ON CONFLICT (citizen_id, type, day) DO UPDATE SET count = EXCLUDED.count, "
    "grams = EXCLUDED.grams, points = EXCLUDED.points")


async def write_totals(conn: AsyncConnection, used: dict[DayKey, Usage]) -> None:
    """Store the counters as computed under the lock (absolute values, not deltas)."""
    if used:
        await conn.execute(text(_TOTALS_UPSERT), _totals_params(used))


BEHAVIOUR_COLUMNS = (
    ("id", "uuid"), ("citizen_id", "uuid"), ("type", "text"), ("occurred_at", "timestamptz"),
    ("programme_day", "date"), ("district_code", "text"), ("source", "text"),
    ("evidence", "text"), ("partner_id", "text"), ("external_id", "text"),
    ("idempotency_key", "text"), ("request_hash", "bytea"), ("status", "text"),
    ("reason", "text"), ("reason_detail", "jsonb"), ("flags", "jsonb"), ("data", "jsonb"),
    ("methodology_id", "uuid"), ("methodology_code", "text"), ("methodology_version", "bigint"),
    ("computed_reduction_g", "numeric"), ("computed_points", "int"), ("reduction_g", "numeric"),
    ("points", "int"), ("ledger_entry_id", "uuid"), ("created_at", "timestamptz"),
    ("decided_at", "timestamptz"), ("period_start", "date"),
)
_NAMES = [name for name, _ in BEHAVIOUR_COLUMNS]
_BEHAVIOURS_INSERT = (
    f"INSERT INTO behaviours ({', '.join(_NAMES)}) SELECT "  # noqa: S608 - constant SQL
    + ", ".join("ARRAY(SELECT jsonb_array_elements_text(u.flags))" if n == "flags"
                else f"u.{n}" for n in _NAMES)
    + " FROM unnest(" + ", ".join(f"CAST(:b_{n} AS {t}[])" for n, t in BEHAVIOUR_COLUMNS)
    + f") AS u({', '.join(_NAMES)})")
_WRITE = (f"totals AS ({_TOTALS_UPSERT})", f"new_behaviours AS ({_BEHAVIOURS_INSERT})")


async def write(conn: AsyncConnection, used: dict[DayKey, Usage],
                rows: list[dict[str, Any]], entries: Sequence[ledger.Entry]) -> None:
    """Counters, behaviour rows and their ledger entries and postings: one statement."""
    await ledger.post(conn, entries, along=ledger.Along(
        ctes=_WRITE, params=_totals_params(used) | _behaviour_params(rows)))


async def supersede(conn: AsyncConnection, ids: Iterable[uuid.UUID], now: dt.datetime,
                    reason: str = "superseded_by_partner") -> None:
    await conn.execute(
        update(_T).where(_T.c.id == bindparam("bid"))
        .values(status="superseded", reason=reason, decided_at=now),
        [{"bid": i} for i in ids])


PeriodKey = tuple[uuid.UUID, str, dt.date]  # citizen, type, first day of the period


@dataclass(frozen=True, slots=True)
class Holder(Nearby):
    """The open behaviour holding a citizen's period (``behaviour_period_keys``)."""

    computed_reduction_g: Decimal
    period_start: dt.date


_HOLDERS = text("""
    SELECT b.id, b.citizen_id, b.type, b.occurred_at, b.source, b.status, b.points,
           b.reduction_g, b.programme_day, b.ledger_entry_id, b.computed_reduction_g,
           b.period_start
      FROM unnest(CAST(:c AS uuid[]), CAST(:t AS text[]), CAST(:d AS date[]))
           AS u(citizen_id, type, period_start)
      JOIN behaviour_period_keys k ON k.citizen_id = u.citizen_id AND k.type = u.type
                                  AND k.period_start = u.period_start
      JOIN behaviours b ON b.id = k.behaviour_id AND b.occurred_at = k.occurred_at
                       AND b.citizen_id = k.citizen_id""")


async def period_holders(conn: AsyncConnection, keys: Iterable[PeriodKey]
                         ) -> dict[PeriodKey, Holder]:
    """The open behaviour holding each of these periods, where one does (found by its key
    row, so the read goes to the behaviour's month only)."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    rows = await conn.execute(_HOLDERS, {"c": [k[0] for k in keys], "t": [k[1] for k in keys],
                                         "d": [k[2] for k in keys]})
    return {(r.citizen_id, r.type, r.period_start): Holder(*r) for r in rows}


_DAYS_OF = text("""
    SELECT d.citizen_id, d.type, d.day, d.count, d.grams, d.points
      FROM unnest(CAST(:c AS uuid[]), CAST(:t AS text[]), CAST(:lo AS date[]),
                  CAST(:hi AS date[])) AS u(citizen_id, type, lo, hi)
      JOIN daily_totals d ON d.citizen_id = u.citizen_id AND d.type = u.type
                         AND d.day >= u.lo AND d.day < u.hi""")


async def totals_between(conn: AsyncConnection,
                         ranges: Iterable[tuple[uuid.UUID, str, dt.date, dt.date]]
                         ) -> dict[DayKey, Usage]:
    """The day counters stored for each (citizen, type) on the days [lo, hi) of each range
    (days with none stored are left out): what a period's caps count over."""
    ranges = sorted(set(ranges))
    if not ranges:
        return {}
    rows = await conn.execute(_DAYS_OF, {
        "c": [r[0] for r in ranges], "t": [r[1] for r in ranges],
        "lo": [r[2] for r in ranges], "hi": [r[3] for r in ranges]})
    return {(r.citizen_id, r.type, r.day): Usage(r.count, r.grams, r.points) for r in rows}


def _totals_params(used: dict[DayKey, Usage]) -> dict[str, list[Any]]:
    items = sorted(used.items())
    return {"t_c": [k[0] for k, _ in items], "t_t": [k[1] for k, _ in items],
            "t_d": [k[2] for k, _ in items], "t_n": [u.count for _, u in items],
            "t_g": [u.reduction_g for _, u in items], "t_p": [u.points for _, u in items]}


_encode = msgspec.json.Encoder().encode


def _behaviour_params(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    params: dict[str, list[Any]] = {f"b_{n}": [] for n in _NAMES}
    for row in rows:
        for n in _NAMES:
            value = row[n]
            if n in ("flags", "data", "reason_detail") and value is not None:
                value = _encode(value).decode()
            params[f"b_{n}"].append(value)
    return params


def _json(raw: Any) -> list[Any]:
    return json.loads(raw, parse_float=Decimal) if isinstance(raw, str) else raw


# --- reading and deciding ---------------------------------------------------------------

async def by_key(conn: AsyncConnection, citizen_id: uuid.UUID, key: str) -> Any:
    """The citizen's behaviour recorded under the Idempotency-Key ``key``, if any: found by
    its key row (``behaviour_keys``), so the read goes to the behaviour's month only."""
    k = BehaviourKey.__table__
    return (await conn.execute(select(_T).join(k, and_(
        k.c.behaviour_id == _T.c.id, k.c.occurred_at == _T.c.occurred_at,
        k.c.citizen_id == _T.c.citizen_id)).where(
        k.c.citizen_id == citizen_id, k.c.idempotency_key == key))).first()


async def get(conn: AsyncConnection, behaviour_id: uuid.UUID,
              citizen_id: uuid.UUID | None = None) -> Any:
    """One behaviour; with ``citizen_id``, only if it is that citizen's."""
    stmt = select(_T).where(_T.c.id == behaviour_id)
    if citizen_id is not None:
        stmt = stmt.where(_T.c.citizen_id == citizen_id)
    return (await conn.execute(stmt)).first()


async def of_citizen(conn: AsyncConnection, citizen_id: uuid.UUID, *, limit: int,
                     after: Keyset | None, type: str | None = None,
                     occurred_from: dt.datetime | None = None,
                     occurred_to: dt.datetime | None = None) -> Sequence[Any]:
    """Up to ``limit`` of a citizen's behaviours, latest occurrence first."""
    stmt = select(_T).where(_T.c.citizen_id == citizen_id)
    if type:
        stmt = stmt.where(_T.c.type == type)
    if occurred_from:
        stmt = stmt.where(_T.c.occurred_at >= occurred_from)
    if occurred_to:
        stmt = stmt.where(_T.c.occurred_at < occurred_to)
    if after is not None:
        at, bid = after
        stmt = stmt.where(or_(_T.c.occurred_at < at,
                              and_(_T.c.occurred_at == at, _T.c.id < bid)))
    stmt = stmt.order_by(_T.c.occurred_at.desc(), _T.c.id.desc()).limit(limit)
    return (await conn.execute(stmt)).all()


async def pending_review(conn: AsyncConnection, *, limit: int, after: Keyset | None,
                         behaviour_type: str | None = None) -> Sequence[Any]:
    """Up to ``limit`` behaviours waiting for review (of one type, if given), oldest first."""
    stmt = select(_T).where(_T.c.status == "pending_review")
    if behaviour_type is not None:
        stmt = stmt.where(_T.c.type == behaviour_type)
    if after is not None:
        at, bid = after
        stmt = stmt.where(or_(_T.c.created_at > at, and_(_T.c.created_at == at, _T.c.id > bid)))
    stmt = stmt.order_by(_T.c.created_at, _T.c.id).limit(limit)
    return (await conn.execute(stmt)).all()


async def pending_points(conn: AsyncConnection, citizen_id: uuid.UUID) -> int:
    """The points a citizen's behaviours waiting for review would earn (before caps)."""
    return int(await conn.scalar(
        select(func.coalesce(func.sum(Behaviour.computed_points), 0))
        .where(Behaviour.citizen_id == citizen_id, Behaviour.status == "pending_review")))


async def decide(conn: AsyncConnection, data: dict[str, Any]) -> None:
    """Store a review's (or a reversal's) outcome for the behaviour ``data["id"]``."""
    await conn.execute(update(_T).where(_T.c.id == data["id"]).values(
        status=data["status"], reason=data["reason"], reason_detail=data["reason_detail"],
        reduction_g=data["reduction_g"], points=data["points"],
        ledger_entry_id=data["ledger_entry_id"], decided_at=data["decided_at"],
        reviewed_by=data["reviewed_by"], review_reason=data["review_reason"]))


async def scored_in_window(conn: AsyncConnection, behaviour: str, occurred_from: dt.datetime,
                           occurred_to: dt.datetime) -> AsyncIterator[Any]:
    """The behaviours of type ``behaviour`` that were scored (credited, superseded or
    waiting) occurring in [from, to), streamed."""
    result = await conn.stream(
        select(_T.c.type, _T.c.district_code, _T.c.data, _T.c.evidence, _T.c.status,
               _T.c.computed_reduction_g, _T.c.computed_points, _T.c.reduction_g,
               _T.c.points)
        .where(_T.c.type == behaviour,
               _T.c.status.in_(("credited", "superseded", "pending_review")),
               _T.c.occurred_at >= occurred_from, _T.c.occurred_at < occurred_to)
        .execution_options(yield_per=2000))
    async for row in result:
        yield row


# --- partner records ----------------------------------------------------------------------

_R = PartnerRecord.__table__
# The de-duplication key is ``partner_record_keys`` (it must hold across months, which no
# unique index of the partitioned table can): a batch claims its keys first, in key order
# (concurrent batches wait for each other's, never in a circle), and inserts only the
# records whose key it got, so RETURNING names the records inserted now; a record already
# received, or twice in the batch, is skipped as ``ON CONFLICT DO NOTHING`` skipped it.
_RECORD_COLUMNS = (("id", "uuid"), ("partner_id", "text"), ("external_id", "text"),
                   ("ref_hash", "bytea"), ("type", "text"), ("occurred_at", "timestamptz"),
                   ("data", "jsonb"), ("status", "text"))
_RECORDS_INSERT = text("""
    WITH u AS (
        SELECT * FROM unnest(CAST(:id AS uuid[]), CAST(:partner_id AS text[]),
                             CAST(:external_id AS text[]), CAST(:ref_hash AS bytea[]),
                             CAST(:type AS text[]), CAST(:occurred_at AS timestamptz[]),
                             CAST(:data AS jsonb[]), CAST(:status AS text[]))
               AS u(id, partner_id, external_id, ref_hash, type, occurred_at, data, status)),
    claimed AS (
        INSERT INTO partner_record_keys (partner_id, external_id, record_id, received_at)
        SELECT partner_id, external_id, id, now() FROM u ORDER BY partner_id, external_id
        ON CONFLICT DO NOTHING RETURNING record_id)
    INSERT INTO partner_records (id, partner_id, external_id, ref_hash, type, occurred_at,
                                 data, status, received_at)
    SELECT u.id, u.partner_id, u.external_id, u.ref_hash, u.type, u.occurred_at, u.data,
           u.status, now()
      FROM u JOIN claimed c ON c.record_id = u.id
    RETURNING external_id, id""")

async def receive(conn: AsyncConnection, rows: list[dict[str, Any]]) -> dict[str, uuid.UUID]:
    """Insert records not received before; ``external_id → id`` of those inserted now."""
    params: dict[str, list[Any]] = {n: [] for n, _ in _RECORD_COLUMNS}
    for row in rows:
        for n, _ in _RECORD_COLUMNS:
            value = row.get(n)
            params[n].append(_encode(value).decode() if n == "data" else value)
    return {row.external_id: row.id
            for row in (await conn.execute(_RECORDS_INSERT, params)).all()}


async def set_record_statuses(conn: AsyncConnection, statuses: list[dict[str, Any]]) -> None:
    """Each ``{rid, status, reason, citizen, behaviour}``, in one statement."""
    if not statuses:
        return
    await conn.execute(text(
        "UPDATE partner_records r SET status = u.status, reason = u.reason, "
        "citizen_id = u.citizen, behaviour_id = u.behaviour "
        "FROM unnest(CAST(:rid AS uuid[]), CAST(:status AS text[]), CAST(:reason AS text[]),"
        " CAST(:citizen AS uuid[]), CAST(:behaviour AS uuid[])) "
        "AS u(rid, status, reason, citizen, behaviour) WHERE r.id = u.rid"),
        {k: [s[k] for s in statuses]
         for k in ("rid", "status", "reason", "citizen", "behaviour")})


async def forget_records(conn: AsyncConnection, ids: list[uuid.UUID]) -> None:
    await conn.execute(text("DELETE FROM partner_records WHERE id = ANY(:ids)"), {"ids": ids})


_RECEIVED_BY_STATUS = text("""
    SELECT status, count(*) AS n, max(received_at) AS last,
           count(*) FILTER (WHERE received_at >= :day) AS day_n
      FROM partner_records
     WHERE partner_id = :p AND received_at >= :since
     GROUP BY status""")


async def ingestion_status(conn: AsyncConnection, partner_id: str, *, since: dt.datetime,
                           day: dt.datetime, oldest: dt.datetime
                           ) -> tuple[Sequence[Any], int]:
    """A partner's kept records received since ``since`` by status (count, the latest, the
    count since ``day``; the partitions before ``since`` are not read), and how many unbound
    ones occurred since ``oldest`` (those a binding may still credit)."""
    rows = (await conn.execute(_RECEIVED_BY_STATUS,
                               {"p": partner_id, "since": since, "day": day})).all()
    waiting = await conn.scalar(text(
        "SELECT count(*) FROM partner_records WHERE partner_id = :p AND status = 'unbound' "
        "AND occurred_at >= :oldest"), {"p": partner_id, "oldest": oldest})
    return rows, int(waiting or 0)


async def unbound_records(conn: AsyncConnection, partner_id: str,
                          ref_hash: bytes) -> Sequence[Any]:
    """The records of a partner reference waiting for its binding, oldest first."""
    return (await conn.execute(
        select(_R).where(_R.c.partner_id == partner_id, _R.c.ref_hash == ref_hash,
                         _R.c.status == "unbound")
        .order_by(_R.c.occurred_at))).all()


# --- used by registry ---
# The registry pools creditable reductions into batches and shows where a batch's grams came
# from; what it has allocated (``credit_allocations``) it passes in as ``(behaviour, grams)``.

# Which credited behaviours may become credits: verified grams only. A partner's record, or a
# self-report that a person approved on review (``reviewed_by``: the administrator who
# approved it; an automatic credit leaves it NULL). A self-report credited without review
# earns its points and stays out of credits.
_ELIGIBLE = text("""
    SELECT id, reduction_g, methodology_version FROM behaviours
     WHERE methodology_code = :code AND status = 'credited' AND reduction_g > 0
       AND (evidence = 'partner_verified'
            OR (evidence = 'self_reported' AND reviewed_by IS NOT NULL))
       AND programme_day BETWEEN :from AND :to
     ORDER BY programme_day, id""")


async def eligible_for_vintage(conn: AsyncConnection, methodology_code: str,
                               day_from: dt.date, day_to: dt.date
                               ) -> list[tuple[uuid.UUID, Decimal, int]]:
    """``(behaviour, reduction_g, methodology_version)`` of the methodology's credited
    behaviours with a reduction and verified evidence (``_ELIGIBLE``), on programme days
    ``day_from``–``day_to``, by programme day then id (a batch's lines follow this order)."""
    rows = await conn.execute(_ELIGIBLE, {"code": methodology_code, "from": day_from,
                                          "to": day_to})
    return [(r.id, r.reduction_g, r.methodology_version) for r in rows]


# A batch's behaviours and grams by one attribute of the behaviour. The keys are constants
# (never user input); ``partner`` leaves out app self-reports.
_SHARE_KEYS = {
    "type": "b.type",
    "district": "coalesce(b.district_code, 'unknown')",
    "month": "to_char(b.programme_day, 'YYYY-MM')",
    "day": "to_char(b.programme_day, 'YYYY-MM-DD')",
    "evidence": "b.evidence",
    "partner": "b.partner_id",
    "version": "CAST(b.methodology_version AS text)",
}
_ALLOCATED = """
    WITH a AS (SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:grams AS numeric[]))
                      AS x(behaviour_id, grams))"""


def _shares_sql(dimensions: Sequence[str]) -> Any:
    parts = [f"SELECT '{d}' AS dimension, {_SHARE_KEYS[d]} AS key, a.grams "  # noqa: S608
             "FROM a JOIN behaviours b ON b.id = a.behaviour_id" for d in dimensions]
    return text(f"{_ALLOCATED} SELECT dimension, key, count(*) AS n, sum(grams) AS grams "  # noqa: S608
                f"FROM ({' UNION ALL '.join(parts)}) s WHERE key IS NOT NULL "
                "GROUP BY dimension, key ORDER BY dimension, grams DESC, key")


_PROVENANCE = _shares_sql(("type", "district", "month"))
_REPORT_SHARES = _shares_sql(("evidence", "type", "district", "day", "partner", "version"))


def _arrays(allocations: Sequence[tuple[uuid.UUID, Decimal]]) -> dict[str, list[Any]]:
    return {"ids": [b for b, _ in allocations], "grams": [g for _, g in allocations]}


async def provenance(conn: AsyncConnection,
                     allocations: Sequence[tuple[uuid.UUID, Decimal]]) -> list[Any]:
    """``(dimension, key, n, grams)`` of ``(behaviour, grams)`` by behaviour type, district
    and month, largest first within each dimension."""
    return list((await conn.execute(_PROVENANCE, _arrays(allocations))).all())


async def report_shares(conn: AsyncConnection,
                        allocations: Sequence[tuple[uuid.UUID, Decimal]]) -> list[Any]:
    """``(dimension, key, n, grams)`` of ``(behaviour, grams)`` by evidence, type, district,
    programme day (YYYY-MM-DD), partner and methodology version (as text), largest first
    within each dimension; day by day is the caller's to sort."""
    return list((await conn.execute(_REPORT_SHARES, _arrays(allocations))).all())


_PERCENTILES = text(f"""{_ALLOCATED},
         f AS (SELECT * FROM unnest(CAST(:versions AS int[]), CAST(:fractions AS numeric[]))
                      AS y(version, fraction))
    SELECT b.methodology_version AS version,
           percentile_disc(CAST(f.fraction AS float8)) WITHIN GROUP (ORDER BY a.grams)
               AS threshold
      FROM a JOIN behaviours b ON b.id = a.behaviour_id
      JOIN f ON f.version = b.methodology_version
     GROUP BY b.methodology_version, f.fraction""")  # noqa: S608 - constant SQL

_ABOVE = text(f"""{_ALLOCATED},
         t AS (SELECT * FROM unnest(CAST(:versions AS int[]), CAST(:thresholds AS numeric[]))
                      AS y(version, threshold))
    SELECT a.behaviour_id, b.methodology_version AS version, a.grams
      FROM a JOIN behaviours b ON b.id = a.behaviour_id
      JOIN t ON t.version = b.methodology_version
     WHERE a.grams > t.threshold
     ORDER BY a.grams DESC, a.behaviour_id""")  # noqa: S608 - constant SQL


async def grams_percentiles(conn: AsyncConnection,
                            allocations: Sequence[tuple[uuid.UUID, Decimal]],
                            fractions: dict[int, Decimal]) -> dict[int, Decimal]:
    """Per methodology version: the ``fractions[version]`` percentile of the grams of
    ``(behaviour, grams)`` scored by that version, nearest rank (``percentile_disc``: the
    smallest grams with at least that share of the version's behaviours at or below it)."""
    rows = await conn.execute(_PERCENTILES, _arrays(allocations) | {
        "versions": list(fractions), "fractions": list(fractions.values())})
    return {r.version: Decimal(r.threshold) for r in rows}


async def above(conn: AsyncConnection, allocations: Sequence[tuple[uuid.UUID, Decimal]],
                thresholds: dict[int, Decimal]) -> list[Any]:
    """``(behaviour_id, version, grams)`` of ``(behaviour, grams)`` above their version's
    threshold, largest first."""
    return list((await conn.execute(_ABOVE, _arrays(allocations) | {
        "versions": list(thresholds), "thresholds": list(thresholds.values())})).all())


_EXCLUDED = text("""
    SELECT count(*) FILTER (WHERE rejected) AS rejected_n,
           coalesce(sum(computed_reduction_g) FILTER (WHERE rejected), 0) AS rejected_g,
           count(*) FILTER (WHERE unreviewed) AS unreviewed_n,
           coalesce(sum(reduction_g) FILTER (WHERE unreviewed), 0) AS unreviewed_g
      FROM (SELECT computed_reduction_g, reduction_g,
                   status = 'rejected' AND reason = 'rejected_on_review'
                       AND decided_at <= :before AS rejected,
                   status = 'credited' AND evidence = 'self_reported'
                       AND reviewed_by IS NULL AND reduction_g > 0
                       AND created_at <= :before AS unreviewed
              FROM behaviours
             WHERE type = ANY(CAST(:types AS text[])) AND occurred_at >= :lo
               AND occurred_at < :hi AND methodology_code = :code
               AND programme_day BETWEEN :from AND :to) s""")


async def excluded(conn: AsyncConnection, methodology_code: str, types: Sequence[str],
                   day_from: dt.date, day_to: dt.date, occurred: tuple[dt.datetime, dt.datetime],
                   before: dt.datetime) -> Any:
    """Of the methodology's behaviours (of ``types``) on programme days
    ``day_from``–``day_to`` (which occurred in ``occurred``, [from, to): the index on type
    and time finds them): those rejected on review by ``before`` (count, the grams computed
    for them) and the self-reports credited without review, recorded by ``before`` (count,
    grams credited)."""
    return (await conn.execute(_EXCLUDED, {
        "code": methodology_code, "types": list(types), "from": day_from, "to": day_to,
        "lo": occurred[0], "hi": occurred[1], "before": before})).one()


_LINES = text("""
    SELECT id, citizen_id, type, programme_day, district_code, source, partner_id, evidence,
           reviewed_by IS NOT NULL AS reviewed, methodology_id, methodology_code,
           methodology_version, data
      FROM behaviours WHERE id = ANY(CAST(:ids AS uuid[]))""")


async def lines(conn: AsyncConnection, behaviour_ids: Sequence[uuid.UUID]
                ) -> dict[uuid.UUID, Any]:
    """What a batch's behaviour list shows of these behaviours (and the citizen and the
    version's id, for the caller to turn into a pseudonym and to filter ``data`` to the
    version's inputs), by id."""
    rows = await conn.execute(_LINES, {"ids": list(behaviour_ids)})
    return {r.id: r for r in rows}


# Checked by ``registry verify`` for every allocated behaviour (``allocations``: behaviour,
# grams, and the batch's id, methodology and vintage). Each names its check.
_FAULTS = text("""
    WITH a AS (SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:grams AS numeric[]),
                                    CAST(:batches AS uuid[]), CAST(:codes AS text[]),
                                    CAST(:froms AS date[]), CAST(:tos AS date[]))
                      AS x(id, grams, batch_id, code, day_from, day_to))
    SELECT check_name, detail FROM (
        SELECT 'only eligible evidence' AS check_name,
               'behaviour ' || b.id || ' in batch ' || a.batch_id || ' is ' ||
               CASE WHEN b.status <> 'credited' THEN b.status
                    WHEN b.evidence = 'self_reported' THEN 'self_reported without review'
                    ELSE 'of evidence ' || b.evidence END AS detail
          FROM a JOIN behaviours b ON b.id = a.id
         WHERE b.status <> 'credited'
            OR NOT (b.evidence = 'partner_verified'
                    OR (b.evidence = 'self_reported' AND b.reviewed_by IS NOT NULL))
        UNION ALL
        SELECT 'allocated behaviours are credited as allocated',
               'behaviour ' || b.id || ' (' || b.reduction_g || ' g credited) is allocated '
               || a.grams || ' g in batch ' || a.batch_id
          FROM a JOIN behaviours b ON b.id = a.id
         WHERE b.reduction_g <> a.grams
        UNION ALL
        SELECT 'credited no more than computed',
               'behaviour ' || b.id || ' is credited ' || b.reduction_g || ' g of the '
               || b.computed_reduction_g || ' g its methodology computed'
               || CASE WHEN b.reduction_g < b.computed_reduction_g
                       THEN ', with no daily or monthly cap reached' ELSE '' END
          FROM a JOIN behaviours b ON b.id = a.id
         WHERE b.reduction_g > b.computed_reduction_g
            OR (b.reduction_g < b.computed_reduction_g
                AND b.reason IS DISTINCT FROM 'daily_cap_reached'
                AND b.reason IS DISTINCT FROM 'monthly_cap_reached')
        UNION ALL
        SELECT 'of the batch''s methodology and vintage',
               'behaviour ' || b.id || ' (' || coalesce(b.methodology_code, 'no methodology')
               || ', ' || b.programme_day || ') is in batch ' || a.batch_id || ' of '
               || a.code || ' ' || a.day_from || '–' || a.day_to
          FROM a JOIN behaviours b ON b.id = a.id
         WHERE b.methodology_code IS DISTINCT FROM a.code
            OR b.programme_day NOT BETWEEN a.day_from AND a.day_to) s""")

FAULT_CHECKS = ("only eligible evidence", "allocated behaviours are credited as allocated",
                "credited no more than computed", "of the batch's methodology and vintage")


def fault_checks() -> tuple[str, ...]:
    """The names of ``allocation_faults``' checks, for ``registry verify`` to list."""
    return FAULT_CHECKS


async def allocation_faults(conn: AsyncConnection, allocations: Sequence[Any]
                            ) -> list[tuple[str, str]]:
    """``(check, detail)`` for every allocated behaviour that is not eligible, not credited
    the grams allocated, credited more than its methodology computed (or less without a
    daily cap), or not of its batch's methodology and vintage. ``allocations``: rows with
    ``behaviour_id, grams, batch_id, methodology_code, vintage_from, vintage_to``."""
    if not allocations:
        return []
    rows = await conn.execute(_FAULTS, {
        "ids": [a.behaviour_id for a in allocations], "grams": [a.grams for a in allocations],
        "batches": [a.batch_id for a in allocations],
        "codes": [a.methodology_code for a in allocations],
        "froms": [a.vintage_from for a in allocations],
        "tos": [a.vintage_to for a in allocations]})
    return [(r.check_name, r.detail) for r in rows]


_RECOMPUTABLE = text(f"""{_ALLOCATED}
    SELECT b.methodology_id, b.methodology_code, b.methodology_version, b.type, b.evidence,
           b.data, b.computed_reduction_g, count(*) AS n, min(CAST(b.id AS text)) AS sample
      FROM a JOIN behaviours b ON b.id = a.behaviour_id
     GROUP BY b.methodology_id, b.methodology_code, b.methodology_version, b.type,
              b.evidence, b.data, b.computed_reduction_g""")  # noqa: S608 - constant SQL


async def recomputable(conn: AsyncConnection,
                       allocations: Sequence[tuple[uuid.UUID, Decimal]]) -> list[Any]:
    """The allocated behaviours grouped by what their grams are computed from (methodology
    version, type, evidence, stored inputs) and what was computed: ``n`` of them, and one
    (``sample``) to name. Equal inputs give equal grams, so each group is evaluated once."""
    if not allocations:
        return []
    return list((await conn.execute(_RECOMPUTABLE, _arrays(allocations))).all())


# --- used by gamification ---------------------------------------------------------------
# Reads of ``daily_totals`` (what each citizen was credited per type and programme day) for
# levels, streaks, badges, challenges and leaderboards.


CitizenTotals = tuple[list[dt.date], dict[str, tuple[Decimal, Decimal]]]

_CITIZEN_TOTALS_BY_TYPE = text("""
    WITH days AS (
        SELECT citizen_id, array_agg(DISTINCT day ORDER BY day) AS days FROM daily_totals
         WHERE citizen_id = ANY(CAST(:ids AS uuid[])) AND count > 0 GROUP BY citizen_id)
    SELECT c.id, d.days, t.type, t.count, t.grams
      FROM unnest(CAST(:ids AS uuid[])) AS c(id)
      LEFT JOIN days d ON d.citizen_id = c.id
      LEFT JOIN (SELECT citizen_id, type, sum(count) AS count, sum(grams) AS grams
                   FROM daily_totals WHERE citizen_id = ANY(CAST(:ids AS uuid[]))
                  GROUP BY citizen_id, type) t ON t.citizen_id = c.id""")


async def totals_by_type(conn: AsyncConnection, citizens: list[uuid.UUID]
                         ) -> dict[uuid.UUID, CitizenTotals]:
    """Per citizen: the sorted programme days with a credited behaviour, and lifetime
    ``(count, grams)`` per behaviour type. Every citizen asked for is in the answer."""
    out: dict[uuid.UUID, CitizenTotals] = {}
    for r in (await conn.execute(_CITIZEN_TOTALS_BY_TYPE, {"ids": citizens})).all():
        by_type = out.setdefault(r.id, (list(r.days or []), {}))[1]
        if r.type is not None:
            by_type[r.type] = (Decimal(r.count), Decimal(r.grams))
    return out


_LIFETIME = text("""
    SELECT sum(grams) AS grams,
           array_agg(DISTINCT day ORDER BY day) FILTER (WHERE count > 0) AS days
      FROM daily_totals WHERE citizen_id = :c""")


async def lifetime(conn: AsyncConnection, citizen_id: uuid.UUID
                   ) -> tuple[Decimal, list[dt.date]]:
    """A citizen's lifetime grams and the sorted days with a credited behaviour."""
    row = (await conn.execute(_LIFETIME, {"c": citizen_id})).one()
    return Decimal(row.grams or 0), list(row.days or [])


# ``column`` is "count" or "grams", never user input.
_SUMS_BETWEEN = """
    SELECT citizen_id, sum({column}) FROM daily_totals
     WHERE citizen_id = ANY(CAST(:ids AS uuid[])) AND day BETWEEN :start AND :end
       AND (CAST(:behaviour AS text) IS NULL OR type = :behaviour)
     GROUP BY citizen_id"""
_SUM_COLUMNS = {"count": text(_SUMS_BETWEEN.format(column="count")),
                "grams": text(_SUMS_BETWEEN.format(column="grams"))}


async def sums_between(conn: AsyncConnection, citizens: list[uuid.UUID], first: dt.date,
                       last: dt.date, behaviour: str | None, measure: str
                       ) -> dict[uuid.UUID, Decimal]:
    """``measure`` ("count" or "grams") per citizen over the days ``first``..``last`` (both
    included), of one behaviour type or (None) all; citizens with nothing are left out."""
    rows = (await conn.execute(_SUM_COLUMNS[measure], {
        "ids": citizens, "start": first, "end": last, "behaviour": behaviour})).all()
    return {r[0]: Decimal(r[1]) for r in rows}


_GRAMS_SINCE = text("""
    SELECT citizen_id,
           sum(grams) FILTER (WHERE day >= :week),
           sum(grams) FILTER (WHERE day >= :month),
           sum(grams)
      FROM daily_totals WHERE citizen_id = ANY(CAST(:ids AS uuid[]))
     GROUP BY citizen_id""")


async def grams_since(conn: AsyncConnection, citizens: list[uuid.UUID], week: dt.date,
                      month: dt.date) -> list[Any]:
    """``(citizen_id, grams since week, grams since month, grams ever)`` of each citizen
    with any daily total (null sums when none in the period)."""
    return list((await conn.execute(_GRAMS_SINCE, {"ids": citizens, "week": week,
                                                   "month": month})).all())


def _window(start: dt.date | None, end: dt.date | None,
            citizens: list[uuid.UUID] | None) -> tuple[str, dict[str, Any]]:
    where, params = ["true"], {}
    if start is not None:
        where.append("day >= :start AND day < :end")
        params |= {"start": start, "end": end}
    if citizens is not None:
        where.append("citizen_id = ANY(CAST(:ids AS uuid[]))")
        params["ids"] = citizens
    return " AND ".join(where), params


async def stream_grams(conn: AsyncConnection, start: dt.date | None, end: dt.date | None,
                       citizens: list[uuid.UUID] | None, chunk: int
                       ) -> AsyncIterator[list[tuple[uuid.UUID, Decimal]]]:
    """``(citizen_id, grams)`` of every citizen with positive grams in [start, end) (None:
    all time), optionally only among ``citizens``, in chunks from one server-side cursor."""
    where, params = _window(start, end, citizens)
    result = await conn.stream(text(
        f"SELECT citizen_id, sum(grams) FROM daily_totals WHERE {where} "  # noqa: S608
        "GROUP BY citizen_id HAVING sum(grams) > 0"), params)
    async for rows in result.partitions(chunk):
        yield [(c, g) for c, g in rows]


async def grams_between(conn: AsyncConnection, start: dt.date | None, end: dt.date | None,
                        citizens: list[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    """Grams of each of ``citizens`` with any daily total in [start, end) (None: all time)."""
    where, params = _window(start, end, citizens)
    rows = (await conn.execute(text(
        f"SELECT citizen_id, sum(grams) FROM daily_totals WHERE {where} "  # noqa: S608
        "GROUP BY citizen_id"), params)).all()
    return {c: g for c, g in rows}


# --- used by privacy --------------------------------------------------------------------
# Export reads a citizen's own rows; retention and deletion reduce ``data`` to the inputs of
# the methodology version that scored the behaviour (``keep``: version id as text → input
# names), dropping what is location-like (stations, lines, coordinates, card records…).

_EXPORTED = ("id", "type", "occurred_at", "programme_day", "district_code", "source",
             "evidence", "partner_id", "external_id", "idempotency_key", "status", "reason",
             "reason_detail", "flags", "data", "methodology_code", "methodology_version",
             "computed_reduction_g", "computed_points", "reduction_g", "points",
             "ledger_entry_id", "created_at", "decided_at", "review_reason")


async def export_behaviours(conn: AsyncConnection, citizen_id: uuid.UUID) -> list[dict]:
    rows = await conn.execute(select(*(getattr(Behaviour, c) for c in _EXPORTED))
                              .where(Behaviour.citizen_id == citizen_id)
                              .order_by(Behaviour.occurred_at, Behaviour.id))
    return [dict(r._mapping) for r in rows]


async def export_partner_records(conn: AsyncConnection, citizen_id: uuid.UUID) -> list[dict]:
    """The partner records matched to the citizen, as the partner sent them."""
    rows = await conn.execute(select(
        PartnerRecord.id, PartnerRecord.partner_id, PartnerRecord.external_id,
        PartnerRecord.type, PartnerRecord.occurred_at, PartnerRecord.data, PartnerRecord.status,
        PartnerRecord.reason, PartnerRecord.behaviour_id, PartnerRecord.received_at)
        .where(PartnerRecord.citizen_id == citizen_id)
        .order_by(PartnerRecord.occurred_at, PartnerRecord.id))
    return [dict(r._mapping) for r in rows]


# ``keep`` is a JSON object: methodology version id (text) → the input names to keep.
_REDUCE = """
    UPDATE behaviours b
       SET data = coalesce((
           SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(b.data) AS e(key, value)
            WHERE coalesce(CAST(:keep AS jsonb) -> CAST(b.methodology_id AS text),
                           '[]'::jsonb) ? e.key), '{}'::jsonb)
     WHERE (CAST(:before AS timestamptz) IS NULL OR b.occurred_at < :before)
       AND (CAST(:citizen AS uuid) IS NULL OR b.citizen_id = :citizen)
       AND EXISTS (SELECT 1 FROM jsonb_object_keys(b.data) AS k(key)
                    WHERE NOT coalesce(CAST(:keep AS jsonb) -> CAST(b.methodology_id AS text),
                                       '[]'::jsonb) ? k.key)"""
_REDUCE_DATA = text(_REDUCE)


async def reduce_data(conn: AsyncConnection, keep: dict[str, list[str]], *,
                      before: dt.datetime | None = None,
                      citizen_id: uuid.UUID | None = None) -> int:
    """Reduce ``data`` to the scoring inputs, for behaviours that occurred before ``before``
    or for every behaviour of ``citizen_id``; rows already reduced are not touched, so a
    second run (or a concurrent one) changes nothing. Returns the rows changed."""
    assert before is not None or citizen_id is not None
    result = await conn.execute(_REDUCE_DATA, {
        "keep": json.dumps(keep), "before": before, "citizen": citizen_id})
    return result.rowcount or 0


async def blank_partner_records(conn: AsyncConnection, *, before: dt.datetime | None = None,
                                citizen_id: uuid.UUID | None = None) -> int:
    """Blank the raw payload of partner records (the row stays: it is the dedup key)."""
    stmt = update(PartnerRecord).where(PartnerRecord.data != text("'{}'::jsonb"))
    if citizen_id is not None:
        stmt = stmt.where(PartnerRecord.citizen_id == citizen_id)
    else:
        stmt = stmt.where(PartnerRecord.occurred_at < before)
    result = await conn.execute(stmt.values(data={}))
    return result.rowcount or 0


# --- used by admin (the dashboard and the public overview) ------------------------------------
# Credited behaviours only, by programme day; the partial index ``ix_behaviours_credited_day``
# covers them (an index-only scan: day, type, district, grams, points, citizen).

# ``column`` is one of two fixed names (``_CREDITED_BY_DAY``), never input.
_BY_DAY = """
    SELECT programme_day AS day, {column} AS key, count(*) AS count,
           coalesce(sum(reduction_g), 0) AS reduction_g, coalesce(sum(points), 0) AS points
      FROM behaviours
     WHERE status = 'credited' AND programme_day BETWEEN :first AND :last
     GROUP BY 1, 2 ORDER BY 1, 2"""
_CREDITED_BY_DAY = {"type": text(_BY_DAY.format(column="type")),
                    "district": text(_BY_DAY.format(column="district_code"))}
CREDITED_BY = tuple(_CREDITED_BY_DAY)


async def credited_by_day(conn: AsyncConnection, first: dt.date, last: dt.date, by: str
                          ) -> list[Any]:
    """``(day, key, count, reduction_g, points)`` of credited behaviours whose programme day
    is ``first``..``last``, by ``by`` (``type`` or ``district``), day then key order."""
    return list((await conn.execute(_CREDITED_BY_DAY[by], {"first": first, "last": last})
                 ).all())


async def credited_totals(conn: AsyncConnection) -> Any:
    """``(count, reduction_g, participants)`` of every credited behaviour: how many, their
    grams, how many citizens made them."""
    return (await conn.execute(text(
        "SELECT count(*) AS count, coalesce(sum(reduction_g), 0) AS reduction_g, "
        "count(DISTINCT citizen_id) AS participants FROM behaviours "
        "WHERE status = 'credited'"))).one()


async def credited_by_district(conn: AsyncConnection) -> list[Any]:
    """``(key, count, reduction_g, participants)`` of credited behaviours per district (the
    district a behaviour was counted in when it was made)."""
    return list((await conn.execute(text(
        "SELECT district_code AS key, count(*) AS count, coalesce(sum(reduction_g), 0) AS "
        "reduction_g, count(DISTINCT citizen_id) AS participants FROM behaviours "
        "WHERE status = 'credited' GROUP BY 1"))).all())


async def credited_by_type(conn: AsyncConnection) -> list[Any]:
    """``(key, count, reduction_g)`` of credited behaviours per behaviour type."""
    return list((await conn.execute(text(
        "SELECT type AS key, count(*) AS count, coalesce(sum(reduction_g), 0) AS reduction_g "
        "FROM behaviours WHERE status = 'credited' GROUP BY 1"))).all())
