"""Posting to the ledger and reading wallets. Core statements on the caller's connection.

Every function that writes takes the caller's open transaction: a behaviour and the points
it earns commit together or not at all. The database itself refuses an entry whose postings
do not sum to zero and a wallet that would go below zero.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion import metrics
from carbon_inclusion.core import lots as core_lots
from carbon_inclusion.db.bulk import as_arrays, unnest_insert_sql
from carbon_inclusion.ids import uuid7
from carbon_inclusion.ledger.models import CITIZEN, Posting, Wallet


@dataclass(frozen=True, slots=True)
class Entry:
    """One movement between a citizen's wallet and a programme account.

    ``points`` is signed as the citizen sees it: +12 credits the wallet from ``counter``,
    -200 debits it into ``counter``. ``lots`` splits it by earning year, ``((2026, 12),)`` for
    a credit earned now, what ``allocate`` chose for a debit; the parts sum to ``points``.
    """

    citizen_id: uuid.UUID
    kind: str
    points: int
    counter: str
    idempotency_key: str
    request_hash: bytes
    behaviour_id: uuid.UUID | None = None
    redemption_id: uuid.UUID | None = None
    reverses_id: uuid.UUID | None = None
    memo: str | None = None
    id: uuid.UUID | None = None
    lots: tuple[tuple[int, int], ...] = ()


def lot_of(at: dt.datetime, tz: ZoneInfo) -> int:
    """The lot that points earned at ``at`` go to: the programme-time year."""
    return at.astimezone(tz).year


def lines(entries: Sequence[Entry]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of ``entries`` and of their postings (two each: the citizen's and the
    counter account's), ready for ``POST_SQL``."""
    rows: list[dict[str, Any]] = []
    postings: list[dict[str, Any]] = []
    for e in entries:
        if e.points == 0:
            raise ValueError("a journal entry moves a non-zero number of points")
        if sum(amount for _, amount in e.lots) != e.points or any(a == 0 for _, a in e.lots):
            raise ValueError(f"the lots of an entry sum to its points: {e.lots} vs {e.points}")
        entry_id = e.id or uuid7()
        rows.append({
            "id": entry_id, "citizen_id": e.citizen_id, "kind": e.kind, "points": e.points,
            "behaviour_id": e.behaviour_id, "redemption_id": e.redemption_id,
            "reverses_id": e.reverses_id, "idempotency_key": e.idempotency_key,
            "request_hash": e.request_hash, "memo": e.memo,
        })
        postings.extend({"entry_id": entry_id, "account": CITIZEN,
                         "account_citizen_id": e.citizen_id, "lot": lot, "amount": amount}
                        for lot, amount in e.lots)
        postings.append({"entry_id": entry_id, "account": e.counter,
                         "account_citizen_id": None, "lot": None, "amount": -e.points})
    return rows, postings


def post_params(entries: Sequence[Entry]) -> dict[str, list[Any]]:
    """Bind parameters of ``ENTRIES_CTE`` and ``POSTINGS_INSERT``."""
    rows, postings = lines(entries)
    metrics.postings_written((e.kind for e in entries), (len(e.lots) + 1 for e in entries))
    return as_arrays(rows, ENTRY_COLUMNS, "e_") | as_arrays(postings, POSTING_COLUMNS, "p_")


async def post(conn: AsyncConnection, entries: Sequence[Entry]) -> list[uuid.UUID]:
    """Write ``entries`` in the caller's transaction, in one statement; return their ids.

    Raises ``IntegrityError`` (check ``balance_not_negative``) if a wallet would go negative.
    """
    if not entries:
        return []
    params = post_params(entries)
    await conn.execute(_POST, params)
    return params["e_id"]


ENTRY_COLUMNS = (("id", "uuid"), ("citizen_id", "uuid"), ("kind", "text"),
                 ("points", "bigint"), ("behaviour_id", "uuid"), ("redemption_id", "uuid"),
                 ("reverses_id", "uuid"), ("idempotency_key", "text"),
                 ("request_hash", "bytea"), ("memo", "text"))
