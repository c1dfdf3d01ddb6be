"""Redemptions of one hot reward: successful redemptions/s and p99, 200 concurrent clients.

Measured open loop at 300 requests/s (latency from the scheduled time, so falling behind
shows), then flat out for the capacity. The baseline is the same load generator against
``GET /healthz`` (no storage), paced and flat out, in the same run. Targets (issue #19):
redemptions flat out ≥ 8 % of healthz flat out, p99 at 300/s ≤ 25× healthz p99; and, as
since issue #5, zero oversell. A last phase is the release rush: 1,000 requests at once
against a stock of 50, checked in the database afterwards (exactly 50 vouchers, no negative
wallet).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import uuid

import httpx

from _harness import BIN, ROOT, Target, report, run, server, storage
from bench_claims import analyze, citizens
from loadgen import request
from loadgen import run as load

CLIENTS = 200
RATE = float(os.environ.get("BENCH_RATE", "300"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
FLAT = 4000
PASSWORD = "Low-carbon-2026"
WARM_UP = 1000
HEALTH_FLAT = 30_000  # a few seconds of healthz flat out


def admin_token(srv) -> str:
    phone = "136" + str(secrets.randbelow(10**8)).zfill(8)
    subprocess.run(  # noqa: S603
        [str(BIN / "carbon-inclusion"), "admin", "create", "--phone", phone,
         "--password", PASSWORD], env=srv.env, cwd=ROOT, check=True, capture_output=True)
    r = httpx.post(srv.base_url + "/v1/auth/token", json={"phone": phone, "password": PASSWORD})
    r.raise_for_status()
    return r.json()["access_token"]


def make_reward(srv, token: str, **fields) -> str:
    body = {"name_zh": "轨道交通乘车券", "name_en": "Metro ride coupon", "kind": "coupon",
            "cost_points": 10} | fields
    r = httpx.post(srv.base_url + "/v1/admin/rewards/", json=body,
                   headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    return r.json()["id"]


async def grant_all(database_url: str, points: int) -> None:
    """Give every citizen ``points`` through the ledger, as earned behaviours would."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from carbon_inclusion.ledger import service as ledger

    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        ids = (await conn.execute(text("SELECT id FROM users WHERE role = 'citizen'"))).scalars()
        await ledger.post(conn, [ledger.Entry(
            citizen_id=i, kind="behaviour_credit", points=points, counter="issuance",
            idempotency_key=f"bench:{uuid.uuid4()}", request_hash=b"\0" * 32,
            lots=((2026, points),)) for i in ids])
    await engine.dispose()


async def audit(database_url: str, reward_id: str) -> tuple[int, int, int, int]:
    """(stock, issued, vouchers handed out, negative wallets) for the reward."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT stock, (SELECT sum(issued) FROM reward_stock WHERE reward_id = r.id) "
            "AS issued, (SELECT count(*) FROM vouchers WHERE reward_id = r.id "
            "AND status <> 'pooled'), (SELECT count(*) FROM wallets WHERE balance < 0) "
            "FROM rewards r WHERE id = :r"), {"r": reward_id})).one()
    await engine.dispose()
    return tuple(row)


def redemptions(host: str, tokens: list[str], reward_id: str, count: int) -> list[bytes]:
    body = json.dumps({"reward_id": reward_id, "quantity": 1}).encode()
    return [request("POST", "/v1/redemptions/", host, body, {
        "Authorization": f"Bearer {tokens[i % len(tokens)]}",
        "Idempotency-Key": secrets.token_hex(12)}) for i in range(count)]


def main() -> None:
    with storage() as (database_url, redis_url), server(database_url, redis_url) as srv:
        host, port = "127.0.0.1", int(srv.base_url.rsplit(":", 1)[1])
        tokens = run(citizens(srv.base_url, CLIENTS, database_url))
        admin = admin_token(srv)
        n = int(RATE * SECONDS)
        run(grant_all(database_url, 10 * (WARM_UP + n + FLAT + 1000)))
        hot = make_reward(srv, admin, stock=10_000_000)
        health = [request("GET", "/healthz", host) for _ in range(n)]
        run(load(host, port, health[:500], rate=None, connections=CLIENTS))
        base = run(load(host, port, health, rate=RATE, connections=CLIENTS))
        base_flat = run(load(host, port, health[:1] * HEALTH_FLAT, rate=None, connections=CLIENTS))
        run(load(host, port, redemptions(host, tokens, hot, WARM_UP), rate=None,
                 connections=CLIENTS))
        run(analyze(database_url))
        paced = run(load(host, port, redemptions(host, tokens, hot, n), rate=RATE,
                         connections=CLIENTS))
        flat = run(load(host, port, redemptions(host, tokens, hot, FLAT), rate=None,
                        connections=CLIENTS))
        stock, issued, handed, _ = run(audit(database_url, hot))
        rush_id = make_reward(srv, admin, stock=50)
        rush = run(load(host, port, redemptions(host, tokens, rush_id, 1000), rate=None,
                        connections=CLIENTS))
        r_stock, r_issued, r_handed, negative = run(audit(database_url, rush_id))
        workers = srv.env.get("WEB_WORKERS", "2")
    rate = paced.statuses.get(201, 0) / paced.elapsed_s
    capacity = flat.statuses.get(201, 0) / flat.elapsed_s
    print(f"redemptions of one hot reward, {CLIENTS} concurrent clients, {workers} workers")
    print(f"  baseline GET /healthz at {RATE:.0f}/s   : {base.summary()}")
    print(f"  baseline GET /healthz flat out : {base_flat.summary()}")
    print(f"  POST /v1/redemptions at {RATE:.0f}/s    : {paced.summary()}")
    print(f"  POST /v1/redemptions flat out  : {flat.summary()}")
    print(f"  successful redemptions/s at {RATE:.0f}/s: {rate:,.0f}, p99 "
          f"{paced.pct(99):.1f} ms ({paced.pct(99) / base.pct(99):.1f}× healthz p99); "
          f"flat out {capacity:,.0f}/s")
    print(f"  hot reward: {issued} issued, {handed} vouchers "
          f"({WARM_UP + n + FLAT} requests, stock {stock:,})")
    print(f"  release rush, 1,000 at once on stock {r_stock}: statuses {rush.statuses}; "
          f"issued {r_issued}, vouchers {r_handed}, negative wallets {negative}")
    oversold = r_issued > r_stock or r_handed != r_issued or handed != issued
    report("redemptions", [
        Target("redemptions/s flat out ÷ healthz flat out", capacity, base_flat.rps, "req/s",
               at_least=0.08),
        Target(f"redemptions p99 ÷ healthz p99, at {RATE:.0f}/s", paced.pct(99), base.pct(99),
               "ms", at_most=25),
        Target(f"successful redemptions/s (of {RATE:.0f}/s asked)", rate, RATE, "req/s",
               at_least=0.95),
        Target("redemptions answered 201 (paced and flat)",
               paced.statuses.get(201, 0) + flat.statuses.get(201, 0),
               sum(paced.statuses.values()) + sum(flat.statuses.values()), "answers",
               at_least=1),
        Target("rush: vouchers ÷ stock (exactly)", r_handed, r_stock, "vouchers",
               at_least=1, at_most=1),
        Target("oversold or negative (none)", float(oversold or bool(negative)), 1, "",
               at_most=0),
    ])


if __name__ == "__main__":
    main()
