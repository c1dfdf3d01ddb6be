"""Partner ingestion: records/s through the real signed endpoint, against raw executemany.

100,000 transit records for 1,000 bound cards, in batches of 1,000, sent by 4 concurrent
senders to ``POST /v1/partner/behaviours``. Baseline: asyncpg ``executemany`` of the same
rows into a bare table, in the same run. Every citizen has accepted the privacy notice, so
every record is credited (a record of a citizen without consent is refused and not kept).

A second figure, the floor, is what no implementation can beat: the rows one credited
record needs at the least (its partner record, its behaviour, its journal entry and the
entry's two postings), built before the clock starts and written with the same
``executemany`` into bare tables of those columns and unique keys (no triggers, no foreign
keys, no scoring, no HTTP), one transaction per batch of 1,000.

Target (issue #19): ≥ 50 % of the floor, every record credited and answered one by one; the
replayed batches answer every record a duplicate.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import secrets
import time
import uuid

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from _harness import Target, report, run, server, storage
from carbon_inclusion.security.passwords import hash_password
from carbon_inclusion.security.phone_crypto import phone_cipher_of
from carbon_inclusion.security.secrets import sign_partner_request

RECORDS = int(os.environ.get("BENCH_RECORDS", "100000"))
BATCH = 1000
CARDS = int(os.environ.get("BENCH_CARDS", "1000"))
SENDERS = 4


async def connect(database_url: str) -> asyncpg.Connection:
    u = make_url(database_url)
    return await asyncpg.connect(host=u.host, port=u.port, user=u.username,
                                 password=u.password, database=u.database)


async def setup(base: str, database_url: str, transport: httpx.AsyncBaseTransport | None = None
                ) -> tuple[str, str, list[str]]:
    """A partner (through the admin API) and 1,000 citizens, each with a confirmed card binding
    and the privacy notice accepted."""
    from carbon_inclusion.security.secrets import RefHasher, derive_key
    from carbon_inclusion.settings import Settings

    conn = await connect(database_url)
    phone = "136" + str(secrets.randbelow(10**8)).zfill(8)
    admin_id = uuid.uuid4()
    password = "Low-carbon-2026"
    # The server runs with the development keys, as this process does.
    phones = phone_cipher_of(Settings())
    await conn.execute(
        "INSERT INTO users (id, role, phone_index, phone_ciphertext, password_hash, nickname, "
        "status, phone_verified_at) VALUES ($1, 'admin', $2, $3, $4, 'bench-admin', 'active', "
        "now())",
        admin_id, phones.index("+86" + phone), phones.encrypt("+86" + phone),
        hash_password(password))
    async with httpx.AsyncClient(base_url=base, timeout=30, transport=transport) as c:
        token = (await c.post("/v1/auth/token", json={"phone": phone, "password": password})
                 ).json()["access_token"]
        pid = "bench-" + secrets.token_hex(3)
        r = await c.post("/v1/admin/partners/", headers={"Authorization": f"Bearer {token}"},
                         json={"id": pid, "name": "bench metro", "kind": "transit"})
        r.raise_for_status()
        secret = r.json()["secret"]
    # The server runs with the development SECRET_KEY, as this process does.
    hash_ref = RefHasher(derive_key(Settings().secret_key, "binding-refs"))
    cards, users, bindings = [], [], []
    pw = hash_password(password)
    for i in range(CARDS):
        cid = uuid.uuid4()
        ref = f"CQ{i:06d}{secrets.token_hex(2).upper()}"
        cards.append(ref)
        number = "+86135" + str(10**7 + i).zfill(8)
        users.append((cid, "citizen", phones.index(number), phones.encrypt(number), pw, f"c{i}",
                      random.choice(["yuzhong", "jiangbei", "shapingba", "nanan"]), "active"))
        bindings.append((uuid.uuid4(), cid, pid, hash_ref(pid, ref), ref[-4:]))
    await conn.executemany(
        "INSERT INTO users (id, role, phone_index, phone_ciphertext, password_hash, nickname, "
        "district_code, status, phone_verified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())",
        users)
    await conn.executemany(
        "INSERT INTO bindings (id, citizen_id, partner_id, ref_hash, ref_hint, status, "
        "confirmed_at, confirmed_by) VALUES ($1, $2, $3, $4, $5, 'confirmed', now(), 'partner')",
        bindings)
    await conn.executemany(  # the seeded privacy notice, seed/privacy/notice-v1.json
        "INSERT INTO privacy_consents (id, user_id, version) VALUES ($1, $2, 1)",
        [(uuid.uuid4(), u[0]) for u in users])
    await conn.close()
    return pid, secret, cards


def records(cards: list[str]) -> list[dict]:
    now = dt.datetime.now(dt.UTC)
    out = []
    for i in range(RECORDS):
        ref = cards[i % CARDS]
        k = i // CARDS  # each card's k-th trip, 17 minutes apart
        at = now - dt.timedelta(minutes=30 + 17 * k, seconds=i % CARDS)
        out.append({"external_id": f"trip-{i:07d}", "external_ref": ref, "type": "transit_trip",
                    "occurred_at": at.isoformat(),
                    "data": {"mode": "metro",
                             "distance_km": f"{random.randint(10, 400) / 10:.1f}"}})
    return out


async def push(base: str, pid: str, secret: str, batches: list[list[dict]],
               transport: httpx.AsyncBaseTransport | None = None) -> tuple[dict[str, int], int]:
    """The answers' counts by status, and how many per-record answers came back."""
    counts: dict[str, int] = {}
    answered = 0
    queue: asyncio.Queue[list[dict]] = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)

    async def sender() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=120, transport=transport) as c:
            while not queue.empty():
                batch = queue.get_nowait()
                body = json.dumps({"records": batch}).encode()
                ts = str(int(time.time()))
                r = await c.post("/v1/partner/behaviours/", content=body, headers={
                    "X-Partner-Id": pid, "X-Timestamp": ts,
                    "X-Signature": sign_partner_request(secret, ts, body),
                    "Content-Type": "application/json"})
                r.raise_for_status()
                answer = r.json()
                nonlocal answered
                answered += len(answer["results"])
                for k, v in answer["counts"].items():
                    counts[k] = counts.get(k, 0) + v

    await asyncio.gather(*[sender() for _ in range(SENDERS)])
    return counts, answered


