"""Provenance to the behaviour (issue #17): a batch's behaviour list (pseudonymous, paged,
CSV) and its monitoring report (JSON and PDF), public once the batch is issued."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import secrets
import uuid
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import text

from carbon_inclusion.security.secrets import derive_key
from tests.registry.conftest import (
    LAST_YEAR,
    credit,
    issue,
    issue_batch,
    propose,
    return_batch,
    verify_batch,
    vintage,
)

D1, D2, D3 = dt.date(LAST_YEAR, 3, 1), dt.date(LAST_YEAR, 3, 2), dt.date(LAST_YEAR, 4, 1)
CARD, STATION = "CARD-SECRET-7734", "小什字站"


async def put(app, citizen_id: str, methodology: dict, *, grams: str | None = None,
              data: dict | None = None, day: dt.date, district: str = "yuzhong",
              evidence: str = "partner_verified", partner: str | None = "test",
              status: str = "credited", reviewed_by: str | None = None,
              reason: str | None = None, n: int = 1) -> list[uuid.UUID]:
    """``n`` behaviours stored as the pipeline stores them: ``grams`` metered (the fixture
    methodology's extra input) or computed from ``data``."""
    doc_data = data or {"category": "other", "weight_kg": "0", "metered_g": grams}
    computed = Decimal(grams) if grams is not None else (
        Decimal(data["weight_kg"]) * Decimal("916.56") * Decimal("0.5"))  # kitchen, v1
    app_source = partner is None
    async with app.state.db.connect() as conn:
        version = (await conn.execute(text(
            "SELECT id, version FROM methodology_versions WHERE code = :c"),
            {"c": methodology["code"]})).one()
        rows = await conn.execute(text("""
            INSERT INTO behaviours (id, citizen_id, type, occurred_at, programme_day,
                district_code, source, evidence, partner_id, external_id, idempotency_key,
                status, reason, data, methodology_id, methodology_code, methodology_version,
                computed_reduction_g, computed_points, reduction_g, points, reviewed_by,
                decided_at, created_at)
            SELECT gen_random_uuid(), :c, :type, :at, :day, :district,
                   CASE WHEN :app THEN 'app' ELSE 'partner' END, :evidence, :partner,
                   CASE WHEN :app THEN NULL ELSE 'x-' || gen_random_uuid() END,
                   CASE WHEN :app THEN 'k-' || gen_random_uuid() END,
                   :status, :reason, CAST(:data AS jsonb), :mid, :code, :v, :g, 0,
                   :paid, 0, :reviewer,
                   :decided, :decided
              FROM generate_series(1, :n) RETURNING id"""), {
            "c": uuid.UUID(citizen_id), "type": methodology["behaviour"],
            "at": dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC), "day": day,
            "district": district, "app": app_source, "evidence": evidence,
            "partner": partner, "status": status, "reason": reason,
            "data": json.dumps(doc_data), "mid": version.id, "code": methodology["code"],
            "v": version.version, "g": computed,
            "paid": computed if status == "credited" else Decimal(0),
            "reviewer": uuid.UUID(reviewed_by) if reviewed_by else None,
            "decided": dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), "n": n})
        return list(rows.scalars())


def carry(report: dict) -> tuple[str | None, Decimal, Decimal]:
    c = report["carry"]
    return c["previous_batch_id"], Decimal(c["carry_in_g"]), Decimal(c["carry_out_g"])


async def pages(client, path: str, headers: dict, limit: int) -> list[dict]:
    items, cursor = [], None
    while True:
        r = await client.get(path, headers=headers,
                             params={"limit": limit} | ({"cursor": cursor} if cursor else {}))
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


