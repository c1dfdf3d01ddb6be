"""A batch's life: proposed (administrator) → verified or returned (verifier) → issued
(administrator), with only verified grams in it (issue #17).

Eligible evidence: a partner's record, or a self-report a person approved on review. A
self-report credited without review earns its points and stays out of every batch.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import secrets
import uuid
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from carbon_inclusion.errors import Forbidden
from carbon_inclusion.registry.schemas import ReturnIn, VerificationIn
from tests.behaviours.conftest import Partner, card, claim, days_ago
from tests.registry.conftest import (
    credit,
    issue,
    issue_batch,
    propose,
    return_batch,
    verify_batch,
    vintage,
)

# cq-waste-v1 (the registry fixture's copy): g CO2e per kg and the share credited by category.
LCA_G_PER_KG = Decimal("916.56")
SHARE = {"kitchen": Decimal("0.5"), "recyclable": Decimal("0.5"), "hazardous": Decimal("0.25"),
         "other": Decimal("0.1")}
SELF_REPORTED = Decimal("0.5")  # the evidence factor this module gives self-reports
MILLI = Decimal("0.001")  # the fixture's copy rounds to 0.001 g


def grams(kg: str, category: str, factor: Decimal) -> Decimal:
    """What the methodology credits, by hand: the reduction rounded to 0.001 g (half even),
    times the evidence factor, rounded again."""
    gross = (Decimal(kg) * LCA_G_PER_KG * SHARE[category]).quantize(MILLI, ROUND_HALF_EVEN)
    return (gross * factor).quantize(MILLI, ROUND_HALF_EVEN)


@pytest.fixture
async def self_reported_methodology(app, methodology) -> dict:
    """The test's own copy of the waste methodology, under a new code, whose self-reports are
    credited at once (half the grams, no review), like transit's: the kind a credit must
    not contain unless a person reviewed it. Its caps are out of the way."""
    doc = copy.deepcopy(methodology)
    tag = secrets.token_hex(3).upper()
    doc["code"], doc["behaviour"] = f"CQ-S{tag}", f"self_{tag.lower()}"
    doc["evidence"]["self_reported"] = {"factor": str(SELF_REPORTED), "review": False}
    doc["limits"] = {"per_day": {"count": 50, "points": 100000}}
    assert await app.state.methodologies.ensure_published(doc) == "published"
    return doc


def yesterday(hour: int, minute: int = 0) -> dt.datetime:
    return days_ago(1, hour=hour) + dt.timedelta(minutes=minute)


def one_day(doc: dict) -> dict:
    day = yesterday(0).date().isoformat()
    return {"methodology_code": doc["code"], "vintage_from": day, "vintage_to": day}


async def allocated(app, batch_id: str) -> dict[str, Decimal]:
    async with app.state.db.engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT behaviour_id, grams FROM credit_allocations WHERE batch_id = :b"),
            {"b": batch_id})
        return {str(r.behaviour_id): r.grams for r in rows}


async def audit_trail(app, batch_id: str) -> list[tuple[str, str | None]]:
    async with app.state.db.engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT action, actor_id, at FROM audit_log WHERE subject_type = 'credit_batch' "
            "AND subject_id = :b ORDER BY at, action"), {"b": batch_id})
        out = []
        for r in rows:
            assert r.at is not None
            out.append((r.action, str(r.actor_id) if r.actor_id else None))
        return out


async def test_only_partner_records_and_reviewed_self_reports_are_allocated(
        app, client, admin, verifier, make_citizen, self_reported_methodology):
    doc = self_reported_methodology
    kind = doc["behaviour"]
    a, b = await make_citizen(), await make_citizen()

    async def report(user, at: dt.datetime, category: str, kg: str) -> dict:
        r = await claim(client, user, kind, at, {"category": category, "weight_kg": kg})
        assert r.status_code == 201, r.text
        return r.json()

    a1 = await report(a, yesterday(8), "kitchen", "2.00")  # credited without review
    a2 = await report(a, yesterday(8, 5), "recyclable", "1.50")  # overlaps a1: reviewed
    a3 = await report(a, yesterday(8, 8), "other", "1.00")  # overlaps: rejected on review
    a4 = await report(a, yesterday(12), "hazardous", "0.80")  # credited, then rejected
    a5 = await report(a, yesterday(16), "kitchen", "1.00")  # credited without review
    a6 = await report(a, yesterday(16, 4), "kitchen", "0.60")  # waits for review, unreviewed
    b1 = await report(b, yesterday(9, 2), "kitchen", "10.00")  # superseded by the partner's
    b2 = await report(b, yesterday(20), "recyclable", "3.00")  # credited without review
    assert [x["status"] for x in (a1, a2, a3, a4, a5, a6, b1, b2)] == [
        "credited", "pending_review", "pending_review", "credited", "credited",
        "pending_review", "credited", "credited"]
    assert Decimal(a1["reduction_g"]) == grams("2.00", "kitchen", SELF_REPORTED)
    assert a1["points"] > 0 and b2["points"] > 0  # self-reports still earn points

    async def review(behaviour: dict, verdict: str) -> dict:
        r = await client.post(f"/v1/admin/reviews/{behaviour['id']}/{verdict}",
                              headers=admin.headers, json={"reason": "checked the photo"})
        assert r.status_code == 200, r.text
        return r.json()

    a2 = await review(a2, "approve")
    assert a2["status"] == "credited"
    assert Decimal(a2["reduction_g"]) == grams("1.50", "recyclable", SELF_REPORTED)
    assert (await review(a3, "reject"))["status"] == "rejected"
    assert (await review(a4, "reject"))["status"] == "rejected"

    r = await client.post("/v1/admin/partners/", headers=admin.headers, json={
        "id": "w-" + secrets.token_hex(4), "name": "两江垃圾分类站", "kind": "waste",
        "behaviour_types": [kind]})
    assert r.status_code == 201, r.text
    station = Partner(client, r.json())
    ref = card()
    bound = await client.post("/v1/bindings/", headers=b.headers, json={
        "partner_id": station.id, "external_ref": ref, "code": await station.code(ref)})
    assert bound.status_code == 201, bound.text
    drops = [(yesterday(9), "kitchen", "10.00"), (yesterday(13), "kitchen", "12.50"),
             (yesterday(17), "recyclable", "7.25")]
    pushed = await station.push([
        {"external_id": "d-" + secrets.token_hex(6), "external_ref": ref, "type": kind,
         "occurred_at": at.isoformat(), "data": {"category": c, "weight_kg": kg}}
        for at, c, kg in drops])
    assert pushed.status_code == 200 and pushed.json()["counts"] == {"credited": 3}, pushed.text
    day = yesterday(0).date()
    filler = await credit(app, b.id, doc, "1000000", 1, day=day)  # a tonne, partner-verified

    async with app.state.db.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT id, partner_id, status, reduction_g FROM behaviours "
            "WHERE methodology_code = :c"), {"c": doc["code"]})).all()
    by_id = {str(r.id): r for r in rows}
    assert by_id[b1["id"]].status == "superseded"
    stations = [r for r in rows if r.partner_id == station.id]
    assert sorted(r.reduction_g for r in stations) == sorted(
        grams(kg, c, Decimal(1)) for _, c, kg in drops)  # the partner's grams, by hand
    expected = {str(r.id): r.reduction_g for r in stations}
    expected[a2["id"]] = grams("1.50", "recyclable", SELF_REPORTED)
    expected |= {str(r.id): filler for r in rows if r.partner_id == "test"}
    total = sum(expected.values(), Decimal(0))

    proposed = await propose(client, admin, one_day(doc))
    assert proposed.status_code == 201, proposed.text
    batch = proposed.json()
    assert await allocated(app, batch["id"]) == expected  # the eligible ones, to the gram
    assert (Decimal(batch["allocated_g"]), batch["behaviours"], batch["quantity"]) == (
        total, 5, 1)
    assert (Decimal(batch["carry_in_g"]), Decimal(batch["carry_out_g"])) == (
        0, total - 1_000_000)
    for left_out in (a1, a5, b2):  # credited without review: still credited, still paid
        assert by_id[left_out["id"]].status == "credited"

    refused = await client.post(f"/v1/admin/reviews/{a2['id']}/reject", headers=admin.headers,
                                json={"reason": "changed my mind"})
    assert refused.status_code == 409 and refused.json()["code"] == "issued_as_credits"
    returned = await return_batch(client, verifier, batch["id"], ["the sample is too small"])
    assert returned.status_code == 200, returned.text
    assert (await review(a2, "reject"))["status"] == "rejected"  # released: reviewable again
    again = await propose(client, admin, one_day(doc))
    assert again.status_code == 201, again.text
    del expected[a2["id"]]
    assert await allocated(app, again.json()["id"]) == expected
    assert (await app.state.registry.verify()).problems == []


async def test_a_batch_goes_proposed_verified_issued_with_every_step_audited(
        app, client, admin, verifier, verification_body, citizen, methodology):
    await credit(app, citizen.id, methodology, "1000000", 2)
    await credit(app, citizen.id, methodology, "1234.5", 1)
    proposed = await propose(client, admin, vintage(methodology))
    assert proposed.status_code == 201, proposed.text
    b = proposed.json()
    assert (b["status"], b["serials"], b["quantity"], b["proposed_by"]) == (
        "proposed", None, 2, admin.id)
    assert (b["verified_by"], b["issued_by"], b["findings"]) == (None, None, [])
    batch_id = b["id"]

    async def public_sees() -> bool:
        one = await client.get(f"/v1/registry/batches/{batch_id}")
        listed = (await client.get("/v1/registry/batches", params={"limit": 100})).json()
        shown = batch_id in {x["id"] for x in listed["items"]}
        assert (one.status_code == 200) == shown, one.text
        assert one.status_code in (200, 404)
        return shown

    assert not await public_sees()
    for path, who in (("/v1/admin/credit-batches", admin),
                      ("/v1/verifier/batches", verifier)):
        page = (await client.get(path, headers=who.headers,
                                 params={"status": "proposed"})).json()
        assert batch_id in {x["id"] for x in page["items"]}
        assert {x["status"] for x in page["items"]} == {"proposed"}
        assert batch_id not in {x["id"] for x in (await client.get(
            path, headers=who.headers, params={"status": "issued"})).json()["items"]}
    read = await client.get(f"/v1/verifier/batches/{batch_id}", headers=verifier.headers)
    assert read.status_code == 200
    assert read.json()["provenance"]["by_type"][0]["behaviours"] == 3
    bad = await client.get("/v1/admin/credit-batches", headers=admin.headers,
                           params={"status": "pending"})
    assert bad.status_code == 422

    verified = await verify_batch(client, verifier, batch_id, "无保留意见")
    assert verified.status_code == 200, verified.text
    v = verified.json()
    assert (v["status"], v["verified_by"], v["verification_body_id"], v["verification_body"],
            v["verification_statement"], v["serials"]) == (
        "verified", verifier.id, verification_body["id"], verification_body["name"],
        "无保留意见", None)
    assert (await verify_batch(client, verifier, batch_id)).json() == v  # a retry: unchanged
    assert not await public_sees()

    issued = await issue(client, admin, batch_id)
    assert issued.status_code == 200, issued.text
    i = issued.json()
    method = methodology["code"].removeprefix("CQ-")
    assert i["serials"]["first"].startswith(f"CQTHT-{method}-") and i["quantity"] == 2
    assert (i["status"], i["issued_by"], i["available"]) == ("issued", admin.id, 2)
    assert dt.datetime.fromisoformat(i["issued_at"]) >= dt.datetime.fromisoformat(
        i["verified_at"]) >= dt.datetime.fromisoformat(i["created_at"])
    assert (await issue(client, admin, batch_id)).json() == i  # a retry: the same serials
    assert await public_sees()
    serial = (await client.get(f"/v1/registry/serials/{i['serials']['last']}")).json()
    assert serial["batch"]["verification_body"] == verification_body["name"]

    assert await audit_trail(app, batch_id) == [
        ("credit_batch.proposed", admin.id), ("credit_batch.verified", verifier.id),
        ("credit_batch.issued", admin.id)]


async def test_the_proposer_cannot_verify_and_a_verifier_can_neither_propose_nor_issue(
        app, client, admin, verifier, verification_body, citizen, methodology):
    await credit(app, citizen.id, methodology, "1000000", 1)
    assert (await propose(client, verifier, vintage(methodology))).status_code == 403
    b = (await propose(client, admin, vintage(methodology))).json()
    assert (await verify_batch(client, admin, b["id"])).status_code == 403
    assert (await return_batch(client, admin, b["id"], ["x"])).status_code == 403
    early = await issue(client, admin, b["id"])  # not verified yet
    assert early.status_code == 409, early.text
    assert (early.json()["code"], early.json()["batch_status"]) == (
        "batch_not_verified", "proposed")
    assert (await verify_batch(client, verifier, b["id"])).status_code == 200
    assert (await issue(client, verifier, b["id"])).status_code == 403
    assert (await issue(client, admin, b["id"])).status_code == 200

    # Whoever proposed never verifies, whatever their role: the service says so ...
    await credit(app, citizen.id, methodology, "1000000", 1)
    second = (await propose(client, admin, vintage(methodology))).json()
    body_id = uuid.UUID(verification_body["id"])
    for step in (app.state.batches.verify(uuid.UUID(admin.id), body_id, uuid.UUID(second["id"]),
                                          VerificationIn()),
                 app.state.batches.return_(uuid.UUID(admin.id), body_id,
                                           uuid.UUID(second["id"]), ReturnIn(findings=["x"]))):
        with pytest.raises(Forbidden) as refused:
            await step
        assert refused.value.code == "proposer_cannot_verify"
    # ... and so does the database.
    with pytest.raises(IntegrityError, match="ck_credit_batches_verifier_not_proposer"):
        async with app.state.db.connect() as conn:
            await conn.execute(text(
                "UPDATE credit_batches SET status = 'verified', verified_by = proposed_by, "
                "verified_at = now(), verification_body_id = :body WHERE id = :id"),
                {"id": second["id"], "body": body_id})
    assert (await app.state.batches.get(uuid.UUID(second["id"]))).status == "proposed"
    assert (await verify_batch(client, verifier, second["id"])).status_code == 200
    assert (await issue(client, admin, second["id"])).status_code == 200


async def test_a_returned_batch_releases_its_behaviours_and_gives_back_its_carry(
        app, client, admin, verifier, citizen, methodology):
    await credit(app, citizen.id, methodology, "500000", 3)
    first = await issue_batch(client, admin, verifier, vintage(methodology))
    assert (first["quantity"], Decimal(first["carry_out_g"])) == (1, 500000)

    await credit(app, citizen.id, methodology, "400000", 2)
    proposed = (await propose(client, admin, vintage(methodology))).json()
    assert (Decimal(proposed["carry_in_g"]), Decimal(proposed["allocated_g"]),
            Decimal(proposed["carry_out_g"]), proposed["behaviours"]) == (
        500000, 800000, 300000, 2)
    held = await allocated(app, proposed["id"])
    busy = await propose(client, admin, vintage(methodology))
    assert busy.status_code == 409, busy.text
    assert (busy.json()["code"], busy.json()["batch_id"]) == ("batch_in_progress",
                                                              proposed["id"])

    for findings in ([], [""], None):
        bad = await client.post(f"/v1/verifier/batches/{proposed['id']}/return",
                                headers=verifier.headers,
                                json={} if findings is None else {"findings": findings})
        assert bad.status_code == 422, bad.text
    findings = ["2 behaviours lack the station's weighing record",
                "the vintage's last week is missing from the partner's export"]
    returned = await return_batch(client, verifier, proposed["id"], findings)
    assert returned.status_code == 200, returned.text
    r = returned.json()
    assert (r["status"], r["findings"], r["returned_by"], r["serials"]) == (
        "returned", findings, verifier.id, None)
    assert r["provenance"]["by_type"][0]["behaviours"] == 2  # still readable: what it held
    assert await allocated(app, proposed["id"]) == {}
    assert (await return_batch(client, verifier, proposed["id"], ["another"])).json() == r
    assert (await verify_batch(client, verifier, proposed["id"])).json()["code"] == \
        "batch_not_proposed"
    assert (await issue(client, admin, proposed["id"])).json()["code"] == "batch_not_verified"
    assert (await client.get(f"/v1/registry/batches/{proposed['id']}")).status_code == 404
    admin_view = await client.get(f"/v1/admin/credit-batches/{proposed['id']}",
                                  headers=admin.headers)
    assert admin_view.json()["findings"] == findings

    await credit(app, citizen.id, methodology, "300000", 1)
    later = (await propose(client, admin, vintage(methodology))).json()
    taken = await allocated(app, later["id"])
    assert set(held) < set(taken) and len(taken) == 3  # the released ones, and the new one
    assert (Decimal(later["carry_in_g"]), Decimal(later["allocated_g"]),
            Decimal(later["carry_out_g"])) == (500000, 1100000, 600000)  # first's carry again
    assert (await verify_batch(client, verifier, later["id"])).status_code == 200
    assert (await issue(client, admin, later["id"])).json()["serials"]["first"].endswith(
        "-000002")
    assert (await app.state.registry.verify()).problems == []
    assert [a for a, _ in await audit_trail(app, proposed["id"])] == [
        "credit_batch.proposed", "credit_batch.returned"]


async def test_a_verification_racing_a_return_settles_the_batch_once(
        app, client, admin, verifier, make_user, verification_body, citizen, methodology):
    other = await make_user("verifier", organisation_id=verification_body["id"])
    await credit(app, citizen.id, methodology, "250000", 8)
    b = (await propose(client, admin, vintage(methodology))).json()
    answers = await asyncio.gather(*[
        verify_batch(client, verifier, b["id"]) if n % 2 else
        return_batch(client, other, b["id"], [f"finding {n}"]) for n in range(20)])
    assert {r.status_code for r in answers} <= {200, 409}
    final = (await app.state.batches.get(uuid.UUID(b["id"]))).status
    won = "verify" if final == "verified" else "return"
    for n, r in enumerate(answers):
        mine = "verify" if n % 2 else "return"
        assert r.status_code == (200 if mine == won else 409), (n, r.text)
    assert len(await allocated(app, b["id"])) == (8 if final == "verified" else 0)
    assert [a for a, _ in await audit_trail(app, b["id"])] == [
        "credit_batch.proposed", f"credit_batch.{final}"]
    assert (await app.state.registry.verify()).problems == []

