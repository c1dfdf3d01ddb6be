from __future__ import annotations

import pytest
from sqlalchemy import func, select

from carbon_inclusion.accounts.models import User
from tests.conftest import PASSWORD, new_phone


async def count_users(app) -> int:
    async with app.state.db.read() as s:
        return await s.scalar(select(func.count()).select_from(User))


async def test_registering_returns_the_profile_with_the_full_phone_to_its_owner(client):
    phone = new_phone()
    r = await client.post("/v1/auth/register", json={
        "phone": f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}", "password": PASSWORD,
        "nickname": "  山城  骑手 ", "district": "shapingba"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["phone"] == "+86" + phone
    assert body["nickname"] == "山城 骑手"
    assert body["role"] == "citizen"
    assert body["district"]["name_zh"] == "沙坪坝区"
    assert "password" not in r.text and "argon2" not in r.text


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "23800138000"}, "phone"),
        ({"password": "short1"}, "password"),
        ({"password": "onlyletterslong"}, "password"),
        ({"password": "12345678"}, "password"),
        ({"nickname": ""}, "nickname"),
        ({"nickname": "x" * 21}, "nickname"),
        ({"nickname": "bad\x00nick"}, "nickname"),
        ({"district": "atlantis"}, "district"),
        ({"district": 7}, "district"),
        ({"extra": True}, "extra"),
    ],
)
async def test_bad_registration_names_the_field_and_stores_nothing(client, app, patch, field):
    before = await count_users(app)
    body = {"phone": new_phone(), "password": PASSWORD, "nickname": "n", "district": "yuzhong"}
    body.update(patch)
    r = await client.post("/v1/auth/register", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert {"type", "title", "status", "detail"} <= problem.keys()
    assert field in [e["field"] for e in problem["errors"]]
    assert await count_users(app) == before


async def test_a_missing_field_is_named(client):
    r = await client.post("/v1/auth/register", json={"phone": new_phone(), "password": PASSWORD,
                                                     "nickname": "n"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "district"


async def test_malformed_json_is_a_400_problem(client):
    r = await client.post("/v1/auth/register", content=b'{"phone": ',
                          headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "body"


async def test_an_oversized_body_is_refused_with_413(client, app):
    before = await count_users(app)
    huge = {"phone": new_phone(), "password": PASSWORD, "nickname": "n", "district": "yuzhong",
            "pad": "x" * 70_000}
    r = await client.post("/v1/auth/register", json=huge)
    assert r.status_code == 413
    assert r.json()["code"] == "body_too_large"
    assert await count_users(app) == before


async def test_a_taken_phone_gets_the_same_answer_as_a_new_one_and_changes_nothing(client, app):
    # Issue #16 item 7: a 409 phone_taken told anyone which numbers have accounts.
    phone = new_phone()
    body = {"phone": phone, "password": PASSWORD, "nickname": "a", "district": "yuzhong"}
    first = await client.post("/v1/auth/register", json=body)
    assert first.status_code == 201
    before = await count_users(app)
    again = await client.post("/v1/auth/register", json={**body, "phone": "+86" + phone,
                                                          "password": "Another-2026-pw"})
    assert again.status_code == 201
    assert again.json().keys() == first.json().keys()
    assert again.json()["id"] != first.json()["id"]
    assert await count_users(app) == before
    # The owner's account is untouched: their password still signs in, the other does not.
    r = await client.post("/v1/auth/token", json={"phone": phone, "password": "Another-2026-pw"})
    assert r.status_code == 401
    r = await client.post("/v1/auth/token", json={"phone": phone, "password": PASSWORD})
    assert r.status_code == 200


async def test_password_is_stored_as_argon2id(app, citizen):
    async with app.state.db.read() as s:
        stored = await s.scalar(select(User.password_hash).where(User.id == citizen.id))
    assert stored.startswith("$argon2id$")


async def test_districts_lists_all_38_of_chongqing(client):
    r = await client.get("/v1/districts")
    items = r.json()["items"]
    assert len(items) == 38
    assert {d["kind"] for d in items} == {"district", "county", "autonomous_county"}
    assert sum(d["kind"] == "district" for d in items) == 26
