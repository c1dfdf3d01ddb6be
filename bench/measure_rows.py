"""Bytes per row of the tables that grow with citizens, measured on generated data (the
figures of docs/scaling.md). Not a benchmark (``make bench`` does not run it).

A new database beside DATABASE_URL (default the local one), migrated and seeded; then
``ROWS`` behaviours (half app claims with their Idempotency-Key, half partner trips with the
partner record they came from and its raw payload), each credited through the real ledger
code (``ledger.post``: one journal entry, two postings, wallet and lot triggers), and the
day counters. Prints, per table: rows, heap bytes/row (``pg_column_size`` of the row, the
average), and total bytes/row with indexes and TOAST (``pg_total_relation_size`` summed
over the partitions). ``python bench/measure_rows.py`` (ROWS=100000 by default).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import secrets
import subprocess
import uuid

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from carbon_inclusion.db.migrate import upgrade
from carbon_inclusion.devservices import drop_database, ensure_database
from carbon_inclusion.ids import uuid7
from carbon_inclusion.ledger import service as ledger

ROWS = int(os.environ.get("ROWS", "100000"))
CITIZENS = max(ROWS // 50, 10)
BATCH = 1000
TABLES = ("behaviours", "behaviour_keys", "partner_records", "partner_record_keys",
          "journal_entries", "journal_entry_keys", "postings", "daily_totals", "wallets",
          "point_lots", "users")
STATIONS = ("小什字", "沙坪坝", "解放碑", "观音桥", "杨家坪", "南坪", "大坪", "两路口")


def _partner_payload(i: int) -> dict:
    return {"mode": "metro", "distance_km": f"{random.uniform(2, 30):.1f}",
            "station_in": random.choice(STATIONS), "station_out": random.choice(STATIONS),
            "line": str(random.randint(1, 10)), "card_ref": f"CQ{i % 100000:06d}",
            "tap_in": "2026-12-02T08:01:12+08:00", "tap_out": "2026-12-02T08:31:40+08:00"}


async def fill(url: str) -> None:
    engine = create_async_engine(url, pool_size=2)
    now = dt.datetime.now(dt.UTC)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO partners (id, name, kind, secret_sealed) "
                "VALUES ('cq-metro', '重庆轨道交通', 'transit', 'x')"))
            await conn.execute(text("""
                INSERT INTO users (id, role, phone_index, phone_ciphertext, password_hash,
                                   nickname, district_code)
                SELECT gen_random_uuid(), 'citizen', sha256(g::text::bytea),
                       sha256(g::text::bytea) || sha256(g::text::bytea),
                       '$argon2id$v=19$m=65536,t=3,p=4$'
                           || encode(sha256(g::text::bytea), 'base64'),
                       '用户' || g, 'yuzhong' FROM generate_series(1, :n) g"""),
                {"n": CITIZENS})
            citizens = list((await conn.execute(text("SELECT id FROM users"))).scalars())
            version = (await conn.execute(text(
                "SELECT id, version FROM methodology_versions WHERE code = 'CQ-TRANSIT' "
                "ORDER BY version DESC LIMIT 1"))).one()
        for start in range(0, ROWS, BATCH):
            rows, records, entries = [], [], []
            for i in range(start, min(start + BATCH, ROWS)):
                citizen = citizens[i % len(citizens)]
                at = now - dt.timedelta(minutes=random.randint(0, 60 * 24 * 20))
                app = i % 2 == 0
                bid, eid = uuid7(), uuid7()
                km = f"{random.uniform(2, 30):.1f}"
                data = {"mode": "metro", "distance_km": km} if app else _partner_payload(i)
                grams = round(float(km) * 46.8 * (0.5 if app else 1), 1)
                points = int(grams // 10)
                rows.append({
                    "id": bid, "c": citizen, "at": at, "day": at.date(),
                    "source": "app" if app else "partner",
                    "evidence": "self_reported" if app else "partner_verified",
                    "pid": None if app else "cq-metro",
                    "ext": None if app else f"trip-{i:012d}",
                    "key": str(uuid.uuid4()) if app else None,
                    "hash": secrets.token_bytes(32) if app else None,
                    "data": json.dumps(data, ensure_ascii=False), "mid": version.id,
                    "v": version.version, "g": grams, "p": points, "e": eid})
                if not app:
                    records.append({
                        "id": uuid.uuid4(), "pid": "cq-metro", "ext": f"trip-{i:012d}",
                        "ref": secrets.token_bytes(32), "at": at,
                        "data": json.dumps(data, ensure_ascii=False), "c": citizen, "b": bid})
                if points:
                    entries.append(ledger.Entry(
                        citizen_id=citizen, kind="behaviour_credit", points=points,
                        counter="issuance", idempotency_key=f"behaviour:{bid}",
                        request_hash=secrets.token_bytes(32), behaviour_id=bid, id=eid,
                        lots=((at.year, points),)))
            async with engine.begin() as conn:
                await conn.execute(text("""
                    INSERT INTO behaviours (id, citizen_id, type, occurred_at, programme_day,
                        district_code, source, evidence, partner_id, external_id,
                        idempotency_key, request_hash, status, data, methodology_id,
                        methodology_code, methodology_version, computed_reduction_g,
                        computed_points, reduction_g, points, ledger_entry_id, decided_at)
                    VALUES (:id, :c, 'transit_trip', :at, :day, 'yuzhong', :source, :evidence,
                            :pid, :ext, :key, :hash, 'credited', CAST(:data AS jsonb), :mid,
                            'CQ-TRANSIT', :v, :g, :p, :g, :p, :e, now())"""), rows)
                if records:
                    await conn.execute(text("""
                        INSERT INTO partner_records (id, partner_id, external_id, ref_hash,
                            type, occurred_at, data, status, citizen_id, behaviour_id)
                        VALUES (:id, :pid, :ext, :ref, 'transit_trip', :at,
                                CAST(:data AS jsonb), 'credited', :c, :b)"""), records)
                await ledger.post(conn, entries)
        async with engine.begin() as conn:
            await conn.execute(text("""
                INSERT INTO daily_totals (citizen_id, type, day, count, grams, points)
                SELECT citizen_id, type, programme_day, count(*), sum(reduction_g), sum(points)
                  FROM behaviours GROUP BY 1, 2, 3"""))
    finally:
        await engine.dispose()


async def measure(url: str) -> list[tuple[str, int, float, float]]:
    engine = create_async_engine(url)
    out = []
    try:
        async with engine.connect() as conn:
            for table in TABLES:
                n, heap = (await conn.execute(text(
                    f"SELECT count(*), avg(pg_column_size(t.*)) FROM {table} t"))).one()  # noqa: S608
                total = await conn.scalar(text(
                    "SELECT coalesce((SELECT sum(pg_total_relation_size(relid)) "
                    "FROM pg_partition_tree(CAST(:t AS regclass)) WHERE isleaf), "
                    "pg_total_relation_size(CAST(:t AS regclass)))"), {"t": table})
                out.append((table, n, float(heap or 0), float(total or 0) / max(n, 1)))
    finally:
        await engine.dispose()
    return out


def main() -> None:
    base = os.environ.get("DATABASE_URL",
                          "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    url = make_url(base).set(drivername="postgresql+asyncpg",
                             database=f"ci_rows_{secrets.token_hex(4)}")
    rendered = url.render_as_string(hide_password=False)
    ensure_database(rendered)
    try:
        upgrade(rendered)
        from carbon_inclusion.db import Database
        from carbon_inclusion.seeding import seed_all

        async def seed() -> None:
            db = Database(create_async_engine(rendered))
            try:
                await seed_all(db)
            finally:
                await db.dispose()

        asyncio.run(seed())
        asyncio.run(fill(rendered))
        plain = make_url(rendered).set(drivername="postgresql")
        subprocess.run(["psql", plain.render_as_string(hide_password=False),  # noqa: S603, S607
                        "-qc", "VACUUM ANALYZE"], check=True)
        print(f"{ROWS} behaviours, {CITIZENS} citizens")
        print(f"{'table':22} {'rows':>9} {'heap B/row':>11} {'total B/row':>12}")
        for table, n, heap, total in asyncio.run(measure(rendered)):
            print(f"{table:22} {n:>9} {heap:>11.0f} {total:>12.0f}")
    finally:
        drop_database(rendered)


if __name__ == "__main__":
    main()
