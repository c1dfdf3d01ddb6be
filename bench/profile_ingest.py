"""Where a partner batch's server CPU goes: the app in this process, driven through ASGI.

Not a benchmark (``make bench`` runs ``bench_*.py``); the companion of ``profile_claims``
for the closing notes' profiles. The set-up and the records are ``bench_ingest``'s.

    .venv/bin/python bench/profile_ingest.py [--records 20000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets

import httpx

import bench_ingest
from _harness import ROOT, measured, storage


def main(records: int, profile: bool) -> None:
    bench_ingest.RECORDS = records
    with storage() as (database_url, redis_url):  # migrates, outside any event loop
        asyncio.run(drive(database_url, redis_url, profile))


async def drive(database_url: str, redis_url: str, profile: bool) -> None:
    from carbon_inclusion.app import create_app
    from carbon_inclusion.seeding import seed_all
    from carbon_inclusion.settings import Settings

    os.environ.update({
        "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "REDIS_PREFIX": f"prof:{secrets.token_hex(4)}:", "LOG_JSON": "true",
        "PARTNER_BATCHES_PER_MINUTE": "1000000", "LOGIN_FAILURES_PER_IP": "1000000",
        "JWT_KEYS_DIR": str(ROOT / ".data" / "bench-jwt")})
    settings = Settings.from_env()
    app = create_app(settings)
    async with app.lifespan():
        await seed_all(app.state.db, settings=settings)
        transport = httpx.ASGITransport(app=app)
        pid, secret, cards = await bench_ingest.setup("http://t", database_url, transport)
        rows = bench_ingest.records(cards)
        batches = [rows[i:i + bench_ingest.BATCH] for i in range(0, len(rows),
                                                                 bench_ingest.BATCH)]
        await bench_ingest.push("http://t", pid, secret, batches[:2], transport)  # warm up
        with measured("ingest", profile=profile) as spent:
            counts, _ = await bench_ingest.push("http://t", pid, secret, batches[2:], transport)
        n = sum(counts.values())
        print(json.dumps({"records": n, "counts": counts,
                          "cpu_us_per_record": round(spent.cpu_s / n * 1e6, 1),
                          "wall_records_per_s": round(n / spent.wall_s, 1)}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--profile", action="store_true")
    a = parser.parse_args()
    main(a.records, a.profile)
