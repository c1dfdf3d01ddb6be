"""Where a claim's server CPU goes: the app in this process, driven through ASGI directly.

Not a benchmark (``make bench`` runs ``bench_*.py``); a tool for the profiles the closing
notes show. It prints the process CPU time per claim (server work only: no HTTP parsing, no
client) and, with ``--profile``, a pyinstrument profile of the claims.

    .venv/bin/python bench/profile_claims.py [--claims 3000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import secrets

import httpx

from _harness import ROOT, measured, storage

PASSWORD = "Low-carbon-2026"


def main(claims: int, citizens: int, profile: bool) -> None:
    with storage() as (database_url, redis_url):  # migrates, outside any event loop
        asyncio.run(drive(database_url, redis_url, claims, citizens, profile))


async def drive(database_url: str, redis_url: str, claims: int, citizens: int,
                profile: bool) -> None:
    from carbon_inclusion.app import create_app
    from carbon_inclusion.seeding import seed_all
    from carbon_inclusion.settings import Settings

    os.environ.update({
        "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "REDIS_PREFIX": f"prof:{secrets.token_hex(4)}:", "LOG_JSON": "true",
        "CLAIMS_PER_MINUTE": "1000000", "REGISTRATIONS_PER_IP": "1000000",
        "LOGIN_FAILURES_PER_IP": "1000000",
        "JWT_KEYS_DIR": str(ROOT / ".data" / "bench-jwt")})
    settings = Settings.from_env()
    app = create_app(settings)
    async with app.lifespan():
        state = app.state
        await seed_all(state.db, settings=settings)
        tokens = []
        for i in range(citizens):
            phone = "137" + str(secrets.randbelow(10**8)).zfill(8)
            user = await state.accounts.create_user(
                role="citizen", phone=phone, password=PASSWORD, nickname=f"p{i}",
                district_code="yuzhong")
            await state.accounts.consent(user.id, 1)
            tokens.append(state.accounts.tokens.issue(user.id, "citizen"))
        transport = httpx.ASGITransport(app=app)
        now = dt.datetime.now(dt.UTC)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            def body(k: int) -> dict:
                at = now - dt.timedelta(minutes=17 * (k // citizens) + 5,
                                        seconds=k % citizens)
                return {"type": "transit_trip", "occurred_at": at.isoformat(),
                        "data": {"mode": "metro", "distance_km": "12.5"}}

            async def one(k: int) -> None:
                r = await c.post("/v1/behaviours/", json=body(k), headers={
                    "Authorization": f"Bearer {tokens[k % citizens]}",
                    "Idempotency-Key": f"k-{k}-{secrets.token_hex(4)}"})
                assert r.status_code == 201, r.text

            for k in range(200):  # warm up
                await one(k)
            sem = asyncio.Semaphore(16)

            async def bounded(k: int) -> None:
                async with sem:
                    await one(k)

            with measured("claims", profile=profile) as spent:
                await asyncio.gather(*[bounded(200 + k) for k in range(claims)])
        print(json.dumps({"claims": claims,
                          "cpu_ms_per_claim": round(spent.cpu_s / claims * 1e3, 3),
                          "wall_claims_per_s": round(claims / spent.wall_s, 1)}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--claims", type=int, default=3000)
    parser.add_argument("--citizens", type=int, default=300)
    parser.add_argument("--profile", action="store_true")
    a = parser.parse_args()
    main(a.claims, a.citizens, a.profile)
