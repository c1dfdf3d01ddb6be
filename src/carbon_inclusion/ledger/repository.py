"""Every statement on the ledger's tables (journal_entries, postings, wallets, point_lots).

Core statements on the caller's connection: postings are on the hot paths (claims, partner
batches, redemptions). Other domains call these functions (through ``ledger.service``);
none of this SQL is handed out.

Posting in one round trip with the caller's own writes: an entry's postings arrive in the
statement that creates it (the postings triggers run once per statement — balance check,
ordered wallet moves — and see both), and a hot path that writes its own rows in the same
statement gives them to ``post`` as ``Along``: its statements on its own tables, run in the
posting statement. The caller's SQL comes in; the ledger's never goes out.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import TextClause, and_, func, or_, select, text
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion import metrics
from carbon_inclusion.db.bulk import as_arrays, unnest_insert_sql
from carbon_inclusion.ledger.entry import Entry, lines
from carbon_inclusion.ledger.models import JournalEntry, Posting, Wallet

ENTRY_COLUMNS = (("id", "uuid"), ("citizen_id", "uuid"), ("kind", "text"),
                 ("points", "bigint"), ("behaviour_id", "uuid"), ("redemption_id", "uuid"),
                 ("reverses_id", "uuid"), ("idempotency_key", "text"),
                 ("request_hash", "bytea"), ("memo", "text"))
POSTING_COLUMNS = (("entry_id", "uuid"), ("account", "text"), ("account_citizen_id", "uuid"),
                   ("lot", "smallint"), ("amount", "bigint"))
_ENTRIES_CTE = f"new_entries AS ({unnest_insert_sql('journal_entries', ENTRY_COLUMNS, 'e_')})"
_POSTINGS_INSERT = unnest_insert_sql("postings", POSTING_COLUMNS, "p_")


@dataclass(frozen=True, slots=True)
class Along:
    """The caller's statements on its own tables, run in the statement that posts.

    ``ctes``: ``name AS (statement)`` clauses (constant SQL); ``then``: the statement that
    ends it, whose result ``post`` returns (without it the postings insert ends it);
    ``params``: their bind parameters (names starting ``e_``/``p_`` are the ledger's).
    """

    ctes: tuple[str, ...] = ()
    then: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=64)
def _statement(ctes: tuple[str, ...], then: str | None) -> TextClause:
    head = ", ".join((*ctes, _ENTRIES_CTE))
    if then is None:
        return text(f"WITH {head} {_POSTINGS_INSERT}")
    return text(f"WITH {head}, posted AS ({_POSTINGS_INSERT} RETURNING 1) {then}")


def params_of(entries: Sequence[Entry]) -> dict[str, list[Any]]:
    """The ledger's bind parameters for posting ``entries`` (``e_*``, ``p_*``)."""
    rows, postings = lines(entries)
    metrics.postings_written((e.kind for e in entries), (len(e.lots) + 1 for e in entries))
    return as_arrays(rows, ENTRY_COLUMNS, "e_") | as_arrays(postings, POSTING_COLUMNS, "p_")


async def post(conn: AsyncConnection, entries: Sequence[Entry], *,
               along: Along | None = None) -> tuple[list[uuid.UUID], Result[Any] | None]:
    """Write ``entries`` (and ``along``) in the caller's transaction, in one statement.

    Returns the entries' ids and the statement's result (``along.then``'s rows; None when
    there was nothing to run). Raises ``IntegrityError`` (``balance_not_negative``) if a
    wallet would go negative.
    """
    if not entries and along is None:
        return [], None
    along = along or Along()
    params = params_of(entries)
    result = await conn.execute(_statement(along.ctes, along.then), params | dict(along.params))
    return params["e_id"], result


# Joining the wallet makes each wallet row lock before its citizen's lots; the ORDER BY is the
# order rows are locked in (the order the postings trigger locks them in).
_LOTS_FOR_UPDATE = text("""
    SELECT l.citizen_id, l.lot, l.balance
      FROM wallets w JOIN point_lots l ON l.citizen_id = w.citizen_id
     WHERE w.citizen_id = ANY(CAST(:c AS uuid[])) AND l.balance > 0
     ORDER BY l.citizen_id, l.lot
       FOR UPDATE""")
_LOTS_UP_TO_FOR_UPDATE = text("""
    SELECT l.citizen_id, l.lot, l.balance
      FROM wallets w JOIN point_lots l ON l.citizen_id = w.citizen_id
     WHERE w.citizen_id = ANY(CAST(:c AS uuid[])) AND l.lot <= :cutoff AND l.balance > 0
     ORDER BY l.citizen_id, l.lot
       FOR UPDATE""")


async def lots_for_update(conn: AsyncConnection, citizens: Iterable[uuid.UUID], *,
                          up_to: int | None = None) -> dict[uuid.UUID, list[tuple[int, int]]]:
    """The non-empty lots ``(lot, balance)`` of each citizen, oldest first (with ``up_to``:
    lots up to that one), locked with their wallets, in citizen order, to the end of the
    caller's transaction."""
    c = sorted(set(citizens))
    rows = (await conn.execute(_LOTS_FOR_UPDATE, {"c": c}) if up_to is None else
            await conn.execute(_LOTS_UP_TO_FOR_UPDATE, {"c": c, "cutoff": up_to})).all()
    out: dict[uuid.UUID, list[tuple[int, int]]] = {}
    for row in rows:
        out.setdefault(row.citizen_id, []).append((row.lot, row.balance))
    return out


async def entry_lots(conn: AsyncConnection, entry_id: uuid.UUID) -> tuple[tuple[int, int], ...]:
    """The citizen lines of an entry, as ``(lot, amount)``: what a reversal gives back."""
    rows = await conn.execute(text(
        "SELECT lot, sum(amount) FROM postings WHERE entry_id = :e AND account = 'citizen' "
        "GROUP BY lot ORDER BY lot"), {"e": entry_id})
    return tuple((r[0], int(r[1])) for r in rows)


async def wallet(conn: AsyncConnection, citizen_id: uuid.UUID) -> tuple[int, int]:
    """``(balance, earned)`` of a citizen's wallet; ``(0, 0)`` before the first entry."""
    row = (await conn.execute(select(Wallet.balance, Wallet.earned)
                              .where(Wallet.citizen_id == citizen_id))).first()
    return (row.balance, row.earned) if row else (0, 0)


async def soonest_lot(conn: AsyncConnection, citizen_id: uuid.UUID) -> tuple[int, int] | None:
    """``(lot, balance)`` of the citizen's oldest non-empty lot."""
    row = (await conn.execute(text(
        "SELECT lot, balance FROM point_lots WHERE citizen_id = :c AND balance > 0 "
        "ORDER BY lot LIMIT 1"), {"c": citizen_id})).first()
    return (row.lot, row.balance) if row else None


async def entries_page(conn: AsyncConnection, citizen_id: uuid.UUID, *, limit: int,
                       after: tuple[dt.datetime, uuid.UUID] | None) -> Sequence[Any]:
    """Up to ``limit`` of a citizen's entries, newest first, after the keyset ``after``."""
    t = JournalEntry.__table__
    stmt = select(t).where(t.c.citizen_id == citizen_id)
    if after is not None:
        at, eid = after
        stmt = stmt.where(or_(t.c.created_at < at, and_(t.c.created_at == at, t.c.id < eid)))
    stmt = stmt.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
    return (await conn.execute(stmt)).all()


_DUE = text("""
    SELECT DISTINCT citizen_id FROM point_lots
     WHERE lot <= :cutoff AND balance > 0 AND citizen_id > :after
     ORDER BY citizen_id LIMIT :n""")


async def citizens_with_lots_up_to(conn: AsyncConnection, cutoff: int, *,
                                   after: uuid.UUID, limit: int) -> list[uuid.UUID]:
    """Up to ``limit`` citizens (after ``after``, in order) holding points in lots up to
    ``cutoff``."""
    return list((await conn.execute(_DUE, {"cutoff": cutoff, "after": after,
                                           "n": limit})).scalars())


async def check_invariants(conn: AsyncConnection) -> list[str]:
    """Every way the ledger could be wrong, as sentences; empty when it is sound."""
    problems = []
    total = await conn.scalar(select(func.coalesce(func.sum(Posting.amount), 0)))
    if total != 0:
        problems.append(f"postings sum to {total}, not 0")
    unbalanced = (await conn.execute(text(
        "SELECT entry_id, sum(amount) FROM postings GROUP BY entry_id "
        "HAVING sum(amount) <> 0 LIMIT 5"))).all()
    problems += [f"entry {r[0]} sums to {r[1]}" for r in unbalanced]
    mismatched = (await conn.execute(text("""
        SELECT coalesce(w.citizen_id, p.citizen_id), w.balance, p.total
        FROM wallets w
        FULL JOIN (SELECT account_citizen_id AS citizen_id, sum(amount) AS total
                   FROM postings WHERE account = 'citizen' GROUP BY account_citizen_id) p
          ON p.citizen_id = w.citizen_id
        WHERE coalesce(w.balance, 0) <> coalesce(p.total, 0) LIMIT 5"""))).all()
    problems += [f"wallet {r[0]} shows {r[1]}, postings say {r[2]}" for r in mismatched]
    negative = await conn.scalar(text("SELECT count(*) FROM wallets WHERE balance < 0"))
    if negative:
        problems.append(f"{negative} wallets are negative")
    lots = (await conn.execute(text("""
        SELECT coalesce(l.citizen_id, p.citizen_id), coalesce(l.lot, p.lot), l.balance, p.total
        FROM point_lots l
        FULL JOIN (SELECT account_citizen_id AS citizen_id, lot, sum(amount) AS total
                   FROM postings WHERE account = 'citizen' GROUP BY 1, 2) p
          ON p.citizen_id = l.citizen_id AND p.lot = l.lot
        WHERE coalesce(l.balance, 0) <> coalesce(p.total, 0) OR l.balance < 0
        LIMIT 5"""))).all()
    problems += [f"lot {r[1]} of {r[0]} shows {r[2]}, postings say {r[3]}" for r in lots]
    return problems


# --- used by privacy --------------------------------------------------------------------


async def export_entries(conn: AsyncConnection, citizen_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every journal entry of the citizen (points signed as the citizen sees them)."""
    rows = await conn.execute(select(
        JournalEntry.id, JournalEntry.kind, JournalEntry.points, JournalEntry.behaviour_id,
        JournalEntry.redemption_id, JournalEntry.reverses_id, JournalEntry.memo,
        JournalEntry.created_at).where(JournalEntry.citizen_id == citizen_id)
        .order_by(JournalEntry.created_at, JournalEntry.id))
    return [dict(r._mapping) for r in rows]


async def export_wallet(conn: AsyncConnection, citizen_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(select(Wallet.balance, Wallet.earned, Wallet.updated_at)
                              .where(Wallet.citizen_id == citizen_id))).first()
    return None if row is None else dict(row._mapping)


# --- used by admin (the dashboard) ---------------------------------------------------------

# Each kind of movement by programme day, as a positive number of points: ``issued`` to
# wallets (behaviours, badge and challenge bonuses), ``reversed`` (taken back from a
# behaviour), ``redeemed`` (spent), ``refunded`` (a redemption given back), ``expired``.
_POINTS_BY_DAY = text("""
    SELECT CAST(created_at AT TIME ZONE :tz AS date) AS day,
           coalesce(sum(points) FILTER (WHERE kind IN ('behaviour_credit', 'bonus')), 0)
               AS issued,
           coalesce(-sum(points) FILTER (WHERE kind = 'reversal'), 0) AS reversed,
           coalesce(-sum(points) FILTER (WHERE kind = 'redemption'), 0) AS redeemed,
           coalesce(sum(points) FILTER (WHERE kind = 'redemption_refund'), 0) AS refunded,
           coalesce(-sum(points) FILTER (WHERE kind = 'expiry'), 0) AS expired
      FROM journal_entries
     WHERE created_at >= :start AND created_at < :end
     GROUP BY 1 ORDER BY 1""")


async def points_by_day(conn: AsyncConnection, start: dt.datetime, end: dt.datetime,
                        tz: str) -> list[Any]:
    """``(day, issued, reversed, redeemed, refunded, expired)`` of the entries made in
    [``start``, ``end``), by programme day in ``tz``; days without entries are left out."""
    return list((await conn.execute(_POINTS_BY_DAY, {"start": start, "end": end, "tz": tz})
                 ).all())


async def outstanding(conn: AsyncConnection) -> int:
    """Points held in wallets now: what the programme owes its citizens."""
    return int(await conn.scalar(select(func.coalesce(func.sum(Wallet.balance), 0))) or 0)
