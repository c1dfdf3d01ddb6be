from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from carbon_inclusion.security.secrets import sign_partner_request

SHANGHAI = ZoneInfo("Asia/Shanghai")
ALL_TYPES = ["transit_trip", "ev_charging", "waste_sorting"]


def days_ago(days: float, *, hour: int = 9) -> dt.datetime:
    """A moment ``days`` programme days back, at ``hour`` o'clock Shanghai time (or, today
    before that hour, earlier today: a behaviour may not be in the future)."""
    now = dt.datetime.now(SHANGHAI)
    day = now.date() - dt.timedelta(days=int(days))
    at = dt.datetime.combine(day, dt.time(hour), tzinfo=SHANGHAI)
    if at > now:  # today, before that hour: halfway through what has passed of the day
        midnight = dt.datetime.combine(day, dt.time(0), tzinfo=SHANGHAI)
        at = midnight + (now - midnight) / 2
    return at


def key() -> str:
    return "claim-" + secrets.token_hex(8)


async def claim(client, user, type_: str, occurred_at: dt.datetime, data: dict,
                idempotency_key: str | None = None):
    return await client.post(
        "/v1/behaviours/", headers={**user.headers, "Idempotency-Key": idempotency_key or key()},
        json={"type": type_, "occurred_at": occurred_at.isoformat(), "data": data})


async def balance(client, user) -> int:
    r = await client.get("/v1/wallet/", headers=user.headers)
    assert r.status_code == 200, r.text
    return r.json()["balance"]


class Partner:
    def __init__(self, client, info: dict) -> None:
        self.client = client
        self.id = info["id"]
        self.secret = info["secret"]

    async def push(self, records: list[dict], *, secret: str | None = None):
        return await self.post("/v1/partner/behaviours/", {"records": records}, secret=secret)

    async def code(self, ref: str) -> str:
        """A one-time binding code for ``ref``, as the partner's own channel would show it."""
        r = await self.post("/v1/partner/binding-codes/", {"external_ref": ref})
        assert r.status_code == 201, r.text
        return r.json()["code"]

    async def post(self, path: str, payload: object, *, secret: str | None = None):
        """A request signed as DESIGN §9 says."""
        body = json.dumps(payload, default=str).encode()
        ts = str(int(time.time()))
        return await self.client.post(
            path, content=body,
            headers={"X-Partner-Id": self.id, "X-Timestamp": ts,
                     "X-Signature": sign_partner_request(secret or self.secret, ts, body),
                     "Content-Type": "application/json"})


@pytest.fixture
async def partner(client, admin) -> Partner:
    pid = "p-" + secrets.token_hex(4)
    r = await client.post("/v1/admin/partners/", headers=admin.headers,
                          json={"id": pid, "name": "重庆轨道交通", "kind": "transit",
                                # the tests' partner reports every behaviour type
                                "behaviour_types": ALL_TYPES})
    assert r.status_code == 201, r.text
    return Partner(client, r.json())


def card() -> str:
    return "CQ" + secrets.token_hex(6).upper()


async def bind(client, user, partner: Partner, ref: str) -> dict:
    """A confirmed binding: the citizen enters the code the partner showed for the card."""
    r = await client.post("/v1/bindings/", headers=user.headers,
                          json={"partner_id": partner.id, "external_ref": ref,
                                "code": await partner.code(ref)})
    assert r.status_code == 201, r.text
    return r.json()


def trip(ref: str, occurred_at: dt.datetime, km: str = "12.5", mode: str = "metro",
         external_id: str | None = None) -> dict:
    return {"external_id": external_id or "t-" + secrets.token_hex(6), "external_ref": ref,
            "type": "transit_trip", "occurred_at": occurred_at.isoformat(),
            "data": {"mode": mode, "distance_km": km}}


def grams(value: str) -> Decimal:
    return Decimal(value)
