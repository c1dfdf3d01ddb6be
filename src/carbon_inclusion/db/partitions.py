"""Monthly partitions of the tables that grow without bound (migration 0023).

``behaviours`` by ``occurred_at``, ``partner_records`` by ``received_at``,
``journal_entries`` and ``postings`` by ``created_at``: one partition per UTC month, named
``<table>_pYYYYMM``, plus ``<table>_default``, the safety net that takes any row no month
partition covers (a write never fails for lack of a partition).

``ensure`` creates month partitions (the app the current and next month at start, ``db
partitions`` the next ``--ahead``); a month whose rows already went to the default
partition is left for an operator (PostgreSQL refuses a partition whose rows sit in the
default one) and said so. ``detach`` detaches (optionally drops) months wholly before a
given month, never one at or after ``keep_floor``: the oldest month still needed (raw trip
data not yet past retention and the claim window, a behaviour waiting for review, a partner
record waiting for its binding, points still spendable from the lot year they were earned
in). PostgreSQL itself refuses to detach a month whose rows a foreign key still references
(credit allocations → behaviours, postings → journal entries); that month is kept and said.

DDL and the catalog reads are here (infrastructure, like migrations), serialised by one
advisory lock so two schedulers or app starts at once are safe.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.common.locks import LOCK_ONE, lock_key

# table → partition key. Order: a foreign key's referencing table before its target, the
# order months are detached in (postings before their entries).
PARTITIONED: dict[str, str] = {
    "postings": "created_at",
    "journal_entries": "created_at",
    "partner_records": "received_at",
    "behaviours": "occurred_at",
}
_LOCK = lock_key("db", "partitions")
_BOUND = re.compile(r"FROM \('(\d{4})-(\d{2})-01")


def month_of(at: dt.datetime | dt.date) -> dt.date:
    if isinstance(at, dt.datetime):
        at = at.astimezone(dt.UTC).date()
    return at.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class Partition:
    table: str
    name: str
    month: dt.date | None  # None: the default partition


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    detached: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def partitions(conn: AsyncConnection) -> list[Partition]:
    """The partitions attached to the partitioned tables, by table and month."""
    rows = (await conn.execute(text(
        "SELECT p.relname AS parent, c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS b "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent "
        "WHERE p.relname = ANY(:t) AND p.relnamespace = 'public'::regnamespace "
        "ORDER BY 1, 2"), {"t": list(PARTITIONED)})).all()
    out = []
    for r in rows:
        found = _BOUND.search(r.b)
        month = dt.date(int(found[1]), int(found[2]), 1) if found else None
        out.append(Partition(r.parent, r.name, month))
    return out


async def ensure(conn: AsyncConnection, first: dt.date, last: dt.date,
                 report: Report | None = None) -> Report:
    """Create the month partitions ``first``..``last`` (months) each table lacks, in the
    caller's transaction. A read only when all exist (no lock on the tables)."""
    report = report or Report()
    months = []
    m = month_of(first)
    while m <= month_of(last):
        months.append(m)
        m = next_month(m)
    have = {(p.table, p.month) for p in await partitions(conn)}
    missing = [(t, m) for t in PARTITIONED for m in months if (t, m) not in have]
    if not missing:
        return report
    await conn.execute(LOCK_ONE, {"key": _LOCK})
    have = {(p.table, p.month) for p in await partitions(conn)}  # another may have made them
    for table, month in missing:
        if (table, month) in have:
            continue
        key, lo, hi = PARTITIONED[table], _ts(month), _ts(next_month(month))
        waiting = await conn.scalar(text(
            f"SELECT count(*) FROM {table}_default "  # noqa: S608 - constant names
            f"WHERE {key} >= :lo AND {key} < :hi"),
            {"lo": _at(month), "hi": _at(next_month(month))})
        name = f"{table}_p{month:%Y%m}"
        if waiting:
            report.notes.append(
                f"{name} not created: {waiting} row(s) of that month are in {table}_default "
                "(still correct, only not pruned); move them to create it")
            continue
        await conn.execute(text(
            f"CREATE TABLE {name} PARTITION OF {table} "
            f"FOR VALUES FROM ('{lo}') TO ('{hi}')"))
        report.created.append(name)
    return report


def _at(month: dt.date) -> dt.datetime:
    return dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)


def _ts(month: dt.date) -> str:
    return f"{month:%Y-%m-%d} 00:00:00+00"


async def keep_floor(conn: AsyncConnection, today: dt.date, *, retention_days: int,
                     claim_window_days: int) -> tuple[dt.date, str]:
    """The oldest month that must stay attached, and why: months before it may go."""
    reasons: list[tuple[dt.date, str]] = [(
        month_of(today - dt.timedelta(days=max(retention_days, claim_window_days))),
        f"raw trip data within TRIP_RETENTION_DAYS ({retention_days}) and the claim window "
        f"({claim_window_days} days)")]
    row = (await conn.execute(text(
        "SELECT (SELECT min(occurred_at) FROM behaviours WHERE status = 'pending_review') AS p,"
        " (SELECT min(received_at) FROM partner_records "
        "   WHERE status IN ('received', 'unbound')) AS r,"
        " (SELECT min(lot) FROM point_lots WHERE balance > 0) AS lot"))).one()
    if row.p is not None:
        reasons.append((month_of(row.p), "a behaviour waiting for review"))
    if row.r is not None:
        reasons.append((month_of(row.r), "a partner record waiting for its binding"))
    if row.lot is not None:
        reasons.append((dt.date(int(row.lot), 1, 1),
                        f"points of lot {row.lot} still spendable (their entries may be "
                        "reversed and are the balance's history)"))
    return min(reasons)


async def detach(conn: AsyncConnection, before: dt.date, floor: dt.date, *, drop: bool = False,
                 report: Report | None = None) -> Report:
    """Detach (and with ``drop`` drop) every month partition wholly before ``before``;
    refuses (ValueError) when ``before`` is after ``floor``. Each month in a savepoint: one
    a foreign key still references is kept and reported."""
    report = report or Report()
    before = month_of(before)
    if before > floor:
        raise ValueError(f"--detach-before {before:%Y-%m} is after {floor:%Y-%m}, the oldest "
                         "month still needed")
    await conn.execute(LOCK_ONE, {"key": _LOCK})
    by_table = sorted((p for p in await partitions(conn) if p.month and p.month < before),
                      key=lambda p: (list(PARTITIONED).index(p.table), p.month))
    for p in by_table:
        try:
            async with conn.begin_nested():
                await conn.execute(text(f"ALTER TABLE {p.table} DETACH PARTITION {p.name}"))
                if drop:
                    await conn.execute(text(f"DROP TABLE {p.name}"))
        except DBAPIError as exc:
            report.notes.append(f"{p.name} kept: {str(exc.orig).splitlines()[-1]}")
            continue
        (report.dropped if drop else report.detached).append(p.name)
    return report
