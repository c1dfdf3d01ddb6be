from __future__ import annotations

import asyncio

import httpx
import pytest

from carbon_inclusion.app import create_app
from tests.conftest import PASSWORD, new_phone


async def test_sign_in_answers_a_bearer_pair(client, citizen):
    r = await client.post("/v1/auth/token", json={"phone": citizen.phone, "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["access_token"].count(".") == 2 and body["refresh_token"]


async def test_wrong_password_and_unknown_phone_get_the_same_answer(client, citizen):
    wrong = await client.post("/v1/auth/token",
                              json={"phone": citizen.phone, "password": "Not-the-2026"})
    unknown = await client.post("/v1/auth/token",
                                json={"phone": new_phone(), "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_me_shows_the_own_profile(client, citizen):
    r = await client.get("/v1/me", headers=citizen.headers)
    assert r.status_code == 200
    assert r.json()["id"] == citizen.id
    assert r.json()["phone"] == "+86" + citizen.phone


async def test_refresh_rotates_and_the_old_token_is_spent(client, citizen):
    r1 = await client.post("/v1/auth/refresh", json={"refresh_token": citizen.refresh_token})
    assert r1.status_code == 200
    new = r1.json()
    assert new["refresh_token"] != citizen.refresh_token
    assert (await client.get("/v1/me", headers={
        "Authorization": f"Bearer {new['access_token']}"})).status_code == 200


async def test_a_refresh_token_used_twice_revokes_its_whole_family(client, citizen):
    first = await client.post("/v1/auth/refresh", json={"refresh_token": citizen.refresh_token})
    assert first.status_code == 200
    replay = await client.post("/v1/auth/refresh", json={"refresh_token": citizen.refresh_token})
    assert replay.status_code == 401
    assert replay.json()["code"] == "refresh_token_reused"
    # The legitimate holder's newer token is dead too: the family is revoked.
    newer = await client.post("/v1/auth/refresh",
                              json={"refresh_token": first.json()["refresh_token"]})
    assert newer.status_code == 401


async def test_concurrent_refreshes_of_one_token_let_at_most_one_through(client, citizen):
    results = await asyncio.gather(*[
        client.post("/v1/auth/refresh", json={"refresh_token": citizen.refresh_token})
        for _ in range(8)
    ])
    assert sum(r.status_code == 200 for r in results) <= 1
    assert all(r.status_code in (200, 401) for r in results)


@pytest.mark.parametrize(
    "token", ["", "nodot", "not-a-uuid.secret", "00000000-0000-0000-0000-000000000000.x"]
)
async def test_garbage_refresh_tokens_are_401(client, token):
    r = await client.post("/v1/auth/refresh", json={"refresh_token": token})
    assert r.status_code == 401


async def test_logout_revokes_the_sign_in(client, citizen):
    r = await client.post("/v1/auth/logout", headers=citizen.headers,
                          json={"refresh_token": citizen.refresh_token})
    assert r.status_code == 204
    again = await client.post("/v1/auth/refresh", json={"refresh_token": citizen.refresh_token})
    assert again.status_code == 401


async def test_logout_without_a_body_ends_every_session(client, citizen):
    other = (await client.post("/v1/auth/token",
                               json={"phone": citizen.phone, "password": PASSWORD})).json()
    assert (await client.post("/v1/auth/logout", headers=citizen.headers)).status_code == 204
    for token in (citizen.refresh_token, other["refresh_token"]):
        r = await client.post("/v1/auth/refresh", json={"refresh_token": token})
        assert r.status_code == 401


async def test_a_disabled_user_is_locked_out_at_once(client, app, citizen, admin):
    r = await client.post(f"/v1/admin/users/{citizen.id}/disable", headers=admin.headers)
    assert r.status_code == 200
    assert (await client.get("/v1/me", headers=citizen.headers)).status_code == 401
    assert (await client.post("/v1/auth/refresh",
                              json={"refresh_token": citizen.refresh_token})).status_code == 401
    assert (await client.post("/v1/auth/token", json={"phone": citizen.phone,
                                                      "password": PASSWORD})).status_code == 401


async def test_failed_sign_ins_per_phone_are_throttled_with_retry_after(client, citizen):
    for _ in range(5):
        r = await client.post("/v1/auth/token",
                              json={"phone": citizen.phone, "password": "Wrong-pass-1"})
        assert r.status_code == 401
    r = await client.post("/v1/auth/token", json={"phone": citizen.phone, "password": PASSWORD})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_sign_ins_per_client_address_are_throttled(settings, tmp_path):
    app = create_app(settings.with_overrides(login_failures_per_ip=3,
                                             redis_prefix=settings.redis_prefix + "ip:"))
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 1))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            codes = [
                (await c.post("/v1/auth/token",
                              json={"phone": new_phone(), "password": PASSWORD})).status_code
                for _ in range(5)
            ]
    finally:
        await app.state.db.dispose()
    assert codes == [401, 401, 401, 429, 429]