@pytest.fixture
async def station(client, admin) -> dict:
    r = await client.post("/v1/admin/partners/", headers=admin.headers, json={
        "id": "w-" + secrets.token_hex(4), "name": "两江垃圾分类站", "kind": "waste"})
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_batch_lists_every_behaviour_pseudonymously_and_its_report_says_whence(
        app, client, admin, verifier, verification_body, make_citizen, methodology, station,
        settings):
    a = await make_citizen(nickname="秘密昵称甲")
    b = await make_citizen(district="jiangbei", nickname="秘密昵称乙")
    w = station["id"]
    await put(app, a.id, methodology, grams="10000", day=D1, partner=w, n=100)
    await put(app, b.id, methodology, grams="8000", day=D2, district="jiangbei", partner=w,
              n=50)
    big = await put(app, a.id, methodology, grams="900000", day=D2)  # the outlier
    raw = await put(app, a.id, methodology, day=D1, partner=w, data={  # stored with extras
        "category": "kitchen", "weight_kg": "10.00", "metered_g": "0", "card_ref": CARD,
        "station_in": STATION})
    await put(app, a.id, methodology, grams="5000", day=D2, evidence="self_reported",
              partner=None, reviewed_by=admin.id)  # approved on review: in the batch
    await put(app, a.id, methodology, grams="3000", day=D2, evidence="self_reported",
              partner=None, n=2)  # credited without review: left out
    await put(app, b.id, methodology, grams="7000", day=D1, evidence="self_reported",
              partner=None, status="rejected", reason="rejected_on_review",
              reviewed_by=admin.id)  # rejected on review: left out
    total = Decimal(1_000_000 + 400_000 + 900_000 + 5000) + Decimal("4582.8")

    proposed = await propose(client, admin, vintage(methodology))
    assert proposed.status_code == 201, proposed.text
    batch = proposed.json()
    bid = batch["id"]
    report = batch["report"]  # the proposal answers with its monitoring report
    assert (report["status"], report["behaviours"], Decimal(report["allocated_g"])) == (
        "proposed", 153, total)
    assert batch["report_url"].endswith(f"/v1/admin/credit-batches/{bid}/report")
    for path in (f"/v1/registry/batches/{bid}/report", f"/v1/registry/batches/{bid}/behaviours",
                 f"/v1/registry/batches/{bid}/report/pdf",
                 f"/v1/registry/batches/{bid}/behaviours.csv"):
        assert (await client.get(path)).status_code == 404, path  # not public before issue
    seen = await client.get(f"/v1/verifier/batches/{bid}/behaviours", headers=verifier.headers)
    assert seen.status_code == 200 and len(seen.json()["items"]) == 20
    assert (await client.get(f"/v1/verifier/batches/{bid}/report",
                             headers=verifier.headers)).json()["status"] == "proposed"
    assert (await verify_batch(client, verifier, bid, "抽查无误")).status_code == 200
    assert (await issue(client, admin, bid)).status_code == 200
    public = (await client.get(f"/v1/registry/batches/{bid}")).json()
    assert public["report_url"].endswith(f"/v1/registry/batches/{bid}/report")
    assert public["behaviours_url"].endswith(f"/v1/registry/batches/{bid}/behaviours")

    # --- the behaviour list -----------------------------------------------------------
    items = await pages(client, f"/v1/registry/batches/{bid}/behaviours", {}, 40)
    assert [i["line"] for i in items] == list(range(1, 154))
    assert sum(Decimal(i["grams"]) for i in items) == total == Decimal(public["allocated_g"])
    assert [i["programme_day"] for i in items] == sorted(i["programme_day"] for i in items)
    key = derive_key(settings.secret_key, "batch-pseudonyms")

    def pseudonym(batch_id: str, citizen_id: str) -> str:
        return hmac.new(key, uuid.UUID(batch_id).bytes + uuid.UUID(citizen_id).bytes,
                        hashlib.sha256).hexdigest()[:16]

    assert {i["citizen"] for i in items} == {pseudonym(bid, a.id), pseudonym(bid, b.id)}
    assert sum(i["citizen"] == pseudonym(bid, b.id) for i in items) == 50
    extras = next(i for i in items if i["inputs"]["category"] == "kitchen")
    assert extras["inputs"] == {"category": "kitchen", "metered_g": "0", "weight_kg": "10.00"}
    assert (extras["grams"], extras["partner_id"], extras["evidence"]) == (
        "4582.800", w, "partner_verified")
    reviewed = next(i for i in items if i["evidence"] == "self_reported")
    assert (reviewed["reviewed"], reviewed["source"], reviewed["partner_id"]) == (
        True, "app", None)
    async with app.state.db.engine.connect() as conn:
        held = [str(x) for x in (await conn.execute(text(
            "SELECT behaviour_id FROM credit_allocations WHERE batch_id = :b"),
            {"b": bid})).scalars()]
    assert str(raw[0]) in held and len(held) == 153
    shown = json.dumps(items, ensure_ascii=False)
    for secret in (a.id, b.id, a.phone, b.phone, "秘密昵称甲", "秘密昵称乙", CARD, STATION,
                   "card_ref", "station_in", *held):
        assert secret not in shown, secret

    as_csv = await client.get(f"/v1/registry/batches/{bid}/behaviours.csv")
    negotiated = await client.get(f"/v1/registry/batches/{bid}/behaviours",
                                  headers={"Accept": "text/csv"})
    assert as_csv.status_code == negotiated.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text == negotiated.text
    assert as_csv.text.startswith("\ufeffline,citizen,")  # the house CSV (web/csv.py)
    rows = list(csv.DictReader(io.StringIO(as_csv.text.removeprefix("\ufeff"))))
    assert [int(r["line"]) for r in rows] == list(range(1, 154))
    assert sum(Decimal(r["grams"]) for r in rows) == total
    assert [r["citizen"] for r in rows] == [i["citizen"] for i in items]
    assert json.loads(rows[items.index(extras)]["inputs"]) == extras["inputs"]
    assert not any(s in as_csv.text for s in (a.id, CARD, STATION, *held))

    # --- the monitoring report ----------------------------------------------------------
    r = (await client.get(f"/v1/registry/batches/{bid}/report")).json()
    assert (r["quantity"], r["behaviours"], r["status"]) == (2, 153, "issued")
    assert r["serials"] == public["serials"]
    assert carry(r) == (None, 0, total - 2_000_000)
    assert r["verification"]["statement"] == "抽查无误"
    assert r["verification"]["verification_body"] == verification_body["name"]

    def shares(name: str) -> dict[str, tuple[int, Decimal]]:
        return {s["key"]: (s["behaviours"], Decimal(s["grams"])) for s in r[name]}

    assert shares("by_evidence") == {"partner_verified": (152, total - 5000),
                                     "self_reported": (1, Decimal(5000))}
    assert shares("by_district") == {
        "yuzhong": (103, total - 400_000), "jiangbei": (50, Decimal(400_000))}
    assert shares("by_day") == {D1.isoformat(): (101, Decimal("1004582.8")),
                                D2.isoformat(): (52, Decimal(400_000 + 900_000 + 5000))}
    assert [s["key"] for s in r["by_day"]] == [D1.isoformat(), D2.isoformat()]
    assert shares("by_type") == {methodology["behaviour"]: (153, total)}
    assert {p["partner_id"]: (p["name"], p["behaviours"], Decimal(p["grams"]))
            for p in r["partners"]} == {
        w: ("两江垃圾分类站", 151, Decimal("1404582.8")), "test": ("test", 1, Decimal(900_000))}
    # 153 values; 99th percentile, nearest rank: the 152nd smallest (ceil(0.99 × 153)),
    # a 10000 g one; only the 900000 g one lies above it.
    (group,) = r["outliers"]["groups"]
    assert (Decimal(group["percentile"]), Decimal(group["threshold_g"]),
            group["behaviours"], Decimal(group["grams"])) == (99, 10000, 1, 900_000)
    (largest,) = group["largest"]
    assert items[largest["line"] - 1] == largest and largest["grams"] == "900000.000"
    assert "percentile" in r["outliers"]["definition"]
    async with app.state.db.engine.connect() as conn:
        assert await conn.scalar(text(
            "SELECT line FROM credit_allocations WHERE behaviour_id = :b"),
            {"b": big[0]}) == largest["line"]
    assert r["excluded"]["rejected_on_review"] == {"behaviours": 1, "grams": "7000.000"}
    assert r["excluded"]["unreviewed_self_reports"] == {"behaviours": 2, "grams": "6000.000"}
    (m,) = r["methodologies"]
    assert (m["code"], m["version"], m["formula"]) == (
        methodology["code"], 1, methodology["reduction_g"]["formula"])
    assert {p["name"]: p["source"] for p in m["params"]} == {
        name: p["source"] for name, p in methodology["params"].items()}
    assert (m["behaviours"], Decimal(m["grams"]), m["plausibility_percentile"]) == (
        153, total, "99")
    assert m["document_url"].endswith(f"/v1/methodologies/{methodology['code']}/versions/1")

    for pdf in (await client.get(f"/v1/registry/batches/{bid}/report/pdf"),
                await client.get(f"/v1/registry/batches/{bid}/report",
                                 headers={"Accept": "application/pdf"})):
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
        assert pdf.headers["content-type"] == "application/pdf"
        words = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        for expected in ("Monitoring report", bid, "两江垃圾分类站", "By programme day",
                         "900,000", "Outliers", "Rejected on review",
                         methodology["params"]["lca_net_g_per_kg"]["source"][:30]):
            assert expected in words.replace("\n", " "), expected

    # --- the next batch: the carry, other pseudonyms, a cursor of its own ---------------
    await credit(app, a.id, methodology, "1000000", 1, day=D3)
    second = (await propose(client, admin, vintage(methodology))).json()
    assert carry(second["report"]) == (bid, total - 2_000_000, total - 2_000_000)
    path = f"/v1/verifier/batches/{second['id']}/behaviours"
    (only,) = (await client.get(path, headers=verifier.headers)).json()["items"]
    assert only["citizen"] == pseudonym(second["id"], a.id) != pseudonym(bid, a.id)
    first_page = (await client.get(f"/v1/registry/batches/{bid}/behaviours",
                                   params={"limit": 1})).json()
    alien = await client.get(path, headers=verifier.headers,
                             params={"cursor": first_page["next_cursor"]})
    assert alien.status_code == 422 and alien.json()["errors"][0]["field"] == "cursor"
    # Returned, the batch still lists what it held (released), for its findings.
    assert (await return_batch(client, verifier, second["id"], ["re-meter"])).status_code == 200
    after = (await client.get(path, headers=verifier.headers)).json()["items"]
    assert after == [only]
    report = (await client.get(f"/v1/admin/credit-batches/{second['id']}/report",
                               headers=admin.headers)).json()
    assert (report["status"], report["behaviours"], report["verification"]["findings"]) == (
        "returned", 1, ["re-meter"])
    assert (await app.state.registry.verify()).problems == []


async def test_a_batch_without_outliers_of_its_own_says_so_and_its_list_is_one_page(
        app, client, admin, verifier, citizen, methodology):
    await credit(app, citizen.id, methodology, "500000", 2)
    batch = await issue_batch(client, admin, verifier, vintage(methodology))
    r = (await client.get(f"/v1/registry/batches/{batch['id']}/report")).json()
    (group,) = r["outliers"]["groups"]
    assert (group["behaviours"], group["largest"], Decimal(group["threshold_g"])) == (
        0, [], 500_000)
    listed = (await client.get(f"/v1/registry/batches/{batch['id']}/behaviours")).json()
    assert listed["next_cursor"] is None and len(listed["items"]) == 2
    assert (await client.get(f"/v1/registry/batches/{uuid.uuid4()}/report")).status_code == 404
