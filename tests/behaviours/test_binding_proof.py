"""Issue #16 item 2: a binding pays only once the partner confirms it (a one-time code its
own channel shows the card's holder, or its signed confirmation); binding attempts are
throttled per citizen and never say whether a reference is bound elsewhere."""

from __future__ import annotations

import asyncio
import secrets

from tests.behaviours.conftest import balance, bind, card, days_ago, trip


async def test_records_for_a_strangers_card_pay_nothing_until_the_binding_is_confirmed(
        client, citizen, partner):
    ref = card()
    pushed = await partner.push([trip(ref, days_ago(d, hour=8)) for d in (1, 2, 3)])
    assert [x["status"] for x in pushed.json()["results"]] == ["unbound"] * 3
    before = await balance(client, citizen)

    r = await client.post("/v1/bindings/", headers=citizen.headers,
                          json={"partner_id": partner.id, "external_ref": ref})
    assert r.status_code == 201, r.text
    pending = r.json()
    assert (pending["status"], pending["records_credited"]) == ("pending", 0)
    assert await balance(client, citizen) == before
    # A record that comes while the binding is pending waits too.
    later = await partner.push([trip(ref, days_ago(4, hour=8))])
    assert later.json()["results"][0]["status"] == "unbound"
    listed = (await client.get("/v1/bindings/", headers=citizen.headers)).json()["items"]
    assert [(b["id"], b["status"]) for b in listed] == [(pending["id"], "pending")]

    # A wrong code confirms nothing.
    wrong = await client.post(f"/v1/bindings/{pending['id']}/confirm", headers=citizen.headers,
                              json={"code": "ZZZZZZZZ"})
    assert wrong.status_code == 422 and wrong.json()["code"] == "invalid_binding_code"
    assert await balance(client, citizen) == before

    # The code the partner's channel shows the card's holder confirms it: the four are paid.
    code = await partner.code(ref)
    ok = await client.post(f"/v1/bindings/{pending['id']}/confirm", headers=citizen.headers,
                           json={"code": code})
    assert ok.status_code == 200, ok.text
    assert (ok.json()["status"], ok.json()["records_credited"]) == ("confirmed", 4)
    assert await balance(client, citizen) == before + 4 * 58
    # The code is spent; confirming again pays nothing more.
    again = await client.post(f"/v1/bindings/{pending['id']}/confirm", headers=citizen.headers,
                              json={"code": code})
    assert (again.status_code, again.json()["records_credited"]) == (200, 0)
    assert await balance(client, citizen) == before + 4 * 58


async def test_the_partner_can_confirm_a_pending_binding_itself(client, citizen,
                                                                make_citizen, partner):
    ref = card()
    await partner.push([trip(ref, days_ago(1, hour=8))])
    pending = (await client.post("/v1/bindings/", headers=citizen.headers, json={
        "partner_id": partner.id, "external_ref": ref})).json()
    # Not for another reference, nor another citizen's binding id.
    wrong_ref = await partner.post("/v1/partner/bindings/confirm",
                                   {"external_ref": card(), "binding_id": pending["id"]})
    assert wrong_ref.status_code == 404
    unsigned = await client.post("/v1/partner/bindings/confirm",
                                 json={"external_ref": ref, "binding_id": pending["id"]})
    assert unsigned.status_code == 401
    r = await partner.post("/v1/partner/bindings/confirm",
                           {"external_ref": ref, "binding_id": pending["id"]})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["records_credited"]) == ("confirmed", 1)
    assert await balance(client, citizen) >= 58
    # Now another citizen's pending binding of the card cannot be confirmed by anyone.
    other = await make_citizen()
    theirs = await client.post("/v1/bindings/", headers=other.headers, json={
        "partner_id": partner.id, "external_ref": ref})
    assert (theirs.status_code, theirs.json()["status"]) == (201, "pending")
    refused = await partner.post("/v1/partner/bindings/confirm",
                                 {"external_ref": ref, "binding_id": theirs.json()["id"]})
    assert refused.status_code == 409
    assert refused.json()["code"] == "reference_bound_elsewhere"


async def test_forty_guessed_bindings_are_throttled_and_reveal_nothing(
        client, citizen, make_citizen, partner):
    prefix = "CQ" + secrets.token_hex(3).upper()
    guesses = [f"{prefix}{n:04d}" for n in range(40)]
    # Some of the guessed numbers are real cards, bound (and confirmed) by their holders.
    for ref in guesses[:40:4]:
        await bind(client, await make_citizen(), partner, ref)
    farmer = await make_citizen()
    answers = await asyncio.gather(*[
        client.post("/v1/bindings/", headers=farmer.headers,
                    json={"partner_id": partner.id, "external_ref": ref}) for ref in guesses])
    codes = [r.status_code for r in answers]
    assert 409 not in codes
    assert codes.count(201) == 10 and codes.count(429) == 30, codes
    # What the accepted ones say is the same whether the card is someone's or no one's.
    accepted = [r.json() for r in answers if r.status_code == 201]
    assert {(b["status"], b["records_credited"]) for b in accepted} == {("pending", 0)}
    assert all(set(b) == set(accepted[0]) for b in accepted)
    assert all(r.headers.get("retry-after") for r in answers if r.status_code == 429)
    # Guessing codes is throttled by the same budget.
    guess = await client.post(f"/v1/bindings/{accepted[0]['id']}/confirm",
                              headers=farmer.headers, json={"code": "ABCDEFGH"})
    assert guess.status_code == 429


async def test_a_code_is_for_one_reference_and_one_use(client, make_citizen, partner):
    a, b = await make_citizen(), await make_citizen()
    ref, other_ref = card(), card()
    code = await partner.code(ref)
    # Not a code of another card.
    r = await client.post("/v1/bindings/", headers=a.headers, json={
        "partner_id": partner.id, "external_ref": other_ref, "code": code})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code"
    ok = await client.post("/v1/bindings/", headers=a.headers, json={
        "partner_id": partner.id, "external_ref": ref, "code": code.lower()})
    assert (ok.status_code, ok.json()["status"]) == (201, "confirmed")
    # Used once, it is no proof for anybody else (and says nothing of who holds the card).
    reused = await client.post("/v1/bindings/", headers=b.headers, json={
        "partner_id": partner.id, "external_ref": ref, "code": code})
    assert reused.status_code == 422 and reused.json()["code"] == "invalid_binding_code"
