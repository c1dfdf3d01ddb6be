"""Load soak: a mixed workload for a bounded time, then every invariant checked.

On a database of its own filled with the demo programme (its citizens, a month of records,
issued batches), ``SOAK_CLIENTS`` clients (default 32) for ``SOAK_SECONDS`` (default 60)
send requests at ``SOAK_RATE`` a second (default 100, open loop: latency is measured from
each request's scheduled time, so falling behind shows; 0 = as fast as answered). 100/s of
this mix is ≈ 40 claims and 10 batches of 50 partner records: ≈ 540 behaviours/s, a quarter
of a 30-M city's 2 k/s design peak, this 2-core machine's share of the 8 API cores that
peak needs (docs/scaling.md). The clients pick at random: app claims, signed partner
batches of 50 records, redemptions of a hot reward that sells out during the run,
leaderboard reads, and enterprise events neutralised from the credits the enterprise bought
before the run. It prints requests, answers by
status and kind, p50/p99 per kind, and then the invariants: Σ postings = 0, wallets = Σ
their postings, no negative wallet, no reward stock below 0 or short of its vouchers, and
the registry's checks (no serial in two blocks, issued = available + held + retired +
cancelled, …). Exit 1 when any invariant fails or any answer was a 5xx.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import os
import random
import secrets
import subprocess
import sys
import time
import uuid

import httpx

from _harness import BIN, ROOT, server, storage
from carbon_inclusion.security.secrets import sign_partner_request

SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "32"))
RATE = float(os.environ.get("SOAK_RATE", "100"))
PASSWORD = "Demo-carbon-2026"
MIX = (("claim", 40), ("partner_batch", 10), ("redeem", 25), ("leaderboard", 20),
       ("neutralize", 5))


class Soak:
    def __init__(self, http: httpx.AsyncClient, env: dict[str, str]) -> None:
        self.http = http
        self.env = env
        self.rng = random.Random(2026)
        self.latency: dict[str, list[float]] = collections.defaultdict(list)
        self.statuses: dict[str, collections.Counter] = collections.defaultdict(
            collections.Counter)
        self.codes: dict[str, collections.Counter] = collections.defaultdict(
            collections.Counter)
        self.start, self.slots = time.perf_counter(), 0

    async def sign_in(self, phone: str) -> dict[str, str]:
        r = await self.http.post("/v1/auth/token", json={"phone": phone, "password": PASSWORD})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def setup(self) -> None:
        # Once, before the load starts.
        done = subprocess.run([str(BIN / "carbon-inclusion"), "seed", "--demo"],  # noqa: S603, ASYNC221
                              env=self.env, cwd=ROOT, capture_output=True, text=True,
                              check=True, timeout=600)
        demo = json.loads(done.stdout[done.stdout.index("{\n"):])  # after the seed counts
        print(f"demo programme: {demo['citizens']} citizens, {demo['partner_records']} "
              f"partner records, batch {demo['batch_t']} t")
        self.admin = await self.sign_in(demo["sign_in"]["admin"])
        self.enterprise = await self.sign_in(demo["sign_in"]["enterprise"])
        self.citizens = [await self.sign_in(f"137{i:08d}") for i in range(demo["citizens"])]
        secret = await self.http.post("/v1/admin/partners/cq-metro/rotate-secret",
                                      headers=self.admin)
        secret.raise_for_status()
        self.secret = secret.json()["secret"]
        reward = await self.http.post("/v1/admin/rewards/", headers=self.admin, json={
            "name_zh": "限量地铁纪念卡", "name_en": "Limited metro card", "kind": "coupon",
            "cost_points": 5, "stock": 300, "per_citizen_limit": 50, "limit_period": "week"})
        reward.raise_for_status()
        self.reward = reward.json()["id"]
        held = (await self.http.get("/v1/holdings", headers=self.enterprise)).json()
        available = demo["batch_t"] - held["held_t"] - held["retired_t"]
        n = 0
        while available > 0:  # everything left of the batch, for the run's neutralisations
            n += 1  # in quotes of what one buyer may reserve, each paid before the next
            want = available
            order = await self.http.post("/v1/orders", json={"quantity_t": want}, headers={
                **self.enterprise, "Idempotency-Key": f"soak-order-{n}"})
            if order.status_code == 409 and order.json()["code"] == \
                    "reservation_share_exceeded":
                want = order.json()["limit_t"] - order.json()["reserved_t"]
                order = await self.http.post("/v1/orders", json={"quantity_t": want},
                                             headers={**self.enterprise,
                                                      "Idempotency-Key": f"soak-order-{n}"})
            order.raise_for_status()
            (await self.http.post(f"/v1/admin/orders/{order.json()['id']}/confirm-payment",
                                  headers=self.admin, json={"reference": f"soak {n}"})
             ).raise_for_status()
            available -= want
        self.held_t = (await self.http.get("/v1/holdings", headers=self.enterprise)
                       ).json()["held_t"]
        print(f"enterprise holds {self.held_t} t for the run")

    def when(self) -> str:
        at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=self.rng.randint(5, 60 * 24 * 5))
        return at.isoformat()

    async def claim(self) -> httpx.Response:
        return await self.http.post("/v1/behaviours/", headers={
            **self.rng.choice(self.citizens), "Idempotency-Key": "soak-" + secrets.token_hex(8)},
            json={"type": "transit_trip", "occurred_at": self.when(),
                  "data": {"mode": self.rng.choice(["bus", "metro"]),
                           "distance_km": f"{self.rng.randint(1, 25)}.{self.rng.randint(0, 9)}"}})

    async def partner_batch(self) -> httpx.Response:
        records = [{"external_id": "soak-" + secrets.token_hex(8),
                    "external_ref": f"CQ-METRO-{self.rng.randrange(len(self.citizens)):06d}",
                    "type": "transit_trip", "occurred_at": self.when(),
                    "data": {"mode": "metro", "distance_km": f"{self.rng.randint(2, 30)}.0"}}
                   for _ in range(50)]
        body = json.dumps({"records": records}).encode()
        ts = str(int(time.time()))
        return await self.http.post("/v1/partner/behaviours/", content=body, headers={
            "X-Partner-Id": "cq-metro", "X-Timestamp": ts, "Content-Type": "application/json",
            "X-Signature": sign_partner_request(self.secret, ts, body)})

    async def redeem(self) -> httpx.Response:
        return await self.http.post("/v1/redemptions/", headers={
            **self.rng.choice(self.citizens), "Idempotency-Key": "soak-" + secrets.token_hex(8)},
            json={"reward_id": self.reward, "quantity": 1})

    async def leaderboard(self) -> httpx.Response:
        return await self.http.get("/v1/leaderboards/", params={
            "period": self.rng.choice(["week", "month", "all"])},
            headers=self.rng.choice(self.citizens))

    async def neutralize(self) -> httpx.Response:
        event = await self.http.post("/v1/events/", headers=self.enterprise, json={
            "name": f"低碳沙龙 {secrets.token_hex(2)}", "starts_on": "2026-11-20",
            "ends_on": "2026-11-20", "venue": "重庆", "attendees": 20,
            "travel": [{"mode": "metro", "distance_km": "10", "people": 20}], "meals": 20})
        if event.status_code != 201:
            return event
        return await self.http.post(f"/v1/events/{event.json()['id']}/neutralize",
                                    headers=self.enterprise)

    async def client(self, until: float) -> None:
        kinds = [k for k, w in MIX for _ in range(w)]
        while time.monotonic() < until:
            kind = self.rng.choice(kinds)
            started = time.perf_counter()
            if RATE > 0:  # the next slot of the schedule; its latency counts from the slot
                slot, self.slots = self.start + self.slots / RATE, self.slots + 1
                delay = slot - time.perf_counter()
                if time.monotonic() + delay >= until:
                    break
                if delay > 0:
                    await asyncio.sleep(delay)
                started = slot
            try:
                r = await getattr(self, kind)()
                status = r.status_code
                if status >= 400:
                    self.codes[kind][r.json().get("code", "?")] += 1
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            self.latency[kind].append(time.perf_counter() - started)
            self.statuses[kind][status] += 1

    def report(self) -> bool:
        total = sum(len(v) for v in self.latency.values())
        asked = f"asked {RATE:,.0f}/s" if RATE > 0 else "closed loop"
        print(f"\n{total:,} requests in {SECONDS:.0f} s = {total / SECONDS:,.0f} req/s "
              f"({asked}), {CLIENTS} clients; latency per route:")
        server_errors = 0
        for kind, _ in MIX:
            lat = sorted(self.latency[kind])
            if not lat:
                continue
            p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            statuses = dict(sorted(self.statuses[kind].items(), key=str))
            server_errors += sum(n for s, n in statuses.items()
                                 if not isinstance(s, int) or s >= 500)
            codes = dict(self.codes[kind].most_common())
            print(f"  {kind:<14} {len(lat):>6} p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} "
                  f"ms  {statuses} {codes if codes else ''}")
        print(f"  server errors / transport errors: {server_errors}")
        return server_errors == 0


async def invariants(database_url: str, reward_id: str) -> list[str]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from carbon_inclusion.ledger.service import check_invariants

    engine = create_async_engine(database_url)
    problems = []
    async with engine.connect() as conn:
        problems += await check_invariants(conn)
        bad_stock = (await conn.execute(text(
            "SELECT reward_id, shard, stock, issued FROM reward_stock "
            "WHERE issued < 0 OR (stock IS NOT NULL AND issued > stock)"))).all()
        problems += [f"stock shard {r} below 0" for r in bad_stock]
        hot = (await conn.execute(text(
            "SELECT (SELECT sum(issued) FROM reward_stock WHERE reward_id = :r) AS issued, "
            "(SELECT count(*) FROM vouchers WHERE reward_id = :r AND status <> 'pooled') "
            "AS vouchers, (SELECT stock FROM rewards WHERE id = :r) AS stock"),
            {"r": uuid.UUID(reward_id)})).one()
        if not (hot.issued == hot.vouchers <= hot.stock):
            problems.append(f"hot reward: {hot.issued} issued, {hot.vouchers} vouchers, "
                            f"stock {hot.stock}")
        print(f"  hot reward: stock {hot.stock}, issued {hot.issued}, vouchers {hot.vouchers}")
    await engine.dispose()
    return problems


def main() -> None:
    with storage() as (database_url, redis_url), server(database_url, redis_url) as srv:
        async def go() -> tuple[Soak, bool]:
            async with httpx.AsyncClient(base_url=srv.base_url, timeout=60,
                                         limits=httpx.Limits(max_connections=CLIENTS)) as http:
                soak = Soak(http, srv.env)
                await soak.setup()
                until = time.monotonic() + SECONDS
                soak.start = time.perf_counter()
                await asyncio.gather(*(soak.client(until) for _ in range(CLIENTS)))
                return soak, soak.report()

        soak, clean = asyncio.run(go())
        print("\ninvariants:")
        problems = asyncio.run(invariants(database_url, soak.reward))
        verify = subprocess.run([str(BIN / "carbon-inclusion"), "registry", "verify"],  # noqa: S603
                                env=srv.env, cwd=ROOT, capture_output=True, text=True)
        print("  ledger: Σ postings = 0, wallets = Σ postings, none negative: "
              + ("PASS" if not [p for p in problems if "stock" not in p] else "FAIL"))
        print("  stock never below 0, every unit a voucher: "
              + ("PASS" if not [p for p in problems if "stock" in p] else "FAIL"))
        print("  registry verify: " + ("PASS" if verify.returncode == 0 else "FAIL"))
        for line in problems + ([verify.stdout] if verify.returncode else []):
            print("   ", line)
        ok = clean and not problems and verify.returncode == 0
        print(f"soak: {'PASS' if ok else 'FAIL'}")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
