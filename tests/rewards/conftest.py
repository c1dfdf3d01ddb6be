from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from carbon_inclusion.ledger import service as ledger
from tests.behaviours.conftest import Partner
from tests.conftest import new_phone

THIS_YEAR = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).year


@dataclass(frozen=True)
class Citizen:
    id: str
    headers: dict[str, str]


async def many_citizens(app, n: int) -> list[Citizen]:
    """``n`` citizens inserted in one statement, each with a token: registering hundreds
    through the API would spend the test's time hashing passwords."""
    ids = [uuid.uuid4() for _ in range(n)]
    phones = ["+86" + new_phone() for _ in ids]
    cipher = app.state.accounts.phones  # the phone is stored as the app stores it
    async with app.state.db.connect() as conn:
        await conn.execute(text(
            "INSERT INTO users (id, role, phone_index, phone_ciphertext, password_hash, "
            "nickname, district_code, phone_verified_at) "
            "SELECT id, 'citizen', ix, ct, '!', 'racer', 'yuzhong', now() "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:ix AS bytea[]), CAST(:ct AS bytea[])) "
            "AS u(id, ix, ct)"),
            {"ids": ids, "ix": [cipher.index(p) for p in phones],
             "ct": [cipher.encrypt(p) for p in phones]})
    return [Citizen(str(i), {"Authorization": f"Bearer {app.state.tokens.issue(i, 'citizen')}"})
            for i in ids]


async def grant(app, citizen_id: str, points: int, lot: int = THIS_YEAR) -> None:
    """Credit ``points`` earned in ``lot``, as a behaviour credit would."""
    async with app.state.db.connect() as conn:
        await ledger.post(conn, [ledger.Entry(
            citizen_id=uuid.UUID(citizen_id), kind="behaviour_credit", points=points,
            counter="issuance", idempotency_key=f"test-grant:{uuid.uuid4()}",
            request_hash=b"\x00" * 32, lots=((lot, points),))])


def reward_body(**fields) -> dict:
    return {"name_zh": "轨道交通乘车券", "name_en": "Metro ride coupon", "kind": "coupon",
            "cost_points": 100, "stock": 10} | fields


async def make_reward(client, admin, **fields) -> dict:
    r = await client.post("/v1/admin/rewards/", headers=admin.headers, json=reward_body(**fields))
    assert r.status_code == 201, r.text
    return r.json()


def idem() -> str:
    return "redeem-" + secrets.token_hex(8)


async def redeem(client, user, reward_id: str, quantity: int = 1, key: str | None = None):
    return await client.post("/v1/redemptions/",
                             headers={**user.headers, "Idempotency-Key": key or idem()},
                             json={"reward_id": reward_id, "quantity": quantity})


async def wallet(client, user) -> dict:
    r = await client.get("/v1/wallet/", headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def reward_state(app, reward_id: str) -> dict:
    async with app.state.db.connect() as conn:
        row = (await conn.execute(text(
            "SELECT stock, (SELECT sum(issued) FROM reward_stock WHERE reward_id = r.id) "
            "AS issued, (SELECT count(*) FROM vouchers WHERE reward_id = r.id "
            "AND status = 'issued') AS open_vouchers, (SELECT count(*) FROM redemptions "
            "WHERE reward_id = r.id) AS redemptions FROM rewards r WHERE id = :r"),
            {"r": reward_id})).one()
    return row._asdict()


@pytest.fixture
async def partner(client, admin) -> Partner:
    pid = "v-" + secrets.token_hex(4)
    r = await client.post("/v1/admin/partners/", headers=admin.headers,
                          json={"id": pid, "name": "重庆公交", "kind": "transit"})
    assert r.status_code == 201, r.text
    return Partner(client, r.json())
