"""Issue #16 items 1 and 7, and phone verification: throttles that hold when raced for real,
registration that does not enumerate phones, one-time codes that expire, are spent once and
cannot be guessed; unverified citizens read but do not earn or redeem."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import func, select, text

from carbon_inclusion.accounts.models import User
from carbon_inclusion.common.clock import FixedClock
from tests.conftest import PASSWORD, client_of, new_phone, sent_code, sign_in, verify_phone
from tests.conftest import own_app as shared_own_app


@asynccontextmanager
async def own_app(settings, address: str = "198.51.100.20", clock=None, **overrides
                  ) -> AsyncIterator[tuple[object, httpx.AsyncClient]]:
    """An app of the test's own (own throttle settings, own Redis prefix) on the session's
    database, and a client calling it from ``address``."""
    prefix = f"{settings.redis_prefix}{secrets.token_hex(3)}:"
    async with shared_own_app(settings, clock=clock, redis_prefix=prefix, **overrides) as app, \
            client_of(app, address, "http://t") as c:
        yield app, c


@pytest.fixture
def seeded(app, settings):
    """The session's settings once the session's app has seeded the database (districts,
    methodologies): an ``own_app`` shares that database."""
    return settings


def registration(phone: str) -> dict:
    return {"phone": phone, "password": PASSWORD, "nickname": "骑手", "district": "yuzhong",
            "privacy_notice_version": 1}


# --- item 1: sign-in throttles ----------------------------------------------------------


async def test_50_concurrent_wrong_passwords_get_at_most_5_checked_then_the_window_ends(
        seeded):
    async with own_app(seeded, login_window_s=2) as (app, c):
        phone = new_phone()
        await app.state.accounts.create_user(role="admin", phone=phone, password=PASSWORD,
                                             nickname="a")
        answers = await asyncio.gather(*[
            c.post("/v1/auth/token", json={"phone": phone, "password": f"Wrong-pass-{i}"})
            for i in range(50)])
        codes = Counter(r.status_code for r in answers)
        assert codes[401] <= 5, codes  # every 401 is a password that was checked
        assert codes[401] + codes[429] == 50, codes
        assert all(int(r.headers["Retry-After"]) > 0 for r in answers if r.status_code == 429)
        # Even the right password waits for the window to end.
        r = await c.post("/v1/auth/token", json={"phone": phone, "password": PASSWORD})
        assert r.status_code == 429
        await asyncio.sleep(2.2)
        r = await c.post("/v1/auth/token", json={"phone": phone, "password": PASSWORD})
        assert r.status_code == 200, r.text


async def test_100_citizens_behind_one_address_all_sign_in_at_once(seeded):
    # Carrier-grade NAT: the per-address budget (default 60) counts failures, not sign-ins.
    async with own_app(seeded, address="100.64.0.1") as (app, c):
        phones = [new_phone() for _ in range(100)]
        for phone in phones:
            await app.state.accounts.create_user(role="admin", phone=phone, password=PASSWORD,
                                                 nickname="n")
        answers = await asyncio.gather(*[
            c.post("/v1/auth/token", json={"phone": p, "password": PASSWORD}) for p in phones])
        assert [r.status_code for r in answers] == [200] * 100


async def test_failures_from_one_address_across_many_phones_are_capped_under_a_burst(seeded):
    async with own_app(seeded, address="100.64.0.2", login_failures_per_ip=10) as (_, c):
        answers = await asyncio.gather(*[
            c.post("/v1/auth/token", json={"phone": new_phone(), "password": "Wrong-pass-1"})
            for _ in range(40)])
        codes = Counter(r.status_code for r in answers)
        assert codes == {401: 10, 429: 30}, codes


# --- item 7: registration ---------------------------------------------------------------


async def test_40_concurrent_registrations_of_taken_phones_look_like_new_ones_and_are_throttled(
        seeded):
    async with own_app(seeded, address="198.51.100.31", registrations_per_ip=10) as (app, c):
        taken = [new_phone() for _ in range(40)]
        for phone in taken:
            await app.state.accounts.create_user(role="admin", phone=phone, password=PASSWORD,
                                                 nickname="owner")
        async with app.state.db.read() as s:
            before = await s.scalar(select(func.count()).select_from(User))
        on_taken = await asyncio.gather(*[
            c.post("/v1/auth/register", json=registration(p)) for p in taken])
        async with app.state.db.read() as s:
            assert await s.scalar(select(func.count()).select_from(User)) == before
    async with own_app(seeded, address="198.51.100.32", registrations_per_ip=10) as (_, c):
        on_new = await asyncio.gather(*[
            c.post("/v1/auth/register", json=registration(new_phone())) for _ in range(40)])

    def shape(answers):
        return Counter((r.status_code, r.json().get("code"), tuple(sorted(r.json())))
                       for r in answers)

    assert shape(on_taken) == shape(on_new)
    assert Counter(r.status_code for r in on_taken) == {201: 10, 429: 30}
    assert all(r.json()["phone"].startswith("+86") for r in on_taken if r.status_code == 201)


# --- phone verification -----------------------------------------------------------------


async def test_an_unverified_citizen_reads_but_cannot_earn_or_redeem(client, app):
    phone = new_phone()
    assert (await client.post("/v1/auth/register", json=registration(phone))).status_code == 201
    headers = {"Authorization": f"Bearer {(await sign_in(client, phone))['access_token']}"}
    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    assert (await client.get("/v1/wallet", headers=headers)).status_code == 200
    occurred = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    refused = [
        await client.post("/v1/behaviours/", json={
            "type": "transit_trip", "occurred_at": occurred, "data": {"mode": "bus"}},
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())}),
        await client.post("/v1/redemptions/", json={"reward_id": str(uuid.uuid4())},
                          headers={**headers, "Idempotency-Key": str(uuid.uuid4())}),
        await client.post("/v1/bindings/", json={"partner_id": "cq-metro",
                                                 "external_ref": "CARD-0001"}, headers=headers),
        await client.post(f"/v1/challenges/{uuid.uuid4()}/join", headers=headers),
    ]
    for r in refused:
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "phone_unverified"
    await verify_phone(app, client, phone)
    r = await client.post("/v1/behaviours/", json={
        "type": "transit_trip", "occurred_at": occurred, "data": {"mode": "bus"}},
        headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code != 403, r.text


async def test_a_code_is_single_use(client, app):
    phone = new_phone()
    await client.post("/v1/auth/register", json=registration(phone))
    code = await sent_code(app, phone)
    first = await client.post("/v1/auth/verify-phone", json={"phone": phone, "code": code})
    again = await client.post("/v1/auth/verify-phone", json={"phone": phone, "code": code})
    assert first.status_code == 204
    assert again.status_code == 422 and again.json()["code"] == "invalid_code"


async def test_a_code_expires_after_five_minutes_and_resend_sends_a_new_one(seeded):
    clock = FixedClock(dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC))
    async with own_app(seeded, clock=clock) as (app, c):
        phone = new_phone()
        assert (await c.post("/v1/auth/register", json=registration(phone))).status_code == 201
        old = await sent_code(app, phone)
        clock.advance(dt.timedelta(minutes=5, seconds=1))
        r = await c.post("/v1/auth/verify-phone", json={"phone": phone, "code": old})
        assert r.status_code == 422 and r.json()["code"] == "invalid_code"
        assert (await c.post("/v1/auth/resend-code", json={"phone": phone})).status_code == 204
        new = await sent_code(app, phone)
        clock.advance(dt.timedelta(minutes=4))
        if new != old:  # one time in a million the new code is the old one
            r = await c.post("/v1/auth/verify-phone", json={"phone": phone, "code": old})
            assert r.status_code == 422
        r = await c.post("/v1/auth/verify-phone", json={"phone": phone, "code": new})
        assert r.status_code == 204, r.text


async def test_wrong_codes_are_throttled_even_when_raced(seeded):
    async with own_app(seeded) as (app, c):
        phone = new_phone()
        await c.post("/v1/auth/register", json=registration(phone))
        code = await sent_code(app, phone)
        wrong = [f"{(int(code) + i) % 10**6:06d}" for i in range(1, 31)]
        answers = await asyncio.gather(*[
            c.post("/v1/auth/verify-phone", json={"phone": phone, "code": w}) for w in wrong])
        codes = Counter(r.status_code for r in answers)
        assert codes[422] <= 5 and codes[422] + codes[429] == 30, codes
        # The budget is spent: even the right code waits for the window.
        r = await c.post("/v1/auth/verify-phone", json={"phone": phone, "code": code})
        assert r.status_code == 429


async def test_resend_answers_the_same_for_any_phone_and_is_throttled(seeded):
    async with own_app(seeded, phone_code_resends=2) as (app, c):
        unverified = new_phone()
        await c.post("/v1/auth/register", json=registration(unverified))
        verified = new_phone()
        await app.state.accounts.create_user(role="admin", phone=verified, password=PASSWORD,
                                             nickname="v")
        for phone in (unverified, verified, new_phone()):
            answers = [await c.post("/v1/auth/resend-code", json={"phone": phone})
                       for _ in range(3)]
            assert [r.status_code for r in answers] == [204, 204, 429]


async def test_codes_go_to_the_log_masked(client, app, caplog):
    phone = new_phone()
    with caplog.at_level("INFO", logger="carbon_inclusion.sms"):
        await client.post("/v1/auth/register", json=registration(phone))
    code = await sent_code(app, phone)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert phone[-4:] in logged and phone not in logged and code not in logged


async def test_users_made_by_an_administrator_are_verified(client, app):
    phone = new_phone()
    await app.state.accounts.create_user(role="citizen", phone=phone, password=PASSWORD,
                                         nickname="c", district_code="yuzhong")
    headers = {"Authorization": f"Bearer {(await sign_in(client, phone))['access_token']}"}
    r = await client.post(f"/v1/challenges/{uuid.uuid4()}/join", headers=headers)
    assert r.status_code == 404  # past the guard: there is no such challenge


# --- phone numbers at rest --------------------------------------------------------------


async def test_the_database_holds_no_phone_number_but_the_owner_still_sees_theirs(
        client, app, citizen):
    async with app.state.db.read() as s:
        row = (await s.execute(select(User.phone_index, User.phone_ciphertext)
                               .where(User.id == citizen.id))).one()
        dumped = await s.scalar(text("SELECT row_to_json(u)::text FROM users u WHERE id = :id"),
                                {"id": citizen.id})
    assert citizen.phone.encode() not in row.phone_index + row.phone_ciphertext
    assert citizen.phone not in dumped and citizen.phone[-8:] not in dumped
    me = await client.get("/v1/me", headers=citizen.headers)
    assert me.json()["phone"] == "+86" + citizen.phone