async def raw_insert(database_url: str, rows: list[dict]) -> float:
    conn = await connect(database_url)
    await conn.execute("CREATE TABLE bench_raw (partner_id text, external_id text, "
                       "ref text, type text, occurred_at timestamptz, data jsonb, "
                       "UNIQUE (partner_id, external_id))")
    args = [("p", r["external_id"], r["external_ref"], r["type"],
             dt.datetime.fromisoformat(r["occurred_at"]), json.dumps(r["data"])) for r in rows]
    began = time.perf_counter()
    for i in range(0, len(args), BATCH):
        await conn.executemany("INSERT INTO bench_raw VALUES ($1, $2, $3, $4, $5, $6)",
                               args[i:i + BATCH])
    elapsed = time.perf_counter() - began
    await conn.execute("DROP TABLE bench_raw")
    await conn.close()
    return len(rows) / elapsed


_FLOOR_TABLES = {
    "floor_records": "id uuid PRIMARY KEY, partner_id text, external_id text, ref_hash bytea, "
                     "type text, occurred_at timestamptz, data jsonb, status text, "
                     "citizen_id uuid, behaviour_id uuid, UNIQUE (partner_id, external_id)",
    "floor_behaviours": "id uuid PRIMARY KEY, citizen_id uuid, type text, "
                        "occurred_at timestamptz, status text, data jsonb, reduction_g numeric,"
                        " points int, partner_id text, external_id text, methodology_id uuid",
    "floor_entries": "id uuid PRIMARY KEY, citizen_id uuid, kind text, points int, "
                     "behaviour_id uuid, idempotency_key text, request_hash bytea, "
                     "UNIQUE (citizen_id, idempotency_key)",
    "floor_postings": "entry_id uuid, account text, account_citizen_id uuid, lot int, "
                      "amount bigint",
}


