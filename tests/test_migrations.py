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


async def _bonus_then_wallet(database_url: str, citizen: uuid.UUID | None) -> tuple[int, int]:
    """Post a 5-point bonus to a citizen (a new one when ``citizen`` is None); the wallet."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            if citizen is None:
                citizen = uuid.uuid4()
                # An admin: a citizen would need the seeded districts; the wallet is the same.
                await conn.execute(text(
                    "INSERT INTO users (id, role, phone, password_hash, nickname, status) "
                    "VALUES (:id, 'admin', :phone, 'x', 'm', 'active')"),
                    {"id": citizen, "phone": "+86137" + str(citizen.int)[:8]})
            key = f"badge:test:{uuid.uuid4()}"
            await ledger.post(conn, [ledger.Entry(
                citizen_id=citizen, kind="bonus", points=5, counter="bonus",
                idempotency_key=key, request_hash=hashlib.sha256(key.encode()).digest(),
                lots=((2026, 5),))])
            row = (await conn.execute(text(
                "SELECT balance, earned FROM wallets WHERE citizen_id = :c"),
                {"c": citizen})).one()
        return row.balance, row.earned
    finally:
        await engine.dispose()


def test_0011_counts_bonus_points_as_earned_and_recomputes_wallets_both_ways(storage):
    with fresh_database(storage.database_url) as url:
        upgrade(url, "0010")
        assert asyncio.run(_bonus_then_wallet(url, None)) == (5, 0)  # the old trigger
        upgrade(url, "0011")
        citizen = asyncio.run(_only_wallet(url))
        assert asyncio.run(_wallet(url, citizen)) == (5, 5)  # recomputed
        assert asyncio.run(_bonus_then_wallet(url, citizen)) == (10, 10)  # the new trigger
        command.downgrade(alembic_config(url), "0010")
        assert asyncio.run(_wallet(url, citizen)) == (10, 0)


async def _only_wallet(database_url: str) -> uuid.UUID:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(text("SELECT citizen_id FROM wallets"))
    finally:
        await engine.dispose()


async def _wallet(database_url: str, citizen: uuid.UUID) -> tuple[int, int]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT balance, earned FROM wallets WHERE citizen_id = :c"),
                {"c": citizen})).one()
        return row.balance, row.earned
    finally:
        await engine.dispose()
