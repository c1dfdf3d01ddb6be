"""Migrations that change what is stored are tested across their upgrade and downgrade."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from carbon_inclusion.db.migrate import alembic_config, upgrade
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
            # What ledger.post wrote at 0010/0011 (today's postings also carry citizen_id).
            await conn.execute(text("""
                WITH e AS (INSERT INTO journal_entries (id, citizen_id, kind, points,
                               idempotency_key, request_hash)
                           VALUES (:e, :c, 'bonus', 5, :k, :h) RETURNING id)
                INSERT INTO postings (entry_id, account, account_citizen_id, lot, amount)
                VALUES (:e, 'citizen', :c, 2026, 5), (:e, 'bonus', NULL, NULL, -5)"""),
                {"e": uuid.uuid4(), "c": owner, "k": key,
                 "h": hashlib.sha256(key.encode()).digest()})
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


async def _fill_0019(url: str, user: uuid.UUID) -> dict:
    """At 0019: behaviours in two months (one app claim with its key, one far in the past),
    a partner record, an entry and its reversal, and a credit allocation."""
    months = [dt.datetime(2026, 10, 5, 8, tzinfo=dt.UTC), dt.datetime(2003, 3, 1, tzinfo=dt.UTC)]
    b1, b2, e1, e2, batch = (uuid.uuid4() for _ in range(5))
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO users (id, role, phone_index, phone_ciphertext, password_hash, "
                "nickname) VALUES (:u, 'admin', :pi, '\\x00', 'x', 'm')"),
                {"u": user, "pi": user.bytes})
            partner = await conn.scalar(text("SELECT id FROM partners LIMIT 1"))
            for bid, at, key in ((b1, months[0], "claim-1"), (b2, months[1], None)):
                await conn.execute(text("""
                    INSERT INTO behaviours (id, citizen_id, type, occurred_at, programme_day,
                        district_code, source, evidence, idempotency_key, request_hash,
                        partner_id, external_id, status, data, computed_reduction_g,
                        computed_points, reduction_g, points)
                    VALUES (:id, :c, 'transit_trip', :at, :day, 'yuzhong', :src,
                            'partner_verified', CAST(:k AS text),
                            CASE WHEN CAST(:k AS text) IS NULL THEN NULL ELSE '\\x00'::bytea END,
                            NULL, NULL, 'credited', '{}', 100, 1, 100, 1)"""), {
                    "id": bid, "c": user, "at": at, "day": at.date(), "k": key,
                    "src": "app" if key else "partner"})
            for eid, points, reverses, at in ((e1, 5, None, months[0]),
                                              (e2, -5, e1, dt.datetime.now(dt.UTC))):
                await conn.execute(text("""
                    WITH e AS (INSERT INTO journal_entries (id, citizen_id, kind, points,
                                   reverses_id, idempotency_key, request_hash, created_at)
                               VALUES (:e, :c, :kind, :pts, :r, :k, '\\x00', :at) RETURNING id)
                    INSERT INTO postings (entry_id, account, account_citizen_id, lot, amount,
                                          created_at)
                    VALUES (:e, 'citizen', :c, 2026, :pts, :at),
                           (:e, :counter, NULL, NULL, -:pts, :at)"""), {
                    "e": eid, "c": user, "kind": "reversal" if reverses else "behaviour_credit",
                    "counter": "reversal" if reverses else "issuance", "pts": points,
                    "r": reverses, "k": f"entry:{eid}", "at": at})
            if partner is not None:
                await conn.execute(text("""
                    INSERT INTO partner_records (id, partner_id, external_id, ref_hash, type,
                        occurred_at, data, status)
                    VALUES (gen_random_uuid(), :p, 'x-1', '\\x00', 'transit_trip', now(), '{}',
                            'received')"""), {"p": partner})
            await conn.execute(text("""
                INSERT INTO credit_batches (id, methodology_code, methodology_versions,
                    vintage_from, vintage_to, status, quantity, allocated_g, carry_in_g,
                    carry_out_g, behaviours, proposed_by)
                VALUES (:id, 'CQ-TRANSIT', '{1}', '2026-10-01', '2026-10-31', 'proposed', 1,
                        1000000, 0, 0, 1, :by)"""), {"id": batch, "by": user})
            await conn.execute(text(
                "INSERT INTO credit_allocations (behaviour_id, batch_id, grams) "
                "VALUES (:b, :batch, 100)"), {"b": b1, "batch": batch})
    finally:
        await engine.dispose()
    return {"b1": b1, "b2": b2, "e1": e1, "e2": e2, "partner": partner}


_COUNTS = ("SELECT (SELECT count(*) FROM behaviours), (SELECT count(*) FROM partner_records), "
           "(SELECT count(*) FROM journal_entries), (SELECT count(*) FROM postings), "
           "(SELECT count(*) FROM credit_allocations), "
           "(SELECT balance FROM wallets WHERE citizen_id = :u)")


def test_0023_partitions_tables_with_data_and_keeps_every_key_both_ways(storage):
    user = uuid.uuid4()
    with fresh_database(storage.database_url) as url:
        upgrade(url, "0019")
        made = asyncio.run(_fill_0019(url, user))
        before = asyncio.run(_sql(url, _COUNTS, {"u": user}))
        upgrade(url, "0023")
        assert asyncio.run(_sql(url, _COUNTS, {"u": user})) == before
        homes = dict(asyncio.run(_sql(url, "SELECT id, tableoid::regclass::text FROM behaviours")))
        assert homes == {made["b1"]: "behaviours_p202610", made["b2"]: "behaviours_p200303"}
        assert asyncio.run(_sql(url, "SELECT DISTINCT tableoid::regclass::text FROM postings "
                                     "WHERE entry_id = :e", {"e": made["e1"]})) == [
            ("postings_p202610",)]
        # The keys came over: the claim's key, the entry keys and the reversal.
        assert asyncio.run(_sql(url, "SELECT behaviour_id FROM behaviour_keys")) == [
            (made["b1"],)]
        assert asyncio.run(_sql(url, "SELECT entry_id, reverses_id FROM journal_entry_keys "
                                     "WHERE reverses_id IS NOT NULL")) == [
            (made["e2"], made["e1"])]
        assert asyncio.run(_sql(url, "SELECT citizen_id, behaviour_occurred_at "
                                     "FROM credit_allocations")) == [
            (user, dt.datetime(2026, 10, 5, 8, tzinfo=dt.UTC))]
        # A second reversal of e1 is refused by the moved key, a month later or not.
        with pytest.raises(Exception, match="uq_journal_entries_reverses"):
            asyncio.run(_sql(url, """
                WITH e AS (INSERT INTO journal_entries (id, citizen_id, kind, points,
                               reverses_id, idempotency_key, request_hash)
                           VALUES (gen_random_uuid(), :c, 'reversal', -5, :r, 'again', '\\x00')
                           RETURNING id, created_at)
                INSERT INTO postings (entry_id, citizen_id, account, account_citizen_id, lot,
                                      amount, created_at)
                SELECT id, :c, 'citizen', :c, 2026, -5, created_at FROM e UNION ALL
                SELECT id, :c, 'reversal', NULL, NULL, 5, created_at FROM e""",
                {"c": user, "r": made["e1"]}))

        command.downgrade(alembic_config(url), "0019")
        assert asyncio.run(_sql(url, _COUNTS, {"u": user})) == before
        assert asyncio.run(_sql(url, "SELECT count(*) FROM pg_partitioned_table")) == [(0,)]
        # The unique keys are the tables' own again.
        with pytest.raises(Exception, match="uq_behaviours_citizen_id_idempotency_key"):
            asyncio.run(_sql(url, "INSERT INTO behaviours SELECT (jsonb_populate_record(b, "
                                  "jsonb_build_object('id', gen_random_uuid()))).* "
                                  "FROM behaviours b WHERE idempotency_key = 'claim-1'"))
        upgrade(url, "0023")  # and up again
        assert asyncio.run(_sql(url, _COUNTS, {"u": user})) == before
