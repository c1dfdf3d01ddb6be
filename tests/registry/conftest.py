"""Registry fixtures: a methodology of the test's own, credited reductions behind it, and a
batch's whole life (``issue_batch``).

Tonnes of reductions are millions of grams: through the API that would be thousands of
trips per test. The registry only reads credited behaviours, so these fixtures write them
straight into ``behaviours`` (as the pipeline stores a partner's verified record), under a
methodology code no other test uses, so each test pools only its own.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import secrets
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.behaviours.conftest import SHANGHAI

ROOT = Path(__file__).resolve().parents[2]
LAST_YEAR = dt.datetime.now(SHANGHAI).year - 1


def metered_doc(code_prefix: str = "CQ-T", behaviour_prefix: str = "test") -> dict:
    """A methodology document of its own code and behaviour type: the waste methodology
    (v1's factors), with one more input for ``credit``, ``metered_g``, that scores as that
    many grams (0.001 g) when given, so a behaviour of any grams recomputes (``registry
    verify`` recomputes every allocated one)."""
    doc = copy.deepcopy(json.loads(
        (ROOT / "seed" / "methodologies" / "cq-waste-v1.json").read_text(encoding="utf-8")))
    tag = secrets.token_hex(3).upper()
    doc["code"], doc["behaviour"] = f"{code_prefix}{tag}", f"{behaviour_prefix}_{tag.lower()}"
    doc["effective_from"] = f"{LAST_YEAR - 1}-01-01T00:00:00+08:00"
    doc["inputs"]["metered_g"] = {"type": "decimal", "min": "0", "max": "100000000",
                                  "places": 3, "default": "0", "unit": "g CO2e",
                                  "description": "Tests only: the grams, as metered."}
    doc["reduction_g"] = {"formula": "metered_g if metered_g > 0 else "
                                     + doc["reduction_g"]["formula"],
                          "rounding": {"places": 3, "mode": "half_even"}}
    return doc


@pytest.fixture
async def methodology(app) -> dict:
    """A published ``metered_doc`` of this test's own."""
    doc = metered_doc()
    assert await app.state.methodologies.ensure_published(doc) == "published"
    return doc


async def credit(app, citizen_id: str, methodology: dict, grams: str, count: int,
                 day: dt.date | None = None, district: str = "yuzhong") -> Decimal:
    """``count`` credited behaviours of ``grams`` each (metered, ``methodology``'s extra
    input), as the pipeline stores a partner's records; returns their total."""
    day = day or dt.date(LAST_YEAR, 6, 15)
    async with app.state.db.connect() as conn:
        version = (await conn.execute(text(
            "SELECT id, version FROM methodology_versions WHERE code = :c"),
            {"c": methodology["code"]})).one()
        await conn.execute(text("""
            INSERT INTO behaviours (id, citizen_id, type, occurred_at, programme_day,
                district_code, source, evidence, partner_id, external_id, status, data,
                methodology_id, methodology_code, methodology_version, computed_reduction_g,
                computed_points, reduction_g, points)
            SELECT gen_random_uuid(), :c, :type, :at, :day, :district, 'partner',
                   'partner_verified', 'test', 'x-' || gen_random_uuid(), 'credited',
                   jsonb_build_object('category', 'other', 'weight_kg', '0',
                                      'metered_g', CAST(:metered AS text)),
                   :mid, :code, :v, :g, 0, :g, 0
              FROM generate_series(1, :n)"""), {
            "c": uuid.UUID(citizen_id), "type": methodology["behaviour"],
            "at": dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC), "day": day,
            "district": district, "mid": version.id, "code": methodology["code"],
            "v": version.version, "g": Decimal(grams), "metered": str(Decimal(grams)), "n": count})
    return Decimal(grams) * count


async def propose(client, admin, body: dict):
    return await client.post("/v1/admin/credit-batches", headers=admin.headers, json=body)


async def verify_batch(client, verifier, batch_id: str, statement: str | None = None):
    return await client.post(f"/v1/verifier/batches/{batch_id}/verify",
                             headers=verifier.headers,
                             json={} if statement is None else {"statement": statement})


async def return_batch(client, verifier, batch_id: str, findings: list[str]):
    return await client.post(f"/v1/verifier/batches/{batch_id}/return",
                             headers=verifier.headers, json={"findings": findings})


async def issue(client, admin, batch_id: str):
    return await client.post(f"/v1/admin/credit-batches/{batch_id}/issue",
                             headers=admin.headers)


async def issue_batch(client, admin, verifier, body: dict) -> dict:
    """A batch through its whole life: proposed by ``admin``, verified by ``verifier`` (a
    user of a verification body), issued by ``admin``; the issued batch."""
    proposed = await propose(client, admin, body)
    assert proposed.status_code == 201, proposed.text
    assert proposed.json()["status"] == "proposed" and proposed.json()["serials"] is None
    verified = await verify_batch(client, verifier, proposed.json()["id"])
    assert verified.status_code == 200, verified.text
    issued = await issue(client, admin, proposed.json()["id"])
    assert issued.status_code == 200, issued.text
    assert issued.json()["status"] == "issued"
    return issued.json()


def vintage(methodology: dict) -> dict:
    return {"methodology_code": methodology["code"], "vintage_from": f"{LAST_YEAR}-01-01",
            "vintage_to": f"{LAST_YEAR}-12-31"}


@contextlib.contextmanager
def whole_market(app) -> Iterator[None]:
    """A scenario whose one buyer takes the whole (isolated) market in unpaid quotes: lift
    ``ORDER_MAX_RESERVED_SHARE`` for it (the limit has its own tests in test_quotes.py)."""
    orders = app.state.orders
    before, orders.max_share = orders.max_share, Decimal(1)
    try:
        yield
    finally:
        orders.max_share = before


@pytest.fixture
def sole_buyer(app) -> Iterator[None]:
    """The test's buyers each take the whole market they see (see ``whole_market``)."""
    with whole_market(app):
        yield
