"""The HTTP edge cannot be crashed or fooled (issue #16, items 5, 6 and 8), from outside."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Iterator

import httpx
import pytest

from carbon_inclusion.security.secrets import sign_partner_request
from tests.behaviours.conftest import claim, days_ago, key, partner  # noqa: F401 - fixture
from tests.conftest import PASSWORD, new_phone
from tests.gamification.test_badges import BADGE
from tests.live import live_server
from tests.rewards.conftest import reward_body

DEEP = b"[" * 1000 + b"]" * 1000  # 2 KB, 1,000 levels


def problem(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()


def fields(r: httpx.Response) -> list[str]:
    return [e["field"] for e in r.json().get("errors", [])]


# --- item 5: decoding that cannot be crashed ----------------------------------------------

@pytest.mark.parametrize("path", ["/v1/auth/token", "/v1/auth/register", "/v1/auth/refresh"])
async def test_json_nested_a_thousand_deep_is_refused_naming_the_body(client, path):
    for body in (DEEP, b'{"phone":' * 1000 + b"1" + b"}" * 1000):
        r = await client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert problem(r, 422)["errors"][0]["field"] == "body"


async def test_deep_json_on_a_claim_and_a_signed_partner_batch_is_refused(client, citizen,
                                                                           partner):  # noqa: F811
    r = await client.post("/v1/behaviours/", content=DEEP, headers={
        **citizen.headers, "Idempotency-Key": key(), "Content-Type": "application/json"})
    assert problem(r, 422)["errors"][0]["field"] == "body"
    body = b'{"records": [{"data": ' + b"[" * 500 + b"]" * 500 + b"}]}"
    ts = str(int(time.time()))
    r = await client.post("/v1/partner/behaviours/", content=body, headers={
        "X-Partner-Id": partner.id, "X-Timestamp": ts, "Content-Type": "application/json",
        "X-Signature": sign_partner_request(partner.secret, ts, body)})
    assert problem(r, 422)["errors"][0]["field"] == "body"


async def test_32_levels_are_still_fine(client):
    body = {"phone": new_phone(), "password": PASSWORD}
    nested: object = 1
    for _ in range(30):
        nested = [nested]
    # Deep, but within the limit: the usual 422 for an unknown field, not a depth refusal.
    r = await client.post("/v1/auth/token", json=body | {"x": nested})
    assert problem(r, 422)["errors"][0]["field"] == "x"


async def test_a_nul_in_a_path_parameter_is_422_naming_it_without_signing_in(client):
    r = await client.get("/v1/methodologies/CQ-%00/versions/1")
    assert fields(r) == ["code"] and problem(r, 422)["errors"][0]["message"] == (
        "must not contain a NUL character")


async def test_a_nul_in_a_query_parameter_is_422_naming_it(client, citizen):
    r = await client.get("/v1/behaviours/?type=transit%00", headers=citizen.headers)
    problem(r, 422)
    assert fields(r) == ["type"]


async def test_a_nul_in_a_registration_field_is_422_naming_it(client):
    r = await client.post("/v1/auth/register", json={
        "phone": new_phone(), "password": PASSWORD, "district": "yu\u0000zhong"})
    problem(r, 422)
    assert fields(r) == ["district"]


async def test_a_nul_in_partner_and_admin_names_is_422_naming_them(client, admin, partner):  # noqa: F811
    r = await client.post("/v1/admin/partners/", headers=admin.headers,
                          json={"id": "p-\u0000x", "name": "x", "kind": "transit"})
    assert (r.status_code, fields(r)) == (422, ["id"]), r.text
    r = await client.post("/v1/admin/organisations", headers=admin.headers,
                          json={"name": "会展\u0000公司"})
    assert (r.status_code, fields(r)) == (422, ["name"]), r.text
    r = await client.post("/v1/admin/rewards/", headers=admin.headers,
                          json=reward_body(name_zh="乘车\u0000券"))
    assert (r.status_code, fields(r)) == (422, ["name_zh"]), r.text
    r = await client.post("/v1/admin/badges/", headers=admin.headers,
                          json=BADGE | {"code": "nul_badge", "name_en": "Bus\u0000fan"})
    assert (r.status_code, fields(r)) == (422, ["name_en"]), r.text
    # A field of a record in a signed partner batch.
    r = await partner.push([{"external_id": "tap\u0000", "external_ref": "card-1",
                             "type": "transit_trip", "occurred_at": days_ago(1).isoformat(),
                             "data": {}}])
    assert r.status_code == 422 and fields(r) == ["records[0].external_id"], r.text


# --- item 6: lax parsing ------------------------------------------------------------------

@pytest.mark.parametrize("distance", ["5_0", "\u0665", " 5", "5\u00a0", "１"])
async def test_distances_are_plain_decimals_only(client, citizen, distance):
    r = await claim(client, citizen, "transit_trip", days_ago(1),
                    {"mode": "metro", "distance_km": distance})
    problem(r, 422)
    assert fields(r) == ["data.distance_km"]


ODD_DECIMALS = ["5_0", "\u0665", " 5", "5\u00a0", "\uff11", "NaN", "Infinity", "1e3", "0x10",
                "+5", "05", "", True, [], {}, "1" * 16]


@pytest.mark.parametrize("value", ODD_DECIMALS)
async def test_decimal_body_fields_are_plain_decimals_only(client, admin, enterprise, value):
    """Every decimal field of a body (``common.numbers.Amount``) refuses what Python's
    ``Decimal()`` would read but a client never means, names the field, and stores nothing."""
    from tests.events.test_events import EVENT
    before = (await client.get("/v1/events/", headers=enterprise.headers)).json()
    cases = [
        ({**EVENT, "travel": [{**EVENT["travel"][0], "distance_km": value}]},
         "travel[0].distance_km"),
        ({**EVENT, "electricity_kwh": value}, "electricity_kwh"),
        ({**EVENT, "materials": [{"material": "paper", "kg": value}]}, "materials[0].kg"),
    ]
    for body, field in cases:
        r = await client.post("/v1/events/", headers={**enterprise.headers, "Idempotency-Key":
                                                     "odd-" + secrets.token_hex(8)}, json=body)
        problem(r, 422)
        assert fields(r) == [field], (value, r.text)
    assert (await client.get("/v1/events/", headers=enterprise.headers)).json() == before
    badge = {**BADGE, "code": "odd_decimal",
             "levels": [{**BADGE["levels"][0], "at_least": value}]}
    r = await client.post("/v1/admin/badges", headers=admin.headers, json=badge)
    problem(r, 422)
    assert fields(r) == ["levels[0].at_least"], r.text


@pytest.mark.parametrize("value", [12.5, "12.5", 12, "0.001", 1e2])
async def test_numbers_and_plain_digit_strings_are_decimals(client, enterprise, value):
    from tests.events.test_events import EVENT
    body = {**EVENT, "travel": [{**EVENT["travel"][0], "distance_km": value}]}
    headers = {**enterprise.headers, "Idempotency-Key": "ok-" + secrets.token_hex(8)}
    r = await client.post("/v1/events/", headers=headers, json=body)
    assert r.status_code == 201, r.text


async def test_a_string_is_not_an_integer(client, admin):
    r = await client.post("/v1/admin/rewards/", headers=admin.headers,
                          json=reward_body(cost_points="100"))
    problem(r, 422)
    assert fields(r) == ["cost_points"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml",
                                          "application/x-www-form-urlencoded"])
async def test_a_body_that_is_not_declared_json_is_415(client, content_type):
    body = json.dumps({"phone": new_phone(), "password": PASSWORD}).encode()
    r = await client.post("/v1/auth/token", content=body,
                          headers={"Content-Type": content_type})
    assert problem(r, 415)["code"] == "unsupported_media_type"


async def test_json_with_a_charset_or_a_json_suffix_is_fine(client):
    body = json.dumps({"phone": new_phone(), "password": "wrong-password"}).encode()
    for content_type in ("application/json; charset=utf-8", "application/problem+json"):
        r = await client.post("/v1/auth/token", content=body,
                              headers={"Content-Type": content_type})
        assert r.status_code == 401, r.text


async def test_five_thousand_unknown_keys_answer_twenty_errors_and_a_count(client, citizen):
    data = {"mode": "metro", "distance_km": "5"} | {f"k{i}": 1 for i in range(5000)}
    r = await claim(client, citizen, "transit_trip", days_ago(1), data)
    body = problem(r, 422)
    assert len(body["errors"]) == 20
    assert body["errors_omitted"] == 4980
    assert len(r.content) < 8 * 1024


# --- item 8: connections ------------------------------------------------------------------

@pytest.fixture(scope="module")
def timed_server(app, settings) -> Iterator[str]:
    """An API process with short read timeouts, on the test session's stores and keys."""
    with live_server(settings.database_url, settings.redis_url,
                     REDIS_PREFIX=settings.redis_prefix, JWT_KEYS_DIR=str(settings.jwt_keys_dir),
                     HEADER_TIMEOUT="2", BODY_TIMEOUT="2") as live:
        yield live.base_url


