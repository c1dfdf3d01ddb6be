"""Migrations that change what is stored are tested across their upgrade and downgrade."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from carbon_inclusion.db.migrate import alembic_config, upgrade
from carbon_inclusion.ledger import service as ledger
from tests.live import fresh_database


async def _bonus(database_url: str, owner: uuid.UUID | None = None) -> tuple[uuid.UUID, int, int]:
    """Post a 5-point bonus to ``owner`` (a new user when None); the owner and the wallet's
    balance and earned after it."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            if owner is None:
                owner = uuid.uuid4()
                # An admin: a citizen would need the seeded districts; the wallet is the same.
                await conn.execute(text(
                    "INSERT INTO users (id, role, phone, password_hash, nickname, status) "
                    "VALUES (:id, 'admin', :phone, 'x', 'm', 'active')"),
                    {"id": owner, "phone": "+86137" + str(owner.int)[:8]})
            key = f"badge:test:{uuid.uuid4()}"
            await ledger.post(conn, [ledger.Entry(
                citizen_id=owner, kind="bonus", points=5, counter="bonus",
                idempotency_key=key, request_hash=hashlib.sha256(key.encode()).digest(),
                lots=((2026, 5),))])
        return (owner, *await _wallet(database_url, owner))
    finally:
        await engine.dispose()


async def _wallet(database_url: str, owner: uuid.UUID) -> tuple[int, int]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT balance, earned FROM wallets WHERE citizen_id = :c"),
                {"c": owner})).one()
        return row.balance, row.earned
    finally:
        await engine.dispose()


def test_0011_counts_bonus_points_as_earned_and_recomputes_wallets_both_ways(storage):
    with fresh_database(storage.database_url) as url:
        upgrade(url, "0010")
        owner, *wallet = asyncio.run(_bonus(url))
        assert wallet == [5, 0]  # the old trigger
        upgrade(url, "0011")
        assert asyncio.run(_wallet(url, owner)) == (5, 5)  # recomputed
        assert asyncio.run(_bonus(url, owner))[1:] == (10, 10)  # the new trigger
        command.downgrade(alembic_config(url), "0010")
        assert asyncio.run(_wallet(url, owner)) == (10, 0)