async def floor_insert(database_url: str, rows: list[dict]) -> float:
    """The floor: the rows a credited record needs, bare (see the module docstring)."""
    conn = await connect(database_url)
    for name, columns in _FLOOR_TABLES.items():
        await conn.execute(f"CREATE TABLE {name} ({columns})")
    citizens = [uuid.uuid4() for _ in range(CARDS)]
    batches = []
    for i in range(0, len(rows), BATCH):
        records, behaviours, entries, postings = [], [], [], []
        for k, r in enumerate(rows[i:i + BATCH], start=i):
            bid, eid, cid = uuid.uuid4(), uuid.uuid4(), citizens[k % CARDS]
            at, data = dt.datetime.fromisoformat(r["occurred_at"]), json.dumps(r["data"])
            records.append((uuid.uuid4(), "p", r["external_id"], secrets.token_bytes(32),
                            r["type"], at, data, "credited", cid, bid))
            behaviours.append((bid, cid, r["type"], at, "credited", data, 1250, 125, "p",
                               r["external_id"], cid))
            entries.append((eid, cid, "behaviour_credit", 125, bid, f"behaviour:{bid}",
                            secrets.token_bytes(32)))
            postings += [(eid, "citizen", cid, 2026, 125), (eid, "issuance", None, None, -125)]
        batches.append((records, behaviours, entries, postings))
    began = time.perf_counter()
    for batch in batches:
        async with conn.transaction():
            for (name, _), values in zip(_FLOOR_TABLES.items(), batch, strict=True):
                marks = ", ".join(f"${n + 1}" for n in range(len(values[0])))
                await conn.executemany(f"INSERT INTO {name} VALUES ({marks})",  # noqa: S608
                                       values)
    elapsed = time.perf_counter() - began
    for name in _FLOOR_TABLES:
        await conn.execute(f"DROP TABLE {name}")
    await conn.close()
    return len(rows) / elapsed


def main() -> None:
    with storage() as (database_url, redis_url), server(database_url, redis_url) as srv:
        pid, secret, cards = run(setup(srv.base_url, database_url))
        rows = records(cards)
        raw_rate = run(raw_insert(database_url, rows))
        floor_rate = run(floor_insert(database_url, rows))
        batches = [rows[i:i + BATCH] for i in range(0, len(rows), BATCH)]
        began = time.perf_counter()
        counts, answered = run(push(srv.base_url, pid, secret, batches))
        rate = len(rows) / (time.perf_counter() - began)
        replay_began = time.perf_counter()
        replayed = batches[:10]
        replay, _ = run(push(srv.base_url, pid, secret, replayed))
        replay_rate = sum(map(len, replayed)) / (time.perf_counter() - replay_began)
    print(f"partner ingestion, {len(rows):,} records in batches of {BATCH}, {SENDERS} senders")
    print(f"  baseline raw executemany         : {raw_rate:>10,.0f} records/s")
    print(f"  floor: a credited record's rows  : {floor_rate:>10,.0f} records/s "
          f"({floor_rate / raw_rate:.0%} of raw)")
    print(f"  POST /v1/partner/behaviours      : {rate:>10,.0f} records/s "
          f"({rate / raw_rate:.0%} of raw, {rate / floor_rate:.0%} of the floor) {counts}")
    print(f"  replayed batches (all duplicate) : {replay_rate:>10,.0f} records/s {replay}")
    report("partner ingestion", [
        Target("records/s ÷ the floor", rate, floor_rate, "records/s", at_least=0.50),
        Target("records credited ÷ sent", counts.get("credited", 0), len(rows), "records",
               at_least=1),
        Target("per-record answers ÷ records sent", answered, len(rows), "answers",
               at_least=1, at_most=1),
        Target("replayed records answered duplicate", replay.get("duplicate", 0),
               sum(map(len, replayed)), "records", at_least=1),
    ])


if __name__ == "__main__":
    main()
