"""App claims under load: requests/s and p50/p99 at 100 concurrent clients.

The baseline is the same load generator against ``GET /healthz`` (no storage) in the same
run, paced and flat out, so the ratios show what recording a behaviour costs over the bare
HTTP stack. Targets (issue #19): claims flat out ≥ 10 % of healthz flat out, and p99 at
300/s ≤ 25× healthz p99 at 300/s; every paced claim answered 201. Printed beside them, not
judged: the absolute aims (≥ 1,000 claims/s, p99 < 50 ms at 300/s; #4's p99 < 100 ms).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets

import httpx

from _harness import Target, report, run, server, storage
from loadgen import request
from loadgen import run as load

CLIENTS = 100
RATE = float(os.environ.get("BENCH_RATE", "300"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
PASSWORD = "Low-carbon-2026"
WARM_UP = 1000
HEALTH_FLAT = 30_000  # a few seconds of healthz flat out


async def analyze(database_url: str) -> None:
    """What autovacuum would have done by now on a live system."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.exec_driver_sql("ANALYZE")
    await engine.dispose()


async def citizens(base: str, n: int, database_url: str) -> list[str]:
    """``n`` citizens registered through the API, each phone verified with the code the
    development SMS outbox holds, each signed in."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from carbon_inclusion.accounts.repository import outbox_codes

    engine = create_async_engine(database_url)
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        sem = asyncio.Semaphore(8)

        async def one(i: int) -> str:
            phone = "137" + str(secrets.randbelow(10**8)).zfill(8)
            async with sem:
                r = await c.post("/v1/auth/register", json={
                    "phone": phone, "password": PASSWORD, "nickname": f"bench{i}",
                    "district": "yuzhong", "privacy_notice_version": 1})
                r.raise_for_status()
                async with engine.connect() as conn:
                    code = (await outbox_codes(conn, "+86" + phone))[0]
                r = await c.post("/v1/auth/verify-phone", json={"phone": phone, "code": code})
                r.raise_for_status()
                r = await c.post("/v1/auth/token", json={"phone": phone, "password": PASSWORD})
                r.raise_for_status()
                return r.json()["access_token"]

        try:
            return list(await asyncio.gather(*[one(i) for i in range(n)]))
        finally:
            await engine.dispose()


def claims(host: str, tokens: list[str], count: int, offset: int) -> list[bytes]:
    now = dt.datetime.now(dt.UTC)
    out = []
    for i in range(count):
        k = offset + i
        token = tokens[k % len(tokens)]
        at = now - dt.timedelta(minutes=17 * (k // len(tokens)) + 5, seconds=k % len(tokens))
        body = json.dumps({"type": "transit_trip", "occurred_at": at.isoformat(),
                           "data": {"mode": "metro", "distance_km": "12.5"}}).encode()
        out.append(request("POST", "/v1/behaviours/", host, body, {
            "Authorization": f"Bearer {token}", "Idempotency-Key": secrets.token_hex(12)}))
    return out


def main() -> None:
    with storage() as (database_url, redis_url), server(database_url, redis_url) as srv:
        host, port = "127.0.0.1", int(srv.base_url.rsplit(":", 1)[1])
        tokens = run(citizens(srv.base_url, CLIENTS, database_url))
        n = int(RATE * SECONDS)
        health = [request("GET", "/healthz", host) for _ in range(n)]
        run(load(host, port, health[:500], rate=None, connections=CLIENTS))  # warm-up
        base = run(load(host, port, health, rate=RATE, connections=CLIENTS))
        base_flat = run(load(host, port, health[:1] * HEALTH_FLAT, rate=None, connections=CLIENTS))
        # Warm-up: connection pools, prepared statements, caches, and table statistics.
        run(load(host, port, claims(host, tokens, WARM_UP, 0), rate=None, connections=CLIENTS))
        run(analyze(database_url))
        paced = run(load(host, port, claims(host, tokens, n, WARM_UP), rate=RATE,
                         connections=CLIENTS))
        flat = run(load(host, port, claims(host, tokens, 3000, WARM_UP + n), rate=None,
                        connections=CLIENTS))
        workers = srv.env.get("WEB_WORKERS", "2")
    print(f"app claims, {CLIENTS} concurrent clients, {workers} granian workers")
    print(f"  baseline GET /healthz at {RATE:.0f}/s : {base.summary()}")
    print(f"  baseline GET /healthz flat out : {base_flat.summary()}")
    print(f"  POST /v1/behaviours at {RATE:.0f}/s  : {paced.summary()}")
    print(f"  POST /v1/behaviours flat out   : {flat.summary()}")
    print(f"  absolute aims (not judged): {flat.rps:,.0f} claims/s flat out (aim ≥ 1,000); "
          f"p99 {paced.pct(99):.1f} ms at {RATE:.0f}/s (aim < 50 ms; #4: < 100 ms)")
    report("claims", [
        Target("claims/s flat out ÷ healthz flat out", flat.rps, base_flat.rps, "req/s",
               at_least=0.10),
        Target(f"claims p99 ÷ healthz p99, at {RATE:.0f}/s", paced.pct(99), base.pct(99), "ms",
               at_most=25),
        Target(f"paced rate kept (of {RATE:.0f}/s asked)", paced.rps, RATE, "req/s",
               at_least=0.95),
        Target("claims answered 201 (paced and flat)",
               paced.statuses.get(201, 0) + flat.statuses.get(201, 0),
               sum(paced.statuses.values()) + sum(flat.statuses.values()), "answers",
               at_least=1),
    ])


if __name__ == "__main__":
    main()
