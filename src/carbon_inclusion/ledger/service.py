"""Posting to the ledger and reading wallets. Core statements on the caller's connection.

Every function that writes takes the caller's open transaction: a behaviour and the points
it earns commit together or not at all. The database itself refuses an entry whose postings
do not sum to zero and a wallet that would go below zero.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.db.bulk import as_arrays, unnest_insert_sql
from carbon_inclusion.ids import uuid7
from carbon_inclusion.ledger.models import CITIZEN, Posting, Wallet


@dataclass(frozen=True, slots=True)
class Entry:
    """One movement between a citizen's wallet and a programme account.

    ``points`` is signed as the citizen sees it: +12 credits the wallet from ``counter``,
    -200 debits it into ``counter``.
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


def lines(entries: Sequence[Entry]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of ``entries`` and of their postings (two each: the citizen's and the
    counter account's), ready for ``POST_SQL``."""
    rows: list[dict[str, Any]] = []
    postings: list[dict[str, Any]] = []
    for e in entries:
        if e.points == 0:
            raise ValueError("a journal entry moves a non-zero number of points")
        entry_id = e.id or uuid7()
        rows.append({
            "id": entry_id, "citizen_id": e.citizen_id, "kind": e.kind, "points": e.points,
            "behaviour_id": e.behaviour_id, "redemption_id": e.redemption_id,
            "reverses_id": e.reverses_id, "idempotency_key": e.idempotency_key,
            "request_hash": e.request_hash, "memo": e.memo,
        })
        postings.append({"entry_id": entry_id, "account": CITIZEN,
                         "account_citizen_id": e.citizen_id, "amount": e.points})
        postings.append({"entry_id": entry_id, "account": e.counter,
                         "account_citizen_id": None, "amount": -e.points})
    return rows, postings


def post_params(entries: Sequence[Entry]) -> dict[str, list[Any]]:
    """Bind parameters of ``ENTRIES_CTE`` and ``POSTINGS_INSERT``."""
    rows, postings = lines(entries)
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
                   ("amount", "bigint"))
# An entry's postings arrive in the statement that creates it: the postings triggers run
# once per statement (balance check, ordered wallet moves) and see both.
ENTRIES_CTE = f"new_entries AS ({unnest_insert_sql('journal_entries', ENTRY_COLUMNS, 'e_')})"
POSTINGS_INSERT = unnest_insert_sql("postings", POSTING_COLUMNS, "p_")
_POST = text(f"WITH {ENTRIES_CTE} {POSTINGS_INSERT}")


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
    return problems
