"""The register of verified emissions: entered by verifiers only, corrected by revisions that
supersede (never edits), every entry audited, read by the verifier, the organisation itself
and administrators."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.behaviours.conftest import SHANGHAI
from tests.emissions.conftest import enter, key, register

THIS_YEAR = dt.datetime.now(SHANGHAI).year
LAST_YEAR = THIS_YEAR - 1


async def audit_rows(app, entry_ids: list[str]) -> list:
    async with app.state.db.connect() as conn:
        return list((await conn.execute(text(
            "SELECT * FROM audit_log WHERE subject_type = 'verified_emissions' "
            "AND subject_id = ANY(:ids) ORDER BY at, id"), {"ids": entry_ids})).all())


async def test_a_verifier_enters_verified_emissions_and_everyone_concerned_reads_them(
        app, client, verifier, verification_body, buyer, admin):
    org_id = buyer.extra["organisation"]["id"]
    k = key()
    r = await enter(client, verifier, org_id, LAST_YEAR, "20", k,
                    report_reference="CQ-MRV-2026-0042", verified_on=f"{THIS_YEAR}-03-31")
    assert r.status_code == 201, r.text
    assert r.headers["Idempotent-Replayed"] == "false"
    entry = r.json()
    assert (entry["organisation_id"], entry["year"], entry["revision"], entry["status"]) == (
        org_id, LAST_YEAR, 1, "current")
    assert Decimal(entry["verified_emissions_t"]) == 20
    assert (entry["report_reference"], entry["verified_on"]) == (
        "CQ-MRV-2026-0042", f"{THIS_YEAR}-03-31")
    assert entry["verification_body"] == {"id": verification_body["id"],
                                          "name": verification_body["name"]}
    assert (entry["entered_by"], entry["supersedes"], entry["superseded_by"]) == (
        verifier.id, None, None)

    again = await enter(client, verifier, org_id, LAST_YEAR, "20.000", k,
                        report_reference="CQ-MRV-2026-0042", verified_on=f"{THIS_YEAR}-03-31")
    assert (again.status_code, again.json()) == (201, entry)  # the same figure, written otherwise
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await enter(client, verifier, org_id, LAST_YEAR, "21", k)
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")

    for reader in (verifier, buyer, admin):
        r = await register(client, reader, org_id)
        assert r.status_code == 200, (reader.role, r.text)
        body = r.json()
        assert (body["organisation_id"], Decimal(body["cap_share"]), body["next_cursor"]) == (
            org_id, Decimal("0.05"), None)
        [year] = body["items"]
        assert (year["year"], Decimal(year["verified_emissions_t"]), year["cap_t"],
                year["offset_t"], year["remaining_t"]) == (LAST_YEAR, 20, 1, 0, 1)
        assert year["entries"] == [entry]

    [audited] = await audit_rows(app, [entry["id"]])
    assert (str(audited.actor_id), audited.action) == (verifier.id, "emissions.registered")
    assert audited.details | {"verification_body_id": None} == {
        "organisation_id": org_id, "year": LAST_YEAR, "revision": 1,
        "verified_emissions_t": "20.000", "previous_t": None, "supersedes": None,
        "report_reference": "CQ-MRV-2026-0042", "verified_on": f"{THIS_YEAR}-03-31",
        "reason": None, "verification_body_id": None}
    assert audited.details["verification_body_id"] == verification_body["id"]
    assert abs(audited.at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


async def test_only_a_verifier_enters_emissions(client, buyer, admin, citizen, verifier):
    org_id = buyer.extra["organisation"]["id"]
    for who in (buyer, admin, citizen):
        r = await enter(client, who, org_id, LAST_YEAR, "20")
        assert r.status_code == 403, (who.role, r.text)
    r = await client.post(f"/v1/verifier/organisations/{org_id}/emissions",
                          json={"year": LAST_YEAR, "verified_emissions_t": "20"},
                          headers={"Idempotency-Key": key()})
    assert r.status_code == 401
    # Nor does anyone but the verifier, an administrator and the organisation read it here.
    for who in (buyer, citizen):
        r = await client.get(f"/v1/verifier/organisations/{org_id}/emissions",
                             headers=who.headers)
        assert r.status_code == 403, (who.role, r.text)
    assert (await client.get("/v1/organisation/emissions",
                             headers=verifier.headers)).status_code == 403
    assert (await register(client, verifier, org_id)).json()["items"] == []


async def test_a_correction_is_a_new_revision_that_supersedes_and_history_stays(
        app, client, verifier, buyer):
    org_id = buyer.extra["organisation"]["id"]
    first = (await enter(client, verifier, org_id, LAST_YEAR, "20")).json()

    no_reason = await enter(client, verifier, org_id, LAST_YEAR, "40")
    assert (no_reason.status_code, no_reason.json()["code"]) == (
        422, "correction_reason_required")
    assert [e["field"] for e in no_reason.json()["errors"]] == ["reason"]
    same = await enter(client, verifier, org_id, LAST_YEAR, "20.0", reason="re-checked")
    assert (same.status_code, same.json()["code"]) == (409, "emissions_unchanged")

    r = await enter(client, verifier, org_id, LAST_YEAR, "40",
                    reason="the report omitted the boiler house", report_reference="R-2")
    assert r.status_code == 201, r.text
    second = r.json()
    assert (second["revision"], second["supersedes"], second["status"]) == (
        2, first["id"], "current")

    year = (await register(client, buyer)).json()["items"][0]
    assert (Decimal(year["verified_emissions_t"]), year["cap_t"]) == (40, 2)
    assert [(e["id"], e["status"], e["superseded_by"]) for e in year["entries"]] == [
        (second["id"], "current", None), (first["id"], "superseded", second["id"])]
    assert Decimal(year["entries"][1]["verified_emissions_t"]) == 20  # the old figure stays

    async with app.state.db.connect() as conn:  # never edited, never deleted
        for statement in ("UPDATE verified_emissions SET verified_emissions_t = 1 WHERE id = :id",
                          "DELETE FROM verified_emissions WHERE id = :id"):
            with pytest.raises(DBAPIError, match="append-only"):
                async with conn.begin_nested():
                    await conn.execute(text(statement), {"id": uuid.UUID(first["id"])})

    audited = await audit_rows(app, [first["id"], second["id"]])
    assert [(a.action, a.subject_id, str(a.actor_id)) for a in audited] == [
        ("emissions.registered", first["id"], verifier.id),
        ("emissions.corrected", second["id"], verifier.id)]
    assert (audited[1].details["previous_t"], audited[1].details["supersedes"],
            audited[1].details["reason"]) == ("20.000", first["id"],
                                              "the report omitted the boiler house")


async def test_concurrent_corrections_of_one_year_chain_one_after_another(
        client, verifier, buyer):
    org_id = buyer.extra["organisation"]["id"]
    answers = await asyncio.gather(*(
        enter(client, verifier, org_id, LAST_YEAR, str(100 + i), reason=f"revision by {i}")
        for i in range(10)))
    assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers]
    entries = (await register(client, verifier, org_id)).json()["items"][0]["entries"]
    assert [e["revision"] for e in entries] == list(range(10, 0, -1))
    assert [e["supersedes"] for e in entries] == [e["id"] for e in entries[1:]] + [None]
    assert [e["status"] for e in entries] == ["current"] + ["superseded"] * 9


async def test_bad_entries_are_422_naming_the_field_and_change_nothing(
        client, verifier, buyer, verification_body):
    org_id = buyer.extra["organisation"]["id"]
    cases = [({"year": 1999}, "year"), ({"year": 2101}, "year"), ({"year": "2025"}, "year"),
             ({"year": "5_0"}, "year"), ({"year": THIS_YEAR + 1}, "year"),
             ({"year": 10**30}, "year"),
             ({"verified_emissions_t": "-1"}, "verified_emissions_t"),
             ({"verified_emissions_t": "0"}, "verified_emissions_t"),
             ({"verified_emissions_t": "NaN"}, "verified_emissions_t"),
             ({"verified_emissions_t": "Infinity"}, "verified_emissions_t"),
             ({"verified_emissions_t": "1e999999"}, "verified_emissions_t"),
             ({"verified_emissions_t": 1e300}, "verified_emissions_t"),
             ({"verified_emissions_t": "1000000000.001"}, "verified_emissions_t"),
             ({"verified_emissions_t": "20.0001"}, "verified_emissions_t"),
             ({"verified_emissions_t": "twenty"}, "verified_emissions_t"),
             ({"verified_emissions_t": True}, "verified_emissions_t"),
             ({"verified_on": f"{THIS_YEAR + 1}-01-01"}, "verified_on"),
             ({"verified_on": f"{LAST_YEAR - 1}-12-31"}, "verified_on"),
             ({"verified_on": "yesterday"}, "verified_on"),
             ({"report_reference": ""}, "report_reference"),
             ({"report_reference": "x" * 201}, "report_reference"),
             ({"reason": "x"}, "reason"), ({"tonnes": 5}, "tonnes")]
    for change, field in cases:
        r = await client.post(f"/v1/verifier/organisations/{org_id}/emissions",
                              headers={**verifier.headers, "Idempotency-Key": key()},
                              json={"year": LAST_YEAR, "verified_emissions_t": "20"} | change)
        assert r.status_code == 422, (change, r.text)
        assert field in {e["field"] for e in r.json()["errors"]}, (change, r.json())
    r = await client.post(f"/v1/verifier/organisations/{org_id}/emissions",
                          headers=verifier.headers,
                          json={"year": LAST_YEAR, "verified_emissions_t": "20"})
    assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "Idempotency-Key")
    for nowhere in (str(uuid.uuid4()), verification_body["id"]):  # not an enterprise
        r = await enter(client, verifier, nowhere, LAST_YEAR, "20")
        assert r.status_code == 404, r.text
        assert (await register(client, verifier, nowhere)).status_code == 404
    assert (await register(client, verifier, org_id)).json()["items"] == []


async def test_the_register_pages_by_year_newest_first(client, verifier, buyer, admin):
    org_id = buyer.extra["organisation"]["id"]
    for year in (LAST_YEAR - 2, LAST_YEAR, LAST_YEAR - 1):
        assert (await enter(client, verifier, org_id, year, "1000")).status_code == 201
    await enter(client, verifier, org_id, LAST_YEAR - 1, "1200", reason="late fuel invoices")
    first = (await register(client, admin, org_id, limit=2)).json()
    assert [(y["year"], len(y["entries"])) for y in first["items"]] == [
        (LAST_YEAR, 1), (LAST_YEAR - 1, 2)]
    assert first["items"][1]["cap_t"] == 60  # 5 % of the current 1,200 t
    rest = (await register(client, admin, org_id, limit=2, cursor=first["next_cursor"])).json()
    assert ([y["year"] for y in rest["items"]], rest["next_cursor"]) == ([LAST_YEAR - 2], None)
    for bad in ({"cursor": "bm9wZQ"}, {"limit": 0}, {"limit": 101}, {"cursor": "\u00ff"}):
        r = await register(client, admin, org_id, **bad)
        assert r.status_code == 422, (bad, r.text)
