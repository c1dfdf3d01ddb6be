"""Personal data (PIPL): consent, export, deletion and retention, from the outside."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
import uuid

from click.testing import CliRunner
from sqlalchemy import text

from carbon_inclusion.cli import main
from tests.behaviours.conftest import Partner, bind, card, claim, days_ago, trip
from tests.conftest import _RUNNING, PASSWORD, new_phone, sign_in, verify_phone
from tests.events.test_events import EVENT, buy, org
from tests.registry.conftest import methodology
from tests.rewards.conftest import grant, make_reward, redeem

__all__ = ["methodology", "org"]  # fixtures, used by name

TRIP = {"mode": "metro", "distance_km": "12.5"}


async def register(client, *, version: int | None = None) -> tuple[dict, str]:
    phone = new_phone()
    body = {"phone": phone, "password": PASSWORD, "nickname": "低碳达人", "district": "yuzhong"}
    if version is not None:
        body["privacy_notice_version"] = version
    r = await client.post("/v1/auth/register", json=body)
    assert r.status_code == 201, r.text
    await verify_phone(_RUNNING["app"], client, phone)  # what the app does next
    return r.json(), phone


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def transit_partner(client, admin) -> Partner:
    r = await client.post("/v1/admin/partners/", headers=admin.headers, json={
        "id": "p-" + secrets.token_hex(4), "name": "重庆轨道交通", "kind": "transit"})
    assert r.status_code == 201, r.text
    return Partner(client, r.json())


class _As:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


# --- consent ----------------------------------------------------------------------------


async def test_the_notice_is_public_and_says_trips_are_sensitive(client):
    r = await client.get("/v1/privacy-notice")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 1 and body["effective_on"] == "2026-01-01"
    sensitive = body["notice"]["sensitive_personal_information"]
    assert "行踪轨迹" in sensitive["zh"] and "sensitive personal information" in sensitive["en"]
    assert body["notice"]["purposes"] and body["notice"]["retention"]["en"]


async def test_registration_records_consent_and_without_it_earning_waits(client):
    consented, phone = await register(client, version=1)
    user = _As(bearer(await sign_in(client, phone)))
    me = (await client.get("/v1/me", headers=user.headers)).json()
    assert me["consent_required"] is False
    export = (await client.get("/v1/me/export", headers=user.headers)).json()
    assert [c["version"] for c in export["consents"]] == [1]
    assert export["profile"]["id"] == consented["id"]

    wrong = await client.post("/v1/auth/register", json={
        "phone": new_phone(), "password": PASSWORD, "nickname": "x", "district": "yuzhong",
        "privacy_notice_version": 7})
    assert wrong.status_code == 422
    assert "privacy_notice_version" in {e["field"] for e in wrong.json()["errors"]}

    _, phone = await register(client)  # an older client: no version sent
    later = _As(bearer(await sign_in(client, phone)))
    assert (await client.get("/v1/me", headers=later.headers)).json()["consent_required"]
    refused = await claim(client, later, "transit_trip", days_ago(1), TRIP)
    assert refused.status_code == 403 and refused.json()["code"] == "consent_required"
    r = await client.post("/v1/me/consents", headers=later.headers, json={"version": 1})
    assert r.status_code == 201, r.text
    assert r.json()["consent_required"] is False
    assert (await client.get("/v1/me", headers=later.headers)).json()["consent_required"] is False
    assert (await claim(client, later, "transit_trip", days_ago(1), TRIP)).status_code == 201


async def test_a_new_notice_version_asks_again_and_earning_waits_for_it(
        app, client, citizen, tmp_path):
    accounts = app.state.accounts
    original = accounts.notices_dir
    v1 = json.loads((original / "notice-v1.json").read_text(encoding="utf-8"))
    (tmp_path / "notice-v1.json").write_text(json.dumps(v1), encoding="utf-8")
    v2 = v1 | {"version": 2, "effective_on": "2026-06-01"}
    (tmp_path / "notice-v2.json").write_text(json.dumps(v2), encoding="utf-8")
    # A third, not yet in force, is not asked for.
    v3 = v1 | {"version": 3, "effective_on": "2999-01-01"}
    (tmp_path / "notice-v3.json").write_text(json.dumps(v3), encoding="utf-8")
    assert (await client.get("/v1/me", headers=citizen.headers)).json()["consent_required"] is False
    accounts.notices_dir = tmp_path
    try:
        assert (await client.get("/v1/privacy-notice")).json()["version"] == 2
        assert (await client.get("/v1/me", headers=citizen.headers)).json()["consent_required"]
        refused = await claim(client, citizen, "transit_trip", days_ago(1), TRIP)
        assert refused.status_code == 403 and refused.json()["code"] == "consent_required"
        old = await client.post("/v1/me/consents", headers=citizen.headers, json={"version": 1})
        assert old.status_code == 422
        r = await client.post("/v1/me/consents", headers=citizen.headers, json={"version": 2})
        assert r.status_code == 201 and r.json()["version"] == 2
        me = (await client.get("/v1/me", headers=citizen.headers)).json()
        assert me["consent_required"] is False
        assert (await claim(client, citizen, "transit_trip", days_ago(1), TRIP)
                ).status_code == 201
        export = (await client.get("/v1/me/export", headers=citizen.headers)).json()
        assert [c["version"] for c in export["consents"]] == [1, 2]  # the history stays
    finally:
        accounts.notices_dir = original


async def test_a_partner_s_records_of_a_citizen_without_consent_are_neither_kept_nor_paid(
        app, client, admin):
    """A bound citizen who has not accepted the notice in force: the partner's records are
    refused per record (``consent_required``) and not stored; sent again after consent,
    they are credited."""
    who, phone = await register(client)  # no consent given at registration
    user = _As(bearer(await sign_in(client, phone)))
    partner = await transit_partner(client, admin)
    ref = card()
    # Binding pays nothing by itself, so it is allowed before consent.
    await bind(client, user, partner, ref)
    records = [trip(ref, days_ago(1)), trip(ref, days_ago(2))]
    r = await partner.push(records)
    assert r.status_code == 200, r.text
    assert [(x["status"], x["reason"]) for x in r.json()["results"]] == [
        ("rejected", "consent_required")] * 2
    async with app.state.db.engine.connect() as conn:
        kept = await conn.scalar(text(
            "SELECT count(*) FROM partner_records WHERE partner_id = :p"), {"p": partner.id})
        paid = await conn.scalar(text(
            "SELECT count(*) FROM behaviours WHERE citizen_id = :c"), {"c": who["id"]})
    assert (kept, paid) == (0, 0)
    assert (await client.post("/v1/me/consents", headers=user.headers,
                              json={"version": 1})).status_code == 201
    again = await partner.push(records)
    assert [x["status"] for x in again.json()["results"]] == ["credited"] * 2, again.text


async def test_records_that_waited_for_a_binding_are_dropped_if_its_citizen_has_not_consented(
        app, client, admin):
    _, phone = await register(client)
    user = _As(bearer(await sign_in(client, phone)))
    partner = await transit_partner(client, admin)
    ref = card()
    r = await partner.push([trip(ref, days_ago(1))])
    assert r.json()["results"][0]["status"] == "unbound"
    binding = await bind(client, user, partner, ref)
    assert binding["records_credited"] == 0
    async with app.state.db.engine.connect() as conn:
        kept = (await conn.execute(text(
            "SELECT status, occurred_at, received_at FROM partner_records WHERE partner_id = :p"),
            {"p": partner.id})).all()
    # What is kept, if anything, says which path the binding took (the flake's diagnosis).
    assert kept == [], (kept, binding)


# --- export -----------------------------------------------------------------------------


async def _with_data(app, client, admin, citizen, partner) -> dict[str, object]:
    """A binding, a partner trip, an app claim and a redemption with vouchers."""
    ref = card()
    binding = await bind(client, citizen, partner, ref)
    pushed = await partner.push([trip(ref, days_ago(2, hour=8))])
    assert pushed.status_code == 200, pushed.text
    claimed = await claim(client, citizen, "transit_trip", days_ago(1), TRIP)
    assert claimed.status_code == 201, claimed.text
    await grant(app, citizen.id, 500)
    reward = await make_reward(client, admin)
    redeemed = await redeem(client, citizen, reward["id"], quantity=2)
    assert redeemed.status_code == 201, redeemed.text
    return {"binding": binding["id"], "claim": claimed.json()["id"],
            "redemption": redeemed.json()["id"], "ref": ref}


async def test_export_has_every_own_record_and_nothing_of_anyone_elses(
        app, client, admin, make_citizen, seed_badges):
    partner = await transit_partner(client, admin)
    await seed_badges()
    a, b = await make_citizen(), await make_citizen()
    mine = await _with_data(app, client, admin, a, partner)
    theirs = await _with_data(app, client, admin, b, partner)

    r = await client.get("/v1/me/export", headers=a.headers)
    assert r.status_code == 200, r.text
    export = r.json()
    assert export["profile"]["id"] == a.id and export["profile"]["phone"].endswith(a.phone[-8:])
    assert "password_hash" not in export["profile"]
    assert [x["id"] for x in export["bindings"]] == [mine["binding"]]
    assert mine["claim"] in {x["id"] for x in export["behaviours"]}
    assert {x["source"] for x in export["behaviours"]} == {"app", "partner"}
    assert len(export["partner_records"]) == 1
    assert [x["id"] for x in export["redemptions"]] == [mine["redemption"]]
    assert len(export["redemptions"][0]["vouchers"]) == 2
    assert {x["kind"] for x in export["ledger_entries"]} >= {"behaviour_credit", "redemption"}
    assert export["wallet"]["balance"] == sum(x["points"] for x in export["ledger_entries"])
    assert export["badges"], "the first trip earns a seed badge"
    assert [x["version"] for x in export["consents"]] == [1]
    assert export["sessions"]  # the sign-in, never its secret

    dumped = r.text
    for value in (b.id, b.phone[-8:], theirs["binding"], theirs["claim"],
                  theirs["redemption"]):
        assert str(value) not in dumped, value
    other = (await client.get("/v1/me/export", headers=b.headers)).json()
    assert a.id not in json.dumps(other) and mine["claim"] not in json.dumps(other)


# --- deletion ---------------------------------------------------------------------------


async def _verify(monkeypatch, database_url: str):
    monkeypatch.setenv("DATABASE_URL", database_url)
    return await asyncio.to_thread(CliRunner().invoke, main, ["registry", "verify"])


async def test_deleting_an_account_erases_it_and_leaves_the_accounting_whole(
        app, client, admin, verifier, make_citizen, methodology, org, monkeypatch, settings):
    citizen = await make_citizen()
    partner = await transit_partner(client, admin)
    ref = card()
    await bind(client, citizen, partner, ref)
    assert (await partner.push([trip(ref, days_ago(2, hour=8))])).status_code == 200
    # The citizen's grams are in a batch, sold and retired on a certificate.
    event = (await client.post("/v1/events/", headers=org.headers, json=EVENT)).json()
    await buy(app, client, admin, verifier, citizen, methodology, org,
              event["footprint"]["credits_needed"])
    cert = (await client.post(f"/v1/events/{event['id']}/neutralize",
                              headers=org.headers)).json()
    before_cert = (await client.get(f"/v1/certificates/{cert['id']}")).json()
    async with app.state.db.engine.connect() as conn:
        entries_before = (await conn.execute(text(
            "SELECT id, points FROM journal_entries WHERE citizen_id = :c ORDER BY id"),
            {"c": citizen.id})).all()
        grams_before = await conn.scalar(text(
            "SELECT sum(reduction_g) FROM behaviours WHERE citizen_id = :c"), {"c": citizen.id})
    assert (await _verify(monkeypatch, settings.database_url)).exit_code == 0

    for body in ({"password": "not-the-password-1"}, {}):
        wrong = await client.request("DELETE", "/v1/me", headers=citizen.headers, json=body)
        assert wrong.status_code == 422, wrong.text
    gone = await client.request("DELETE", "/v1/me", headers=citizen.headers,
                                json={"password": PASSWORD})
    assert gone.status_code == 204, gone.text

    refused = await client.post("/v1/auth/token", json={"phone": citizen.phone,
                                                         "password": PASSWORD})
    assert refused.status_code == 401
    assert (await client.get("/v1/me", headers=citizen.headers)).status_code == 401
    again = await client.post("/v1/auth/refresh", json={"refresh_token": citizen.refresh_token})
    assert again.status_code == 401

    async with app.state.db.engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT status, nickname, phone_index, phone_ciphertext, password_hash FROM users "
            "WHERE id = :c"), {"c": citizen.id})).one()
        assert row.status == "deleted" and row.nickname.startswith("已注销用户-")
        # The phone is gone: nothing left to decrypt, and its blind index no longer matches.
        assert row.phone_ciphertext == b"" and not row.password_hash.startswith("$argon2")
        assert row.phone_index != app.state.accounts.phones.index(citizen.phone)
        assert await conn.scalar(text("SELECT count(*) FROM bindings WHERE citizen_id = :c"),
                                 {"c": citizen.id}) == 0
        assert await conn.scalar(text(
            "SELECT count(*) FROM refresh_tokens WHERE user_id = :c AND revoked_at IS NULL"),
            {"c": citizen.id}) == 0
        raw = (await conn.execute(text(
            "SELECT data FROM partner_records WHERE citizen_id = :c"), {"c": citizen.id})
               ).scalars().all()
        assert raw and all(d == {} for d in raw)
        entries_after = (await conn.execute(text(
            "SELECT id, points FROM journal_entries WHERE citizen_id = :c ORDER BY id"),
            {"c": citizen.id})).all()
        assert entries_after == entries_before
        assert await conn.scalar(text(
            "SELECT sum(reduction_g) FROM behaviours WHERE citizen_id = :c"),
            {"c": citizen.id}) == grams_before
    assert (await client.get(f"/v1/certificates/{cert['id']}")).json() == before_cert
    assert (await _verify(monkeypatch, settings.database_url)).exit_code == 0
    # The phone number is free again: its owner may register anew.
    fresh = await client.post("/v1/auth/register", json={
        "phone": citizen.phone, "password": PASSWORD, "nickname": "新用户",
        "district": "yuzhong", "privacy_notice_version": 1})
    assert fresh.status_code == 201 and fresh.json()["id"] != citizen.id
    # An administrator cannot bring a deleted account back.
    back = await client.post(f"/v1/admin/users/{citizen.id}/enable", headers=admin.headers)
    assert back.status_code == 404


async def test_deletion_needs_a_citizen_and_throttles_wrong_passwords(
        client, make_citizen, enterprise):
    assert (await client.request("DELETE", "/v1/me", headers=enterprise.headers,
                                 json={"password": PASSWORD})).status_code == 403
    citizen = await make_citizen()
    answers = await asyncio.gather(*[
        client.request("DELETE", "/v1/me", headers=citizen.headers,
                       json={"password": f"wrong-password-{n}"}) for n in range(12)])
    codes = sorted(r.status_code for r in answers)
    assert codes.count(422) == 5 and codes.count(429) == 7, codes  # five checked, no more
    assert (await client.get("/v1/me", headers=citizen.headers)).status_code == 200


# --- retention --------------------------------------------------------------------------


async def _old_trip(app, citizen_id: str, occurred_at: dt.datetime, data: dict) -> uuid.UUID:
    """A credited CQ-TRANSIT v2 partner trip as the pipeline stores it, with raw extras."""
    behaviour_id = uuid.uuid4()
    async with app.state.db.connect() as conn:
        version = (await conn.execute(text(
            "SELECT id FROM methodology_versions WHERE code = 'CQ-TRANSIT' AND version = 2")
        )).scalar_one()
        external = "old-" + secrets.token_hex(6)
        await conn.execute(text("""
            INSERT INTO behaviours (id, citizen_id, type, occurred_at, programme_day,
                district_code, source, evidence, partner_id, external_id, status, data,
                methodology_id, methodology_code, methodology_version, computed_reduction_g,
                computed_points, reduction_g, points)
            VALUES (:id, :c, 'transit_trip', :at, :day, 'yuzhong', 'partner',
                    'partner_verified', 'test', :ext, 'credited', CAST(:data AS jsonb),
                    :mid, 'CQ-TRANSIT', 2, 585.0, 58, 585.0, 0)"""), {
            "id": behaviour_id, "c": uuid.UUID(citizen_id), "at": occurred_at,
            "day": occurred_at.date(),
            "ext": external, "data": json.dumps(data), "mid": version})
        await conn.execute(text("""
            INSERT INTO partner_records (id, partner_id, external_id, ref_hash, type,
                occurred_at, data, status, citizen_id, behaviour_id)
            SELECT gen_random_uuid(), id, :ext, '\\x00', 'transit_trip', :at,
                   CAST(:data AS jsonb), 'credited', :c, :b FROM partners LIMIT 1"""), {
            "ext": external, "at": occurred_at, "data": json.dumps(data),
            "c": uuid.UUID(citizen_id), "b": behaviour_id})
    return behaviour_id


async def test_retention_reduces_old_trips_to_what_accounting_needs_twice_at_once_safely(
        app, client, admin, citizen, monkeypatch, settings):
    await transit_partner(client, admin)
    raw = {"mode": "metro", "distance_km": "12.5", "station_in": "小什字",
           "station_out": "沙坪坝", "line": "1", "lat": "29.56", "lng": "106.58",
           "card_ref": "CQ1234"}
    days = settings.trip_retention_days
    now = dt.datetime.now(dt.UTC)
    old = await _old_trip(app, citizen.id, now - dt.timedelta(days=days + 3), raw)
    young = await _old_trip(app, citizen.id, now - dt.timedelta(days=days - 3), raw)

    runs = await asyncio.gather(app.state.privacy.reduce(), app.state.privacy.reduce())
    assert sorted(r.behaviours for r in runs)[0] == 0  # the second found nothing left to do
    assert sum(r.behaviours for r in runs) >= 1
    async with app.state.db.engine.connect() as conn:
        rows = {r.id: r for r in await conn.execute(text(
            "SELECT id, data, reduction_g, points, type, programme_day, district_code, "
            "methodology_version FROM behaviours WHERE id IN (:a, :b)"),
            {"a": old, "b": young})}
        records = {r.behaviour_id: r.data for r in await conn.execute(text(
            "SELECT behaviour_id, data FROM partner_records WHERE behaviour_id IN (:a, :b)"),
            {"a": old, "b": young})}
    assert rows[old].data == {"mode": "metro", "distance_km": "12.5"}
    assert (rows[old].reduction_g, rows[old].type, rows[old].district_code,
            rows[old].methodology_version) == (585, "transit_trip", "yuzhong", 2)
    assert rows[young].data == raw and records[young] == raw
    assert records[old] == {}

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    cli = await asyncio.to_thread(CliRunner().invoke, main, ["privacy", "reduce"])
    assert cli.exit_code == 0, cli.output
    assert "reduced 0 behaviour(s)" in cli.output