POSTING_COLUMNS = (("entry_id", "uuid"), ("account", "text"), ("account_citizen_id", "uuid"),
                   ("lot", "smallint"), ("amount", "bigint"))
# An entry's postings arrive in the statement that creates it: the postings triggers run
# once per statement (balance check, ordered wallet moves) and see both.
ENTRIES_CTE = f"new_entries AS ({unnest_insert_sql('journal_entries', ENTRY_COLUMNS, 'e_')})"
POSTINGS_INSERT = unnest_insert_sql("postings", POSTING_COLUMNS, "p_")
_POST = text(f"WITH {ENTRIES_CTE} {POSTINGS_INSERT}")


class InsufficientPoints(Exception):
    def __init__(self, citizen_id: uuid.UUID, balance: int, needed: int) -> None:
        super().__init__(f"citizen {citizen_id} has {balance} points, {needed} needed")
        self.citizen_id, self.balance, self.needed = citizen_id, balance, needed


Lots = tuple[tuple[int, int], ...]


async def allocate(conn: AsyncConnection, debits: Mapping[uuid.UUID, int], *,
                   partial: bool = False) -> dict[uuid.UUID, Lots]:
    """Which lots each citizen's debit is taken from: the oldest (soonest to expire) first.

    Locks each wallet, then its lots, in citizen order (the order the postings trigger
    locks them in), and holds them to the end of the caller's transaction, so what was
    allocated is still there when it is posted. Returns negative amounts, ready for
    ``Entry.lots``. Raises ``InsufficientPoints`` when a wallet is short, unless ``partial``:
    then it takes what there is (and leaves out a citizen who has nothing).
    """
    rows = (await conn.execute(_LOTS_FOR_UPDATE, {"c": sorted(debits)})).all()
    available: dict[uuid.UUID, list[tuple[int, int]]] = {}
    for row in rows:
        available.setdefault(row.citizen_id, []).append((row.lot, row.balance))
    out: dict[uuid.UUID, Lots] = {}
    for citizen_id, needed in debits.items():
        lots = available.get(citizen_id, [])
        balance = core_lots.held(lots)
        if needed > balance and not partial:
            raise InsufficientPoints(citizen_id, balance, needed)
        taken = core_lots.allocate(lots, needed)
        if taken:
            out[citizen_id] = taken
    return out


# Joining the wallet makes each wallet row lock before its citizen's lots; the ORDER BY is the
# order rows are locked in.
_LOTS_FOR_UPDATE = text("""
    SELECT l.citizen_id, l.lot, l.balance
      FROM wallets w JOIN point_lots l ON l.citizen_id = w.citizen_id
     WHERE w.citizen_id = ANY(CAST(:c AS uuid[])) AND l.balance > 0
     ORDER BY l.citizen_id, l.lot
       FOR UPDATE""")


async def entry_lots(conn: AsyncConnection, entry_id: uuid.UUID) -> Lots:
    """The citizen lines of an entry, as ``(lot, amount)``: what a reversal gives back."""
    rows = await conn.execute(text(
        "SELECT lot, sum(amount) FROM postings WHERE entry_id = :e AND account = 'citizen' "
        "GROUP BY lot ORDER BY lot"), {"e": entry_id})
    return tuple((r[0], int(r[1])) for r in rows)


@dataclass(frozen=True, slots=True)
class WalletView:
    balance: int
    earned: int


async def wallet(conn: AsyncConnection, citizen_id: uuid.UUID) -> WalletView:
    row = (await conn.execute(select(Wallet.balance, Wallet.earned)
                              .where(Wallet.citizen_id == citizen_id))).first()
    return WalletView(row.balance, row.earned) if row else WalletView(0, 0)


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
