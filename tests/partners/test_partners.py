from __future__ import annotations

import json
import secrets
import time

import pytest

from carbon_inclusion.errors import Unauthenticated
from carbon_inclusion.security.secrets import sign_partner_request


@pytest.fixture
async def partner(client, admin):
    pid = "p-" + secrets.token_hex(4)
    r = await client.post("/v1/admin/partners/", headers=admin.headers,
                          json={"id": pid, "name": "重庆轨道交通", "kind": "transit"})
    assert r.status_code == 201, r.text
    return r.json()


def signed(secret: str, body: bytes, *, ts: int | None = None) -> tuple[str, str]:
    timestamp = str(int(time.time()) if ts is None else ts)
    return timestamp, sign_partner_request(secret, timestamp, body)


async def with_code(client, partner: dict, body: dict) -> dict:
    """``body`` with a one-time binding code the partner issued for its reference (what its
    own channel shows the card's holder): the binding it makes is confirmed."""
    raw = json.dumps({"external_ref": body["external_ref"]}).encode()
    ts, sig = signed(partner["secret"], raw)
    r = await client.post("/v1/partner/binding-codes", content=raw, headers={
        "X-Partner-Id": partner["id"], "X-Timestamp": ts, "X-Signature": sig,
        "Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    return {**body, "code": r.json()["code"]}


async def test_creating_a_partner_shows_its_secret_once(client, admin, partner):
    assert len(partner["secret"]) >= 40
    listed = (await client.get("/v1/admin/partners/", headers=admin.headers)).json()["items"]
    assert any(p["id"] == partner["id"] for p in listed)
    assert partner["secret"] not in str(listed)
    public = (await client.get("/v1/partners")).json()["items"]
    assert any(p["id"] == partner["id"] for p in public)


async def test_a_duplicate_partner_id_is_a_conflict(client, admin, partner):
    r = await client.post("/v1/admin/partners/", headers=admin.headers,
                          json={"id": partner["id"], "name": "again", "kind": "transit"})
    assert r.status_code == 409


@pytest.mark.parametrize("pid", ["A-Upper", "x", "has space", "-lead", "a" * 40])
async def test_partner_ids_are_slugs(client, admin, pid):
    r = await client.post("/v1/admin/partners/", headers=admin.headers,
                          json={"id": pid, "name": "n", "kind": "transit"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "id"


async def test_a_valid_signature_authenticates(app, partner):
    body = b'{"records": []}'
    ts, sig = signed(partner["secret"], body)
    who = await app.state.partners.authenticate(partner["id"], ts, sig, body)
    assert who.id == partner["id"]


@pytest.mark.parametrize("case", ["bad-signature", "tampered-body", "stale", "future",
                                  "unknown-partner", "missing-header", "not-a-number"])
async def test_bad_signatures_are_refused(app, partner, case):
    body = b'{"records": []}'
    ts, sig = signed(partner["secret"], body)
    pid = partner["id"]
    if case == "bad-signature":
        sig = "0" * 64
    elif case == "tampered-body":
        body = b'{"records": [1]}'
    elif case == "stale":
        ts, sig = signed(partner["secret"], body, ts=int(time.time()) - 301)
    elif case == "future":
        ts, sig = signed(partner["secret"], body, ts=int(time.time()) + 301)
    elif case == "unknown-partner":
        pid = "nobody-" + secrets.token_hex(2)
    elif case == "missing-header":
        sig = None
    elif case == "not-a-number":
        ts = "yesterday"
    with pytest.raises(Unauthenticated):
        await app.state.partners.authenticate(pid, ts, sig, body)


async def test_rotation_keeps_the_old_secret_valid_for_the_grace_period(client, app, admin,
                                                                        partner):
    r = await client.post(f"/v1/admin/partners/{partner['id']}/rotate-secret",
                          headers=admin.headers)
    assert r.status_code == 200
    new = r.json()["secret"]
    assert new != partner["secret"] and r.json()["previous_secret_valid_until"]
    body = b"{}"
    for secret in (partner["secret"], new):
        ts, sig = signed(secret, body)
        assert (await app.state.partners.authenticate(partner["id"], ts, sig, body)).id
    # A second rotation drops the first secret: only the last two are ever valid.
    await client.post(f"/v1/admin/partners/{partner['id']}/rotate-secret", headers=admin.headers)
    ts, sig = signed(partner["secret"], body)
    with pytest.raises(Unauthenticated):
        await app.state.partners.authenticate(partner["id"], ts, sig, body)


async def test_partner_secrets_are_not_stored_in_clear(app, partner):
    from sqlalchemy import text

    async with app.state.db.engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM partners WHERE id = :i"),
                                  {"i": partner["id"]})).mappings().one()
    assert partner["secret"] not in str(dict(row))


async def test_binding_a_card_masks_it_and_binds_it_to_one_citizen(client, partner,
                                                                   make_citizen):
    a, b = await make_citizen(), await make_citizen()
    body = {"partner_id": partner["id"], "external_ref": "CQ-CARD-12345678"}
    r = await client.post("/v1/bindings/", headers=a.headers,
                          json=await with_code(client, partner, body))
    assert r.status_code == 201, r.text
    assert r.json()["external_ref_masked"].endswith("5678")
    assert "12345678" not in r.text
    again = await client.post("/v1/bindings/", headers=a.headers,
                              json=await with_code(client, partner, body))
    assert again.status_code == 201 and again.json()["id"] == r.json()["id"]
    other = await client.post("/v1/bindings/", headers=b.headers,
                              json=await with_code(client, partner, body))
    assert other.status_code == 409
    assert other.json()["errors"][0]["field"] == "external_ref"
    listed = (await client.get("/v1/bindings/", headers=a.headers)).json()["items"]
    assert [x["id"] for x in listed] == [r.json()["id"]]
    assert (await client.get("/v1/bindings/", headers=b.headers)).json()["items"] == []
    # B cannot remove A's binding; A can, and then B may bind the card.
    assert (await client.delete(f"/v1/bindings/{r.json()['id']}",
                                headers=b.headers)).status_code == 404
    assert (await client.delete(f"/v1/bindings/{r.json()['id']}",
                                headers=a.headers)).status_code == 204
    assert (await client.post("/v1/bindings/", headers=b.headers,
                              json=await with_code(client, partner, body))).status_code == 201


async def test_binding_to_an_unknown_partner_names_the_field(client, citizen):
    r = await client.post("/v1/bindings/", headers=citizen.headers,
                          json={"partner_id": "nope", "external_ref": "12345678"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "partner_id"


async def test_concurrent_binds_of_one_card_by_two_citizens_leave_one_owner(
    client, partner, make_citizen
):
    import asyncio

    citizens = [await make_citizen() for _ in range(6)]
    body = {"partner_id": partner["id"], "external_ref": "RACE-" + secrets.token_hex(4)}
    bodies = [await with_code(client, partner, body) for _ in citizens]
    results = await asyncio.gather(*[
        client.post("/v1/bindings/", headers=c.headers, json=b)
        for c, b in zip(citizens, bodies, strict=True)
    ])
    assert sorted(r.status_code for r in results) == [201] + [409] * 5


async def test_the_ingestion_status_counts_what_a_partner_sent_and_what_waits(
        client, admin, make_citizen):
    """Kept records by status over 24 hours and 7 days, the latest, and the unbound ones a
    binding may still credit; another partner's records count nowhere."""
    from tests.behaviours.conftest import Partner, bind, card, days_ago, trip

    async def new_partner() -> Partner:
        r = await client.post("/v1/admin/partners/", headers=admin.headers, json={
            "id": "p-" + secrets.token_hex(4), "name": "重庆轨道交通", "kind": "transit"})
        assert r.status_code == 201, r.text
        return Partner(client, r.json())

    mine, other = await new_partner(), await new_partner()
    url = f"/v1/admin/partners/{mine.id}/ingestion"
    empty = (await client.get(url, headers=admin.headers)).json()
    assert (empty["last_received_at"], empty["last_24h"], empty["window"],
            empty["waiting_for_binding"]) == (None, {}, {}, 0)

    citizen = await make_citizen()
    bound, loose = card(), card()
    await bind(client, citizen, mine, bound)
    sent = await mine.push([trip(bound, days_ago(1)), trip(bound, days_ago(2)),
                            trip(loose, days_ago(1))])
    assert [x["status"] for x in sent.json()["results"]] == ["credited", "credited", "unbound"]
    await other.push([trip(card(), days_ago(1))])

    status = (await client.get(url, headers=admin.headers)).json()
    assert status["last_24h"] == status["window"] == {"credited": 2, "unbound": 1}
    assert status["waiting_for_binding"] == 1 and status["last_received_at"] is not None
    assert status["window_days"] == 7

    unknown = await client.get("/v1/admin/partners/no-such-partner/ingestion",
                               headers=admin.headers)
    assert unknown.status_code == 404, unknown.text
    assert unknown.headers["content-type"].startswith("application/problem+json")
