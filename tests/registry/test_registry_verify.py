"""``carbon-inclusion registry verify`` recomputes every allocated behaviour and refuses
ineligible evidence in a batch (issue #17), proved on corrupted copies of a database built
for the purpose: each copy is ``CREATE DATABASE … TEMPLATE`` of the original once nothing is
connected to it, then corrupted in one way behind the application's back. The original
passes throughout; each copy fails on its corruption, and on nothing else."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from carbon_inclusion.accounts.schemas import RegisterRequest
from carbon_inclusion.db.migrate import upgrade
from carbon_inclusion.devservices import drop_database
from carbon_inclusion.registry.schemas import BatchIn, VerificationIn
from carbon_inclusion.seeding import seed_all
from tests.conftest import CURRENT_NOTICE, PASSWORD, new_phone, own_app
from tests.live import fresh_database
from tests.registry.conftest import LAST_YEAR, credit, metered_doc
from tests.registry.test_issuance import verify

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ("only eligible evidence", "grams recompute from inputs and the published version")


async def _admin_sql(database_url: str, sql: str) -> None:
    u = make_url(database_url)
    conn = await asyncpg.connect(host=u.host, port=u.port, user=u.username,
                                 password=u.password, database="postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _build(settings, database_url: str) -> dict:
    """A programme with one issued batch (3 t of partner records) and a self-report of the
    same methodology and vintage credited without review (not in the batch)."""
    await asyncio.to_thread(upgrade, database_url)
    async with own_app(settings, database_url=database_url,
                       redis_prefix=f"{settings.redis_prefix}verify:") as app:
        await seed_all(app.state.db, ROOT / "seed")
        doc = metered_doc() | {"code": "CQ-VERIFYTEST", "behaviour": "verify_test"}
        assert await app.state.methodologies.ensure_published(doc) == "published"
        accounts = app.state.accounts
        admin = await accounts.create_user(role="admin", phone=new_phone(), password=PASSWORD,
                                           nickname="admin")
        body = await accounts.create_organisation("核证机构", kind="verification_body")
        verifier = await accounts.create_user(role="verifier", phone=new_phone(),
                                              password=PASSWORD, nickname="verifier",
                                              organisation_id=body.id)
        citizen = await accounts.register(RegisterRequest(
            phone=new_phone(), password=PASSWORD, nickname="n", district="yuzhong",
            privacy_notice_version=CURRENT_NOTICE), verified=True)
        await credit(app, str(citizen.id), doc, "1000000", 3)
        async with app.state.db.connect() as conn:
            unreviewed = await conn.scalar(text("""
                INSERT INTO behaviours (id, citizen_id, type, occurred_at, programme_day,
                    district_code, source, evidence, idempotency_key, status, data,
                    methodology_id, methodology_code, methodology_version,
                    computed_reduction_g, computed_points, reduction_g, points)
                SELECT gen_random_uuid(), :c, 'verify_test', :at, :day, 'yuzhong', 'app',
                       'self_reported', 'k-1', 'credited',
                       '{"category": "other", "weight_kg": "0", "metered_g": "50000"}',
                       id, code, version, 50000, 0, 50000, 0
                  FROM methodology_versions WHERE code = 'CQ-VERIFYTEST'
                RETURNING id"""), {
                "c": citizen.id, "day": dt.date(LAST_YEAR, 6, 15),
                "at": dt.datetime(LAST_YEAR, 6, 15, 9, tzinfo=dt.UTC)})
        batch = await app.state.batches.propose(admin.id, BatchIn(
            methodology_code="CQ-VERIFYTEST", vintage_from=dt.date(LAST_YEAR, 1, 1),
            vintage_to=dt.date(LAST_YEAR, 12, 31)))
        await app.state.batches.verify(verifier.id, body.id, batch.id, VerificationIn())
        issued = await app.state.batches.issue(admin.id, batch.id)
        assert (issued.status, issued.quantity, issued.behaviours) == ("issued", 3, 3)
        assert (await app.state.registry.verify()).ok
    return {"batch": issued.id, "unreviewed": unreviewed}


# Each: the SQL that corrupts a copy (``:b`` the batch, ``:u`` the unreviewed self-report),
# the check that must fail, and what its message must say. Each keeps every other invariant
# (whole tonnes, allocations adding up), so only the check named can catch it.
CORRUPTIONS = {
    "an ineligible behaviour forced into the batch": ([
        "INSERT INTO credit_allocations (behaviour_id, batch_id, grams, line) "
        "VALUES (:u, :b, 50000, 4)",
        "UPDATE credit_batches SET allocated_g = allocated_g + 50000, "
        "carry_out_g = carry_out_g + 50000, behaviours = behaviours + 1 WHERE id = :b",
    ], "only eligible evidence", "self_reported without review"),
    "an allocated behaviour marked superseded": ([
        "UPDATE behaviours SET status = 'superseded' WHERE id = (SELECT behaviour_id "
        "FROM credit_allocations WHERE batch_id = :b AND line = 1)",
    ], "only eligible evidence", "is superseded"),
    "altered grams": ([
        "UPDATE behaviours SET reduction_g = reduction_g + 1000, "
        "computed_reduction_g = computed_reduction_g + 1000 WHERE id = (SELECT behaviour_id "
        "FROM credit_allocations WHERE batch_id = :b AND line = 2)",
        "UPDATE credit_allocations SET grams = grams + 1000 WHERE batch_id = :b AND line = 2",
        "UPDATE credit_batches SET allocated_g = allocated_g + 1000, "
        "carry_out_g = carry_out_g + 1000 WHERE id = :b",
    ], "grams recompute from inputs and the published version",
        "computes 1000000.000 g from its inputs"),
    "a factor changed in the published document": ([
        "ALTER TABLE methodology_versions DISABLE TRIGGER USER",
        "UPDATE methodology_versions SET document = jsonb_set(document, "
        "'{params,lca_net_g_per_kg,value}', '\"9165.6\"') WHERE code = 'CQ-VERIFYTEST'",
    ], "grams recompute from inputs and the published version", "hashes to"),
}


async def test_registry_verify_fails_copies_with_ineligible_evidence_or_altered_grams(
        storage, settings, monkeypatch):
    with fresh_database(storage.database_url) as original:
        made = await _build(settings, original)
        passed = await verify(monkeypatch, original)
        assert passed.exit_code == 0, passed.output
        for check in CHECKS:
            assert f"  {check}: ok" in passed.output
        assert "the 3 behaviour(s) they hold" in passed.output

        for name, (statements, check, says) in CORRUPTIONS.items():
            target = make_url(original).set(database=f"ci_copy_{secrets.token_hex(4)}")
            copy_url = target.render_as_string(hide_password=False)
            await _admin_sql(original, f'CREATE DATABASE "{target.database}" TEMPLATE '
                                       f'"{make_url(original).database}"')
            try:
                engine = create_async_engine(copy_url)
                try:
                    async with engine.begin() as conn:
                        for sql in statements:
                            await conn.execute(text(sql), {"b": made["batch"],
                                                           "u": made["unreviewed"]})
                finally:
                    await engine.dispose()
                broken = await verify(monkeypatch, copy_url)
                assert broken.exit_code == 1, (name, broken.output)
                failed = [line for line in broken.output.splitlines()
                          if line.startswith("FAIL ")]
                assert failed and all(line.startswith(f"FAIL {check}: ") for line in failed), (
                    name, broken.output)
                assert says in broken.output, (name, broken.output)
                assert f"  {check}: {len(failed)} problem(s)" in broken.output
            finally:
                await asyncio.to_thread(drop_database, copy_url)
        again = await verify(monkeypatch, original)  # the original was never touched
        assert again.exit_code == 0, again.output

