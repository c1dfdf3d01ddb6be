from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from carbon_inclusion.audit.models import AuditRecord
from carbon_inclusion.methodologies.models import MethodologyVersion
from tests.methodologies.conftest import document

ADMIN = "/v1/admin/methodologies"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


async def create(client, admin, doc):
    return await client.post(ADMIN + "/", json=doc, headers=admin.headers)


async def publish(client, admin, code, version):
    return await client.post(f"{ADMIN}/{code}/versions/{version}/publish", headers=admin.headers)


async def count_versions(app, code: str) -> int:
    async with app.state.db.read() as s:
        return await s.scalar(select(func.count()).select_from(MethodologyVersion)
                              .where(MethodologyVersion.code == code))


async def test_the_seed_methodologies_are_public_with_parameters_and_sources(client):
    r = await client.get("/v1/methodologies", params={"limit": 100})
    assert r.status_code == 200
    items = r.json()["items"]
    behaviours = {i["behaviour"] for i in items}
    assert {"transit_trip", "waste_sorting", "ev_charging"} <= behaviours
    for item in items:
        assert item["status"] in ("published", "retired")
        for name, param in item["document"]["params"].items():
            assert param["source"].strip(), (item["code"], name)
    transit = [i for i in items if i["behaviour"] == "transit_trip"]
    assert len(transit) >= 2, "a second version exercises versioning with real data"
    # An event footprint's methodology says so: it scores no citizen's behaviour.
    kinds = {i["code"]: i["kind"] for i in items}
    assert kinds["CQ-EVENT"] == "footprint" and kinds["CQ-TRANSIT"] == "behaviour"
    assert {i["kind"] for i in items} == {"behaviour", "footprint"}


async def test_a_draft_is_created_checked_and_hidden_from_the_public(client, admin, code):
    r = await create(client, admin, document(code))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "draft"
    assert len(body["sha256"]) == 64
    assert (await client.get(f"/v1/methodologies/{code}/versions/1")).status_code == 404
    r = await client.get(f"{ADMIN}/{code}/versions/1", headers=admin.headers)
    assert r.status_code == 200 and r.json()["status"] == "draft"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reduction_g": {"formula": "distance_km * unknown_name",
                          "rounding": {"places": 1, "mode": "half_even"}}}, "reduction_g.formula"),
        ({"reduction_g": {"formula": "distance_km *", "rounding": {"places": 1,
                                                                    "mode": "half_even"}}},
         "reduction_g.formula"),
        ({"reduction_g": {"formula": "factor_g_per_pkm / (distance_km - distance_km)",
                          "rounding": {"places": 1, "mode": "half_even"}}}, "reduction_g.formula"),
        ({"params": {"factor_g_per_pkm": {"value": "46.8", "unit": "g", "source": ""},
                     "g_per_point": {"value": "10", "unit": "g", "source": "peg"}}},
         "params.factor_g_per_pkm.source"),
        ({"inputs": {"distance_km": {"type": "decimal", "min": "9", "max": "1", "unit": "km",
                                     "places": 1}}}, "inputs.distance_km"),
        ({"surprise": 1}, "surprise"),
        ({"version": "one"}, "version"),
    ],
)
async def test_a_document_that_does_not_check_is_refused_naming_the_field(
    client, admin, app, code, change, field
):
    r = await create(client, admin, document(code, **change))
    assert r.status_code == 422, r.text
    fields = [e["field"] for e in r.json()["errors"]]
    assert any(f == field or f.startswith(field) for f in fields), fields
    assert await count_versions(app, code) == 0


async def test_versions_must_increase(client, admin, code):
    assert (await create(client, admin, document(code, 2))).status_code == 201
    for version in (1, 2):
        r = await create(client, admin, document(code, version))
        assert r.status_code == 409
        assert r.json()["code"] == "version_not_increasing"


async def test_a_published_version_never_changes(client, admin, app, code):
    await create(client, admin, document(code))
    r = await publish(client, admin, code, 1)
    assert r.status_code == 200 and r.json()["status"] == "published"
    sha = r.json()["sha256"]
    changed = document(code, params={
        "factor_g_per_pkm": {"value": "99", "unit": "g", "source": "x"},
        "g_per_point": {"value": "10", "unit": "g", "source": "peg"}})
    r = await client.put(f"{ADMIN}/{code}/versions/1", json=changed, headers=admin.headers)
    assert r.status_code == 409 and r.json()["code"] == "immutable_version"
    assert (await publish(client, admin, code, 1)).status_code == 409
    # The database refuses too, whoever connects.
    async with app.state.db.engine.connect() as conn:
        for sql in (
            "UPDATE methodology_versions SET document = '{}'::jsonb WHERE code = :c",
            "UPDATE methodology_versions SET sha256 = repeat('0', 64) WHERE code = :c",
            "DELETE FROM methodology_versions WHERE code = :c",
        ):
            with pytest.raises(DBAPIError, match=r"immutable|cannot be deleted"):
                await conn.execute(text(sql), {"c": code})
            await conn.rollback()
    r = await client.get(f"/v1/methodologies/{code}/versions/1")
    assert r.json()["sha256"] == sha
    canonical = json.dumps(r.json()["document"], sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False).encode()
    assert hashlib.sha256(canonical).hexdigest() == sha


