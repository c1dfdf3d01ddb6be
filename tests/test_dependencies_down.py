"""A dependency that is down gets 503 with Retry-After, never a stack trace, and no data.

Each test builds an app whose PostgreSQL or Redis URL points at a port nothing listens on.
"""

from __future__ import annotations

import datetime as dt
import secrets

import httpx
import pytest

from carbon_inclusion.app import create_app
from tests.conftest import PASSWORD

pytestmark = pytest.mark.faults

DEAD_PG = "postgresql+asyncpg://postgres@127.0.0.1:9/nothing"
DEAD_REDIS = "redis://127.0.0.1:9/0"


async def _client(app) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _is_503_problem(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert int(r.headers["retry-after"]) >= 1
    assert "Traceback" not in r.text


async def test_postgres_down_is_503_everywhere_it_is_needed(settings, citizen):
    app = create_app(settings.with_overrides(database_url=DEAD_PG))
    async with await _client(app) as c:
        _is_503_problem(await c.get("/v1/methodologies"))
        _is_503_problem(await c.get("/v1/rewards/"))
        _is_503_problem(await c.post("/v1/auth/token",
                                     json={"phone": citizen.phone, "password": PASSWORD}))
        ready = await c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["postgres"] != "ok"
        assert (await c.get("/healthz")).status_code == 200  # the process itself is alive
    await app.state.db.dispose()
    await app.state.redis.close()


async def test_redis_down_degrades_throttles_but_keeps_recording(settings, client, citizen):
    app = create_app(settings.with_overrides(redis_url=DEAD_REDIS))
    async with await _client(app) as c:
        token = await c.post("/v1/auth/token",
                             json={"phone": citizen.phone, "password": PASSWORD})
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}",
                   "Idempotency-Key": "redis-down-" + secrets.token_hex(6)}
        at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
        r = await c.post("/v1/behaviours/", headers=headers, json={
            "type": "transit_trip", "occurred_at": at.isoformat(), "data": {"mode": "bus"}})
        assert r.status_code == 201, r.text
        _is_503_problem(await c.get("/v1/leaderboards/"))  # boards live in Redis
        _is_503_problem(await c.get("/v1/me/events", headers=headers))
        ready = await c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"] != "ok"
    await app.state.notifier.close()
    await app.state.db.dispose()
    await app.state.redis.close()
    # The behaviour is really stored: the normal app sees it.
    listed = await client.get("/v1/behaviours/", headers=citizen.headers)
    assert [b["id"] for b in listed.json()["items"]] == [r.json()["id"]]