@pytest.fixture(scope="module")
def second_server(app, settings) -> Iterator[str]:
    """Another API process on the same stores: a second worker, as `WEB_WORKERS=2` runs."""
    with live_server(settings.database_url, settings.redis_url,
                     REDIS_PREFIX=settings.redis_prefix,
                     JWT_KEYS_DIR=str(settings.jwt_keys_dir)) as live:
        yield live.base_url


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sent before closing the connection (fails if it stays open)."""
    async with asyncio.timeout(seconds):
        return await reader.read()


async def test_fifty_half_sent_requests_are_closed_after_the_timeouts(timed_server):
    host, port = timed_server.removeprefix("http://").split(":")
    opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]] = []
    for i in range(50):
        reader, writer = await asyncio.open_connection(host, int(port))
        if i % 2:  # headers never finished
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
        else:  # headers sent, body promised and never finished
            writer.write(b"POST /v1/auth/token HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        opened.append((reader, writer, not i % 2))
    started = time.monotonic()
    try:
        answers = await asyncio.gather(*(_closed_within(r, 10) for r, _, _ in opened))
    finally:
        for _, writer, _ in opened:
            writer.close()
    assert time.monotonic() - started < 10
    for (_, _, body_pending), answer in zip(opened, answers, strict=True):
        if body_pending:
            assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


async def test_a_citizen_holds_at_most_three_live_streams(timed_server, second_server,
                                                           citizen):
    """Across processes: two streams on one API process, then three on another; the limit
    is the citizen's, so the first two (held by the first process) are the ones ended."""
    ended: list[int] = []
    connected = [asyncio.Event() for _ in range(5)]

    async def stream(i: int) -> None:
        timeout = httpx.Timeout(5, read=60)
        base = timed_server if i < 2 else second_server
        async with httpx.AsyncClient(base_url=base, timeout=timeout) as c, c.stream(
                "GET", "/v1/me/events", headers=citizen.headers) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if line.startswith(": connected"):
                    connected[i].set()
        ended.append(i)

    tasks = []
    try:
        for i in range(5):  # one after the other, so which are the oldest is known
            tasks.append(asyncio.create_task(stream(i)))
            await asyncio.wait_for(connected[i].wait(), timeout=10)
        async with asyncio.timeout(5):
            while len(ended) < 2:  # noqa: ASYNC110 - ended by the server, not by an Event
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert sorted(ended) == [0, 1]
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
