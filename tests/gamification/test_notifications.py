"""Live notifications over SSE, fanned out through Redis between API processes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.behaviours.conftest import claim, days_ago
from tests.live import live_server


@pytest.fixture(scope="module")
def second_process(app, settings) -> Iterator[str]:
    """Another API process on the same PostgreSQL, Redis and signing keys."""
    with live_server(settings.database_url, settings.redis_url,
                     REDIS_PREFIX=settings.redis_prefix,
                     JWT_KEYS_DIR=str(settings.jwt_keys_dir)) as live:
        yield live.base_url


@contextlib.asynccontextmanager
async def listening(base: str, user) -> AsyncIterator[asyncio.Queue]:
    """Events of ``user``'s stream on ``base``, once the stream is subscribed."""
    events: asyncio.Queue = asyncio.Queue()
    connected = asyncio.Event()

    async def read() -> None:
        timeout = httpx.Timeout(5, read=60)
        async with httpx.AsyncClient(base_url=base, timeout=timeout) as c, c.stream(
                "GET", "/v1/me/events", headers=user.headers) as r:
            assert r.status_code == 200, await r.aread()
            assert r.headers["content-type"].startswith("text/event-stream")
            kind = None
            async for line in r.aiter_lines():
                if line.startswith(": connected"):
                    connected.set()
                elif line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and line[5:].strip():
                    events.put_nowait((kind, json.loads(line[5:])))
                    kind = None

    task = asyncio.create_task(read())
    try:
        await asyncio.wait_for(connected.wait(), timeout=10)
        yield events
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def next_event(events: asyncio.Queue, kind: str) -> dict:
    async with asyncio.timeout(10):
        while True:
            got_kind, event = await events.get()
            if got_kind == kind:
                return event


async def test_an_event_produced_by_one_process_reaches_a_client_on_another(
        client, admin, make_citizen, second_process, seed_badges):
    await seed_badges()
    me, other = await make_citizen(), await make_citizen()
    today = days_ago(0).date()
    goal = await client.post("/v1/admin/challenges/", headers=admin.headers, json={
        "title_zh": "今天乘一次地铁", "title_en": "One metro trip", "target": "1",
        "starts_on": (today - dt.timedelta(days=2)).isoformat(), "ends_on": today.isoformat(),
        "bonus_points": 3})
    assert goal.status_code == 201, goal.text
    joined = await client.post(f"/v1/challenges/{goal.json()['id']}/join", headers=me.headers)
    assert joined.status_code == 201
    async with listening(second_process, me) as mine, listening(second_process, other) as theirs:
        # Recorded through this process; the stream is held by the other one.
        r = await claim(client, me, "transit_trip", days_ago(1),
                        {"mode": "metro", "distance_km": "9.5"})
        assert r.status_code == 201 and r.json()["status"] == "credited", r.text
        credited = await next_event(mine, "points_credited")
        assert credited["data"]["behaviour_id"] == r.json()["id"]
        assert credited["data"]["points"] == r.json()["points"]
        badge = await next_event(mine, "badge_earned")
        assert (badge["data"]["code"], badge["data"]["level"]) == ("first_green_trip", 1)
        done = await next_event(mine, "challenge_completed")
        assert done["data"] == {"challenge_id": goal.json()["id"], "title_zh": "今天乘一次地铁",
                                "title_en": "One metro trip", "bonus_points": 3}
        await asyncio.sleep(0.5)
        assert theirs.empty()  # a citizen only receives their own


async def test_nothing_is_sent_for_work_that_did_not_commit(client, citizen, second_process):
    async with listening(second_process, citizen) as mine:
        bad = await claim(client, citizen, "transit_trip", days_ago(1),
                          {"mode": "metro", "distance_km": "999"})
        assert bad.status_code == 422
        await asyncio.sleep(0.5)
        assert mine.empty()


async def test_the_event_stream_is_for_signed_in_citizens(client, admin):
    assert (await client.get("/v1/me/events")).status_code == 401
    assert (await client.get("/v1/me/events", headers=admin.headers)).status_code == 403