async def test_overlapping_periods_are_refused_and_open_ended_ones_are_superseded(
    client, admin, app, code
):
    await create(client, admin, document(code, 1, effective_to="2026-06-01T00:00:00+08:00"))
    assert (await publish(client, admin, code, 1)).status_code == 200
    r = await create(client, admin, document(code, 2,
                                             effective_from="2026-03-01T00:00:00+08:00"))
    assert r.status_code == 409 and r.json()["code"] == "overlapping_period"

    await create(client, admin, document(code, 3, effective_from="2026-06-01T00:00:00+08:00"))
    assert (await publish(client, admin, code, 3)).status_code == 200
    await create(client, admin, document(code, 4, effective_from="2026-10-01T00:00:00+08:00"))
    r = await publish(client, admin, code, 4)
    assert r.status_code == 200, r.text
    v3 = (await client.get(f"/v1/methodologies/{code}/versions/3")).json()
    assert dt.datetime.fromisoformat(v3["in_force_to"]) == dt.datetime(2026, 10, 1,
                                                                        tzinfo=SHANGHAI)
    assert v3["document"]["effective_to"] is None, "the document itself is unchanged"


async def test_the_version_in_force_is_chosen_by_occurred_at_in_shanghai_time(
    client, admin, app, code
):
    await create(client, admin, document(code, 1))
    await publish(client, admin, code, 1)
    await create(client, admin, document(code, 2, effective_from="2026-10-01T00:00:00+08:00"))
    await publish(client, admin, code, 2)
    behaviour = document(code)["behaviour"]
    service = app.state.methodologies
    # 2026-09-30 23:59:59 in Chongqing is 15:59:59 UTC: still version 1.
    before = dt.datetime(2026, 9, 30, 15, 59, 59, tzinfo=dt.UTC)
    at = dt.datetime(2026, 9, 30, 16, 0, 0, tzinfo=dt.UTC)
    assert (await service.resolve(behaviour, before)).version == 1
    assert (await service.resolve(behaviour, at)).version == 2
    assert await service.resolve(behaviour, dt.datetime(2025, 12, 31, tzinfo=dt.UTC)) is None


async def test_retiring_stops_new_behaviours_but_keeps_the_past(client, admin, app, code):
    await create(client, admin, document(code))
    await publish(client, admin, code, 1)
    r = await client.post(f"{ADMIN}/{code}/versions/1/retire", headers=admin.headers,
                          json={"reason": "factor superseded"})
    assert r.status_code == 200 and r.json()["status"] == "retired"
    behaviour = document(code)["behaviour"]
    service = app.state.methodologies
    assert await service.resolve(behaviour, dt.datetime.now(dt.UTC) + dt.timedelta(1)) is None
    assert (await service.resolve(behaviour, dt.datetime(2026, 2, 1, tzinfo=dt.UTC))).version == 1
    again = await client.post(f"{ADMIN}/{code}/versions/1/retire", headers=admin.headers,
                              json={"reason": "twice"})
    assert again.status_code == 409


async def test_evaluate_shows_every_intermediate_value(client, admin, code):
    await create(client, admin, document(code))
    r = await client.post(f"{ADMIN}/{code}/versions/1/evaluate", headers=admin.headers,
                          json={"data": {"distance_km": "12.5"}})
    assert r.status_code == 200, r.text
    body = r.json()
    # 12.5 km × 46.8 g/pkm = 585.0 g; floor(585.0 / 10) = 58 points.
    assert body["reduction_g"] == "585.0"
    assert body["points"] == 58
    assert body["intermediates"]
    bad = await client.post(f"{ADMIN}/{code}/versions/1/evaluate", headers=admin.headers,
                            json={"data": {"distance_km": "600"}})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"].endswith("distance_km")


async def test_every_admin_action_is_audited_with_the_document_hash(client, admin, app, code):
    created = (await create(client, admin, document(code))).json()
    await publish(client, admin, code, 1)
    async with app.state.db.read() as s:
        rows = (await s.scalars(select(AuditRecord).where(
            AuditRecord.subject_id == f"{code}/v1").order_by(AuditRecord.at))).all()
    assert [r.action for r in rows] == ["methodology.draft_created", "methodology.published"]
    assert all(r.document_sha256 == created["sha256"] for r in rows)
    assert all(str(r.actor_id) == admin.id for r in rows)


async def test_concurrent_publishes_of_one_draft_publish_it_once(client, admin, code):
    await create(client, admin, document(code))
    results = await asyncio.gather(*[publish(client, admin, code, 1) for _ in range(6)])
    assert sorted(r.status_code for r in results) == [200] + [409] * 5


async def test_citizens_and_enterprises_get_403_on_every_admin_methodology_route(
    client, app, citizen, make_user
):
    org = await app.state.accounts.create_organisation("Audit Org " + citizen.phone)
    enterprise = await make_user("enterprise", organisation_id=org.id)
    routes = [(m, r.path) for r in app.routes if r.path.startswith(ADMIN)
              for m in r.methods if m not in ("HEAD", "OPTIONS")]
    assert len(routes) >= 7
    for caller in (citizen, enterprise):
        for method, path in routes:
            url = path.replace("{code:str}", "CQ-TRANSIT").replace("{version:int}", "1")
            r = await client.request(method, url, headers=caller.headers, json={})
            assert r.status_code == 403, (method, url, r.status_code)


async def test_the_document_schema_is_published(client):
    r = await client.get("/v1/methodologies/schema")
    assert r.status_code == 200
    schema = r.json()
    document_schema = schema["$defs"]["Document"]
    assert {"code", "version", "inputs", "reduction_g", "points",
            "evidence"} <= set(document_schema["required"])
    assert schema["$defs"]["Param"]["required"] == ["value", "unit", "source"]
