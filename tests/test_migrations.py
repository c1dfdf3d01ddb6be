"""Migrations that change what is stored are tested across their upgrade and downgrade."""

from __future__ import annotations

import asyncio
import datetime as dt
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


async def _sql(database_url: str, sql: str, params: dict | None = None) -> list:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(sql), params or {})
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


def test_0017_makes_earlier_batches_issued_and_takes_back_only_unissued_ones(storage):
    """A batch issued before verification existed stays issued (by whoever created it, no
    verifier); downgrading keeps it and drops batches that never were issued."""
    admin = uuid.uuid4()
    with fresh_database(storage.database_url) as url:
        upgrade(url, "0016")
        asyncio.run(_sql(url, """
            INSERT INTO credit_batches (id, methodology_code, methodology_versions,
                vintage_from, vintage_to, serial_prefix, first_serial, quantity, allocated_g,
                carry_in_g, carry_out_g, behaviours, created_by)
            VALUES (gen_random_uuid(), 'CQ-TRANSIT', '{1}', '2026-01-01', '2026-01-31',
                    'CQTHT-TRANSIT-2026', 1, 1, 1000000, 0, 0, 0, :by)""", {"by": admin}))
        upgrade(url, "0017")
        rows = asyncio.run(_sql(url, "SELECT status, proposed_by, issued_by, issued_at, "
                                     "created_at, verified_by FROM credit_batches"))
        assert [(r.status, r.proposed_by, r.issued_by, r.issued_at == r.created_at,
                 r.verified_by) for r in rows] == [("issued", admin, admin, True, None)]
        asyncio.run(_sql(url, """
            INSERT INTO credit_batches (id, methodology_code, methodology_versions,
                vintage_from, vintage_to, status, quantity, allocated_g, carry_in_g,
                carry_out_g, behaviours, proposed_by)
            VALUES (gen_random_uuid(), 'CQ-TRANSIT', '{1}', '2026-02-01', '2026-02-28',
                    'proposed', 1, 1000000, 0, 0, 0, :by)""", {"by": admin}))
        command.downgrade(alembic_config(url), "0016")
        rows = asyncio.run(_sql(url, "SELECT created_by, serial_prefix FROM credit_batches"))
        assert [(r.created_by, r.serial_prefix) for r in rows] == [(admin, "CQTHT-TRANSIT-2026")]


def test_0022_numbers_the_behaviours_each_batch_held_by_programme_day_both_ways(storage):
    """Existing allocations (held, and released by a returned batch) get lines 1.. per batch
    by programme day then behaviour; downgrading drops the lines and keeps the rows."""
    citizen = uuid.uuid4()
    days = ["2026-01-03", "2026-01-01", "2026-01-02", "2026-01-02", "2026-01-01"]
    ids = sorted(uuid.uuid4() for _ in days)
    held, returned = uuid.uuid4(), uuid.uuid4()
    with fresh_database(storage.database_url) as url:
        upgrade(url, "0021")
        asyncio.run(_sql(url, """
            INSERT INTO users (id, role, password_hash, nickname, status, phone_index,
                               phone_ciphertext)
            VALUES (:id, 'admin', 'x', 'm', 'active', :index, '\\x00')""",
            {"id": citizen, "index": citizen.bytes}))
        for behaviour, day in zip(ids, days, strict=True):
            asyncio.run(_sql(url, """
                INSERT INTO behaviours (id, citizen_id, type, occurred_at, programme_day,
                    district_code, source, evidence, partner_id, external_id, status, data,
                    computed_reduction_g, computed_points, reduction_g, points)
                VALUES (:id, :c, 'transit_trip', CAST(:day AS timestamptz), :day,
                        'yuzhong', 'partner', 'partner_verified', 'p', :ext, 'credited',
                        '{}', 500000, 0, 500000, 0)""",
                {"id": behaviour, "c": citizen, "day": dt.date.fromisoformat(day),
                 "ext": str(behaviour)}))
        asyncio.run(_sql(url, """
            INSERT INTO credit_batches (id, methodology_code, methodology_versions,
                vintage_from, vintage_to, status, quantity, allocated_g, carry_in_g,
                carry_out_g, behaviours, proposed_by, returned_by, returned_at, findings)
            VALUES (:h, 'CQ-TRANSIT', '{1}', '2026-01-01', '2026-01-31', 'proposed', 1,
                    1500000, 0, 500000, 3, NULL, NULL, NULL, '{}'),
                   (:r, 'CQ-EV', '{1}', '2026-01-01', '2026-01-31', 'returned', 1,
                    1000000, 0, 0, 2, NULL, :c, now(), '{"a finding"}')""",
            {"h": held, "r": returned, "c": citizen}))
        asyncio.run(_sql(url, """
            INSERT INTO credit_allocations (behaviour_id, batch_id, grams)
            VALUES (:a, :h, 500000), (:b, :h, 500000), (:c, :h, 500000)""",
            {"a": ids[0], "b": ids[1], "c": ids[2], "h": held}))
        asyncio.run(_sql(url, """
            INSERT INTO credit_allocations_released (behaviour_id, batch_id, grams)
            VALUES (:d, :r, 500000), (:e, :r, 500000)""",
            {"d": ids[3], "e": ids[4], "r": returned}))
        upgrade(url, "0022")
        lines = {(r.batch_id, r.line): r.behaviour_id for r in asyncio.run(_sql(url, """
            SELECT batch_id, line, behaviour_id FROM credit_allocations UNION ALL
            SELECT batch_id, line, behaviour_id FROM credit_allocations_released"""))}
        # held: ids[1] (1 Jan), ids[2] (2 Jan), ids[0] (3 Jan); released: ids[4], ids[3]
        assert lines == {(held, 1): ids[1], (held, 2): ids[2], (held, 3): ids[0],
                         (returned, 1): ids[4], (returned, 2): ids[3]}
        command.downgrade(alembic_config(url), "0021")
        assert len(asyncio.run(_sql(url, "SELECT * FROM credit_allocations"))) == 3
