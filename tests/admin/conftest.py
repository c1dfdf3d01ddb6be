"""Administration tests run on a database of the module's own, so a list or a statistic can
be compared exactly with what the test made (the session's database holds every other
test's rows too).

``app`` and ``client`` are overridden here for the modules of this folder; the fixtures of
tests/conftest.py that use them (``admin``, ``make_citizen``, ``organisation``…) then make
their users in this module's database. The app's clock runs with real time and can jump
ahead (``clock.ahead``), so a quote can expire without waiting for it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import secrets
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import text
from tests.conftest import ROOT, Storage
from tests.live import fresh_database

from carbon_inclusion.app import create_app
from carbon_inclusion.db.migrate import upgrade
from carbon_inclusion.ledger.service import check_invariants
from carbon_inclusion.seeding import seed_all


class AheadClock:
    """Real time, plus however far a test has moved it on."""

    def __init__(self) -> None:
        self.ahead = dt.timedelta()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.ahead


@pytest.fixture(scope="module")
def clock() -> AheadClock:
    return AheadClock()


@pytest.fixture(scope="module")
def own_database(storage: Storage) -> Iterator[str]:
    with fresh_database(storage.database_url) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="module")
async def app(settings, own_database, clock) -> AsyncIterator:
    application = create_app(settings.with_overrides(
        database_url=own_database, redis_prefix=f"test:{secrets.token_hex(4)}:"), clock=clock)
    await seed_all(application.state.db, ROOT / "seed")
    async with application.state.db.connect() as conn:  # no bonus points: sums stay exact
        await conn.execute(text("UPDATE badges SET status = 'retired'"))
    application.state.badges.forget()
    yield application
    async with application.state.db.connect() as conn:
        assert await check_invariants(conn) == []
    assert (await application.state.registry.verify()).problems == []
    await application.state.notifier.close()
    await application.state.db.dispose()
    redis = application.state.redis
    async for key in redis.client.scan_iter(match=redis.prefix + "*", count=1000):
        await redis.client.delete(key)
    await redis.close()


@pytest.fixture(scope="module")
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def parse_csv(response: httpx.Response) -> list[dict[str, str]]:
    """A CSV answer as the csv module reads it: header row, then one dict per row."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv"), response.headers
    assert response.content.startswith("\ufeff".encode())  # the byte-order mark
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


async def every_page(client: httpx.AsyncClient, path: str, headers: dict, **params
                     ) -> list[dict]:
    """Every item of a paged list, one page (``limit``) at a time, checking each page's
    size on the way."""
    items, cursor, limit = [], None, params.pop("limit", 2)
    for _ in range(1000):
        r = await client.get(path, headers=headers,
                             params={**params, "limit": limit, **({"cursor": cursor}
                                                                  if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= limit
        if body["next_cursor"] is not None:
            assert len(body["items"]) == limit
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the list does not end")
