"""Monthly partitions (migration 0023, ``db/partitions.py``, ``db partitions``): rows land in
their month, the keys that must hold across months still hold, the command creates ahead and
detaches only what may go."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from carbon_inclusion.behaviours import repository as behaviours
from carbon_inclusion.db import partitions
from carbon_inclusion.db.migrate import upgrade
from tests.behaviours.conftest import claim, days_ago
from tests.live import fresh_database

BIN = Path(sys.executable).parent


def _month(at: dt.datetime) -> str:
    return f"{at.astimezone(dt.UTC):%Y%m}"


async def _where(conn, table: str, column: str, value) -> list[str]:
    return list((await conn.execute(text(
        f"SELECT tableoid::regclass::text FROM {table} WHERE {column} = :v"),  # noqa: S608
        {"v": value})).scalars())


async def test_a_claim_its_entry_and_postings_land_in_their_months_partition(client, citizen,
                                                                             app):
    at = days_ago(1)
    r = await claim(client, citizen, "transit_trip", at, {"mode": "metro", "distance_km": "3"})
    assert r.status_code == 201, r.text
    bid = uuid.UUID(r.json()["id"])
    async with app.state.db.connect() as conn:
        assert await _where(conn, "behaviours", "id", bid) == [f"behaviours_p{_month(at)}"]
        entry = (await conn.execute(text(
            "SELECT id, created_at FROM journal_entries WHERE behaviour_id = :b"),
            {"b": bid})).one()
        month = _month(entry.created_at)
        assert await _where(conn, "journal_entries", "id", entry.id) == [
            f"journal_entries_p{month}"]
        assert await _where(conn, "postings", "entry_id", entry.id) == [
            f"postings_p{month}"] * 2
        # The key rows point at the behaviour's and the entry's whole key.
        assert (await conn.execute(text(
            "SELECT behaviour_id, occurred_at FROM behaviour_keys WHERE citizen_id = :c"),
            {"c": uuid.UUID(citizen.id)})).one()[0] == bid
        assert (await conn.execute(text(
            "SELECT count(*) FROM journal_entry_keys WHERE entry_id = :e"),
            {"e": entry.id})).scalar() == 1


async def _behaviour(conn, citizen_id: uuid.UUID, at: dt.datetime, key: str | None) -> uuid.UUID:
    bid = uuid.uuid4()
    await conn.execute(text("""
        INSERT INTO behaviours (id, citizen_id, type, occurred_at, programme_day, district_code,
            source, evidence, idempotency_key, request_hash, partner_id, external_id, status,
            data, computed_reduction_g, computed_points, reduction_g, points)
        VALUES (:id, :c, 'transit_trip', :at, :day, 'yuzhong', :source, 'self_reported',
                CAST(:k AS text),
                CASE WHEN CAST(:k AS text) IS NULL THEN NULL ELSE '\\x00'::bytea END, :p, :x,
                'rejected', '{}', 0, 0, 0, 0)"""), {
        "id": bid, "c": citizen_id, "at": at, "day": at.date(), "k": key,
        "source": "app" if key else "partner", "p": None if key else "test",
        "x": None if key else secrets.token_hex(4)})
    return bid


async def test_an_idempotency_key_is_unique_across_months_and_old_rows_go_to_default(app,
                                                                                    citizen):
    cid, key = uuid.UUID(citizen.id), "k-" + secrets.token_hex(4)
    now = dt.datetime.now(dt.UTC)
    async with app.state.db.connect() as conn:
        first = await _behaviour(conn, cid, now, key)
        ancient = await _behaviour(conn, cid, dt.datetime(2001, 5, 1, tzinfo=dt.UTC), None)
        assert await _where(conn, "behaviours", "id", ancient) == ["behaviours_default"]
    # The same key two months earlier: another partition, the same key, refused by name.
    with pytest.raises(DBAPIError) as refused:
        async with app.state.db.connect() as conn:
            await _behaviour(conn, cid, now - dt.timedelta(days=62), key)
    assert refused.value.orig.__cause__.constraint_name == (
        "uq_behaviours_citizen_id_idempotency_key")
    async with app.state.db.engine.connect() as conn:
        assert (await behaviours.by_key(conn, cid, key)).id == first
    # A behaviour's key, owner and time are fixed (the key row points at them).
    with pytest.raises(DBAPIError, match="are fixed"):
        async with app.state.db.connect() as conn:
            await conn.execute(text("UPDATE behaviours SET occurred_at = occurred_at - "
                                    "interval '40 days' WHERE id = :b"), {"b": first})


async def test_a_partner_record_sent_again_in_a_later_month_is_still_a_duplicate(
        app, client, admin):
    r = await client.post("/v1/admin/partners/", headers=admin.headers, json={
        "id": "p-" + secrets.token_hex(4), "name": "重庆轨道交通", "kind": "transit"})
    assert r.status_code == 201, r.text
    partner = r.json()["id"]

    def record(external: str, received: dt.datetime) -> dict:
        return {"id": uuid.uuid4(), "partner_id": partner, "external_id": external,
                "ref_hash": b"\x00" * 32, "type": "transit_trip", "occurred_at": received,
                "data": {}, "status": "received", "received_at": received}

    now = dt.datetime.now(dt.UTC)
    async with app.state.db.connect() as conn:
        first = await behaviours.receive(conn, [record("a", now - dt.timedelta(days=70)),
                                                record("b", now)])
        assert set(first) == {"a", "b"}
        again = await behaviours.receive(conn, [record("a", now), record("c", now),
                                                record("c", now)])
        assert list(again) == ["c"]  # "a" was received months ago; "c" once
        assert (await conn.execute(text(
            "SELECT count(*) FROM partner_records WHERE partner_id = :p"),
            {"p": partner})).scalar() == 3
        # Forgetting a record forgets its key, as deleting the row did.
        await behaviours.forget_records(conn, [first["b"]])
        assert list(await behaviours.receive(conn, [record("b", now)])) == ["b"]
    # An insert past ingestion gets its key from the trigger, and a duplicate is refused.
    direct = ("INSERT INTO partner_records (id, partner_id, external_id, ref_hash, type, "
              "occurred_at, data, status) VALUES (gen_random_uuid(), :p, :x, '\\x00', 't', "
              "now(), '{}', 'received')")
    async with app.state.db.connect() as conn:
        await conn.execute(text(direct), {"p": partner, "x": "d"})
        assert list(await behaviours.receive(conn, [record("d", now)])) == []
    with pytest.raises(DBAPIError) as refused:
        async with app.state.db.connect() as conn:
            await conn.execute(text(direct), {"p": partner, "x": "a"})
    assert refused.value.orig.__cause__.constraint_name == (
        "uq_partner_records_partner_id_external_id")


async def _entry(conn, citizen_id: uuid.UUID, at: dt.datetime, key: str,
                 reverses: uuid.UUID | None = None, points: int = 5) -> uuid.UUID:
    """An entry and its two postings written at ``at`` (as if in that month), one statement."""
    eid = uuid.uuid4()
    await conn.execute(text("""
        WITH e AS (INSERT INTO journal_entries (id, citizen_id, kind, points, reverses_id,
                       idempotency_key, request_hash, created_at)
                   VALUES (:e, :c, :kind, :pts, :r, :k, '\\x00', :at) RETURNING id)
        INSERT INTO postings (entry_id, citizen_id, account, account_citizen_id, lot, amount,
                              created_at)
        VALUES (:e, :c, 'citizen', :c, 2026, :pts, :at),
               (:e, :c, :counter, NULL, NULL, -:pts, :at)"""), {
        "e": eid, "c": citizen_id, "kind": "reversal" if reverses else "bonus",
        "counter": "reversal" if reverses else "bonus", "pts": points, "r": reverses,
        "k": key, "at": at})
    return eid


async def test_ledger_keys_and_reversals_hold_across_months(app, citizen):
    cid = uuid.UUID(citizen.id)
    now = dt.datetime.now(dt.UTC)
    earlier = now - dt.timedelta(days=65)
    async with app.state.db.connect() as conn:
        old = await _entry(conn, cid, earlier, "t:old", points=10)
        months = {p.name for p in await partitions.partitions(conn)}
        home = f"postings_p{_month(earlier)}"
        assert await _where(conn, "postings", "entry_id", old) == [
            home if home in months else "postings_default"] * 2
        await _entry(conn, cid, now, "t:rev", reverses=old, points=-5)
    for key, reverses, constraint in (
            ("t:old", None, "uq_journal_entries_citizen_idempotency"),  # a key used months ago
            ("t:rev2", "old", "uq_journal_entries_reverses"),  # a second reversal
            ("t:rev3", "nothing", "fk_journal_entry_keys_reverses")):  # of no entry
        with pytest.raises(DBAPIError) as refused:
            async with app.state.db.connect() as conn:
                await _entry(conn, cid, now, key, reverses={"old": old, "nothing": uuid.uuid4(),
                                                            None: None}[reverses],
                             points=-5 if reverses else 5)
        assert refused.value.orig.__cause__.constraint_name == constraint, key
    async with app.state.db.connect() as conn:
        wallet = (await conn.execute(text(
            "SELECT balance FROM wallets WHERE citizen_id = :c"), {"c": cid})).scalar()
    assert wallet == 5  # +10 and one reversal of 5, whatever months they were written in


def _run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "EMBEDDED_SERVICES": "never"}
    return subprocess.run([str(BIN / "carbon-inclusion"), "db", "partitions", *args],  # noqa: S603
                          env=env, capture_output=True, text=True, timeout=120)


async def _sql(url: str, sql: str, params: dict | None = None) -> list:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(sql), params or {})
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


async def _ensure(url: str, first: dt.date, last: dt.date) -> partitions.Report:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            return await partitions.ensure(conn, first, last)
    finally:
        await engine.dispose()


def test_the_command_creates_ahead_and_detaches_only_what_may_go(storage):
    today = dt.datetime.now(dt.UTC).date()
    month = today.replace(day=1)
    with fresh_database(storage.database_url) as url:
        upgrade(url)
        done = _run(url, "--ahead", "5")
        assert done.returncode == 0, done.stderr
        made = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("created")}
        assert made == {f"{t}_p{partitions.add_months(month, n):%Y%m}"
                        for t in partitions.PARTITIONED for n in (4, 5)}  # 0023 made 0–3
        assert "partitions up to date" in _run(url, "--ahead", "5").stdout  # twice: nothing

        # Two old months, one holding a behaviour a credit allocation references.
        old, older = dt.date(2020, 2, 1), dt.date(2020, 1, 1)
        report = asyncio.run(_ensure(url, older, old))
        assert len(report.created) == 8
        user = uuid.uuid4()
        asyncio.run(_sql(url, """
            INSERT INTO users (id, role, phone_index, phone_ciphertext, password_hash, nickname)
            VALUES (:u, 'admin', :i, '\\x00', 'x', 'm')""", {"u": user, "i": user.bytes}))

        async def referenced() -> None:
            engine = create_async_engine(url)
            try:
                async with engine.begin() as conn:
                    bid = await _behaviour(conn, user, dt.datetime(2020, 2, 10, tzinfo=dt.UTC),
                                           None)
                    batch = uuid.uuid4()
                    await conn.execute(text("""
                        INSERT INTO credit_batches (id, methodology_code, methodology_versions,
                            vintage_from, vintage_to, status, quantity, allocated_g,
                            carry_in_g, carry_out_g, behaviours, proposed_by)
                        VALUES (:id, 'CQ-TRANSIT', '{1}', '2020-02-01', '2020-02-29',
                                'proposed', 1, 1000000, 0, 0, 1, :by)"""),
                        {"id": batch, "by": user})
                    await conn.execute(text(
                        "INSERT INTO credit_allocations (behaviour_id, batch_id, grams, "
                        "line, citizen_id, behaviour_occurred_at) "
                        "SELECT id, :batch, 1, 1, citizen_id, occurred_at FROM behaviours "
                        "WHERE id = :b"), {"batch": batch, "b": bid})
            finally:
                await engine.dispose()

        asyncio.run(referenced())

        # Never a month still needed: the claim window and trip retention (365 days).
        refused = _run(url, "--detach-before", f"{month:%Y-%m}")
        assert refused.returncode == 1 and "oldest month still needed" in refused.stderr
        assert "TRIP_RETENTION_DAYS" in refused.stderr

        done = _run(url, "--detach-before", "2020-03")
        assert done.returncode == 0, done.stderr
        out = done.stdout
        for t in partitions.PARTITIONED:
            assert f"detached {t}_p202001" in out
        assert "behaviours_p202002 kept" in out and "foreign key" in out
        attached = {p.name for p in asyncio.run(_list(url))}
        assert "behaviours_p202002" in attached and "behaviours_p202001" not in attached
        # Detached, not dropped: the table is still there, out of the partitioned one.
        assert asyncio.run(_sql(url, "SELECT to_regclass('behaviours_p202001') IS NOT NULL")
                           )[0][0] is True
        assert "detached postings_p202002" in out  # the month's other tables: nothing refers
        # --drop drops what it detaches.
        asyncio.run(_ensure(url, dt.date(2019, 12, 1), dt.date(2019, 12, 1)))
        dropped = _run(url, "--detach-before", "2020-01", "--drop")
        assert dropped.returncode == 0, dropped.stderr
        assert "dropped behaviours_p201912" in dropped.stdout
        assert asyncio.run(_sql(url, "SELECT to_regclass('behaviours_p201912') IS NULL")
                           )[0][0] is True


async def _list(url: str) -> list[partitions.Partition]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await partitions.partitions(conn)
    finally:
        await engine.dispose()


def test_a_month_whose_rows_went_to_default_is_not_created_but_said(storage):
    with fresh_database(storage.database_url) as url:
        upgrade(url)
        user = uuid.uuid4()
        asyncio.run(_sql(url, """
            INSERT INTO users (id, role, phone_index, phone_ciphertext, password_hash, nickname)
            VALUES (:u, 'admin', :i, '\\x00', 'x', 'm')""", {"u": user, "i": user.bytes}))

        async def one() -> None:
            engine = create_async_engine(url)
            try:
                async with engine.begin() as conn:
                    await _behaviour(conn, user, dt.datetime(2019, 7, 4, tzinfo=dt.UTC), None)
            finally:
                await engine.dispose()

        asyncio.run(one())
        report = asyncio.run(_ensure(url, dt.date(2019, 7, 1), dt.date(2019, 7, 1)))
        assert "behaviours_p201907" not in report.created
        assert "postings_p201907" in report.created
        assert any("behaviours_p201907 not created: 1 row(s)" in n for n in report.notes)

