"""The authorisation matrix: every operation of the OpenAPI document, tried by everyone.

``ACCESS`` says who each operation is for. The test asks every operation anonymously and as
a citizen, an enterprise user, an administrator, a verifier (and, for partner routes, unsigned) and
checks the answer: 401 without credentials, 403 for the wrong role, neither for the right
one (and never a 5xx). ``OWNED`` names the operations on one owner's objects; citizen B,
enterprise Y and partner Q then try citizen A's, enterprise X's and partner P's real
objects and must get 404 (as if they did not exist), and B's and Y's lists must not show
A's and X's objects. An operation missing from ``ACCESS`` (a new route) fails the test, as
does an operation with a path parameter on owned data missing from ``OWNED``.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid

import pytest

from carbon_inclusion.openapi_doc import render_openapi
from tests.behaviours.conftest import Partner, bind, card, claim, days_ago
from tests.events.test_events import EVENT
from tests.photos.conftest import png
from tests.registry.conftest import credit, issue_batch, methodology, vintage
from tests.rewards.conftest import grant, make_reward, redeem

__all__ = ["methodology"]  # a fixture

PUBLIC, SIGNED_IN, CITIZEN, ENTERPRISE, ADMIN, VERIFIER, PARTNER = (
    "public", "signed in", "citizen", "enterprise", "admin", "verifier", "partner")
# A citizen's own object that administrators read too (a photo: reviewers open it).
OWNER_OR_ADMIN = "citizen or admin"
ROLES_OF = {OWNER_OR_ADMIN: (CITIZEN, ADMIN)}

ACCESS = {
    "GET /.well-known/jwks.json": PUBLIC,
    "GET /healthz": PUBLIC,
    "GET /metrics": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /v1/admin/audit": ADMIN,
    "GET /v1/admin/audit.csv": ADMIN,
    "GET /v1/admin/badges": ADMIN,
    "POST /v1/admin/badges": ADMIN,
    "GET /v1/admin/badges/{code}": ADMIN,
    "PUT /v1/admin/badges/{code}": ADMIN,
    "GET /v1/admin/certificates": ADMIN,
    "GET /v1/admin/certificates.csv": ADMIN,
    "POST /v1/admin/certificates/{certificate_id}/cancel": ADMIN,
    "POST /v1/admin/challenges": ADMIN,
    "POST /v1/admin/challenges/settle": ADMIN,
    "GET /v1/admin/credit-batches": ADMIN,
    "POST /v1/admin/credit-batches": ADMIN,
    "GET /v1/admin/credit-batches/{batch_id}": ADMIN,
    "GET /v1/admin/credit-batches/{batch_id}/report": ADMIN,
    "GET /v1/admin/credit-batches/{batch_id}/report/pdf": ADMIN,
    "GET /v1/admin/credit-batches/{batch_id}/behaviours": ADMIN,
    "GET /v1/admin/credit-batches/{batch_id}/behaviours.csv": ADMIN,
    "POST /v1/admin/credit-batches/{batch_id}/issue": ADMIN,
    "POST /v1/admin/credit-cancellations": ADMIN,
    "GET /v1/admin/methodologies": ADMIN,
    "POST /v1/admin/methodologies": ADMIN,
    "GET /v1/admin/methodologies/{code}/versions/{version}": ADMIN,
    "PUT /v1/admin/methodologies/{code}/versions/{version}": ADMIN,
    "POST /v1/admin/methodologies/{code}/versions/{version}/evaluate": ADMIN,
    "POST /v1/admin/methodologies/{code}/versions/{version}/publish": ADMIN,
    "POST /v1/admin/methodologies/{code}/versions/{version}/retire": ADMIN,
    "POST /v1/admin/methodologies/{code}/versions/{version}/simulate": ADMIN,
    "GET /v1/admin/orders": ADMIN,
    "GET /v1/admin/orders.csv": ADMIN,
    "POST /v1/admin/orders/{order_id}/confirm-payment": ADMIN,
    "GET /v1/admin/organisations": ADMIN,
    "GET /v1/admin/organisations.csv": ADMIN,
    "POST /v1/admin/organisations": ADMIN,
    "POST /v1/admin/organisations/{organisation_id}/users": ADMIN,
    "GET /v1/admin/organisations/{organisation_id}/emissions": ADMIN,
    "GET /v1/admin/partners": ADMIN,
    "POST /v1/admin/partners": ADMIN,
    "GET /v1/admin/partners/{partner_id}/ingestion": ADMIN,
    "POST /v1/admin/partners/{partner_id}/rotate-secret": ADMIN,
    "PUT /v1/admin/partners/{partner_id}/scope": ADMIN,
    "GET /v1/admin/reviews": ADMIN,
    "GET /v1/admin/reviews/{behaviour_id}": ADMIN,
    "POST /v1/admin/reviews/{behaviour_id}/approve": ADMIN,
    "POST /v1/admin/reviews/{behaviour_id}/reject": ADMIN,
    "GET /v1/admin/rewards": ADMIN,
    "POST /v1/admin/rewards": ADMIN,
    "PUT /v1/admin/rewards/{reward_id}": ADMIN,
    "POST /v1/admin/rewards/{reward_id}/codes": ADMIN,
    "GET /v1/admin/stats/behaviours": ADMIN,
    "GET /v1/admin/stats/behaviours.csv": ADMIN,
    "GET /v1/admin/stats/credits": ADMIN,
    "GET /v1/admin/stats/credits.csv": ADMIN,
    "GET /v1/admin/stats/points": ADMIN,
    "GET /v1/admin/stats/points.csv": ADMIN,
    "GET /v1/admin/stats/rewards": ADMIN,
    "GET /v1/admin/stats/rewards.csv": ADMIN,
    "GET /v1/admin/users": ADMIN,
    "GET /v1/admin/users.csv": ADMIN,
    "POST /v1/admin/users/{user_id}/disable": ADMIN,
    "POST /v1/admin/users/{user_id}/enable": ADMIN,
    "POST /v1/auth/logout": SIGNED_IN,
    "POST /v1/auth/refresh": PUBLIC,
    "POST /v1/auth/register": PUBLIC,
    "POST /v1/auth/resend-code": PUBLIC,
    "POST /v1/auth/token": PUBLIC,
    "POST /v1/auth/verify-phone": PUBLIC,
    "GET /v1/badges": PUBLIC,
    "GET /v1/behaviours": CITIZEN,
    "POST /v1/behaviours": CITIZEN,
    "GET /v1/behaviours/{behaviour_id}": CITIZEN,
    "GET /v1/bindings": CITIZEN,
    "POST /v1/bindings": CITIZEN,
    "DELETE /v1/bindings/{binding_id}": CITIZEN,
    "POST /v1/bindings/{binding_id}/confirm": CITIZEN,
    "GET /v1/certificates/{certificate_id}": PUBLIC,
    "GET /v1/certificates/{certificate_id}/html": PUBLIC,
    "GET /v1/certificates/{certificate_id}/pdf": PUBLIC,
    "GET /v1/certificates/numbers/{number}": PUBLIC,
    "GET /v1/challenges": PUBLIC,
    "GET /v1/challenges/{challenge_id}": PUBLIC,
    "POST /v1/challenges/{challenge_id}/join": CITIZEN,
    "POST /v1/compliance-offsets": ENTERPRISE,
    "GET /v1/districts": PUBLIC,
    "GET /v1/events": ENTERPRISE,
    "POST /v1/events": ENTERPRISE,
    "GET /v1/events/{event_id}": ENTERPRISE,
    "POST /v1/events/{event_id}/neutralize": ENTERPRISE,
    "POST /v1/events/{event_id}/actuals": ENTERPRISE,
    "GET /v1/holdings": ENTERPRISE,
    "GET /v1/leaderboards": PUBLIC,
    "GET /v1/me": SIGNED_IN,
    "DELETE /v1/me": CITIZEN,
    "POST /v1/me/consents": CITIZEN,
    "GET /v1/me/export": SIGNED_IN,
    "GET /v1/privacy-notice": PUBLIC,
    "GET /v1/public/overview": PUBLIC,
    "GET /v1/me/badges": CITIZEN,
    "GET /v1/me/events": CITIZEN,
    "GET /v1/methodologies": PUBLIC,
    "GET /v1/methodologies/schema": PUBLIC,
    "GET /v1/methodologies/{code}/versions/{version}": PUBLIC,
    "GET /v1/orders": ENTERPRISE,
    "POST /v1/orders": ENTERPRISE,
    "GET /v1/orders/{order_id}": ENTERPRISE,
    "GET /v1/organisation": ENTERPRISE,
    "GET /v1/organisation/emissions": ENTERPRISE,
    "POST /v1/partner/behaviours": PARTNER,
    "POST /v1/partner/binding-codes": PARTNER,
    "POST /v1/partner/bindings/confirm": PARTNER,
    "POST /v1/partner/vouchers/{code}/use": PARTNER,
    "GET /v1/partners": PUBLIC,
    "POST /v1/photos": CITIZEN,
    "GET /v1/photos/{photo_id}": OWNER_OR_ADMIN,
    "GET /v1/redemptions": CITIZEN,
    "POST /v1/redemptions": CITIZEN,
    "GET /v1/redemptions/{redemption_id}": CITIZEN,
    "POST /v1/redemptions/{redemption_id}/cancel": CITIZEN,
    "GET /v1/registry/batches": PUBLIC,
    "GET /v1/registry/batches/{batch_id}": PUBLIC,
    "GET /v1/registry/batches/{batch_id}/report": PUBLIC,
    "GET /v1/registry/batches/{batch_id}/report/pdf": PUBLIC,
    "GET /v1/registry/batches/{batch_id}/behaviours": PUBLIC,
    "GET /v1/registry/batches/{batch_id}/behaviours.csv": PUBLIC,
    "GET /v1/registry/serials/{serial}": PUBLIC,
    "GET /v1/rewards": PUBLIC,
    "GET /v1/rewards/{reward_id}": PUBLIC,
    "GET /v1/verifier/batches": VERIFIER,
    "GET /v1/verifier/batches/{batch_id}": VERIFIER,
    "GET /v1/verifier/batches/{batch_id}/report": VERIFIER,
    "GET /v1/verifier/batches/{batch_id}/report/pdf": VERIFIER,
    "GET /v1/verifier/batches/{batch_id}/behaviours": VERIFIER,
    "GET /v1/verifier/batches/{batch_id}/behaviours.csv": VERIFIER,
    "POST /v1/verifier/batches/{batch_id}/verify": VERIFIER,
    "POST /v1/verifier/batches/{batch_id}/return": VERIFIER,
    "GET /v1/wallet": CITIZEN,
    "GET /v1/wallet/entries": CITIZEN,
    "GET /v1/verifier/organisations/{organisation_id}/emissions": VERIFIER,
    "POST /v1/verifier/organisations/{organisation_id}/emissions": VERIFIER,
}

# Operations on one owner's objects: whose they are.
OWNED = {
    "GET /v1/behaviours/{behaviour_id}": CITIZEN,
    "DELETE /v1/bindings/{binding_id}": CITIZEN,
    "POST /v1/bindings/{binding_id}/confirm": CITIZEN,
    "GET /v1/redemptions/{redemption_id}": CITIZEN,
    "POST /v1/redemptions/{redemption_id}/cancel": CITIZEN,
    "GET /v1/photos/{photo_id}": CITIZEN,  # another citizen: 404 (administrators read all)
    "POST /v1/challenges/{challenge_id}/join": None,  # a public challenge, not owned
    "GET /v1/events/{event_id}": ENTERPRISE,
    "POST /v1/events/{event_id}/neutralize": ENTERPRISE,
    "POST /v1/events/{event_id}/actuals": ENTERPRISE,
    "GET /v1/orders/{order_id}": ENTERPRISE,
    "POST /v1/partner/vouchers/{code}/use": PARTNER,
}

# Asked by the right role, these would end the caller's session or never end (SSE); their
# own tests cover them. Anonymous and wrong-role calls are still made.
NOT_CALLED_BY_THE_RIGHT_ROLE = {"POST /v1/auth/logout", "GET /v1/me/events"}

PLACEHOLDERS = {"code": "NO-SUCH-CODE", "version": "1", "serial": "CQTHT-NOPE-2025-000001",
                "number": "CQTHT-C-2025-999999"}

# Bodies an intruder sends to owned operations that need one to reach the owner check.
OWNED_BODIES = {"POST /v1/bindings/{binding_id}/confirm": {"code": "ABCDEFGH"},
                "POST /v1/events/{event_id}/actuals": {"attendees": 10}}


def operations() -> list[str]:
    doc = json.loads(render_openapi())
    return [f"{method.upper()} {path}" for path, ops in doc["paths"].items() for method in ops]


def concrete(path: str, values: dict[str, str] | None = None) -> str:
    values = values or {}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m[1]) or PLACEHOLDERS.get(m[1])
                  or str(uuid.uuid4()), path)


def test_every_operation_has_a_row_and_every_row_an_operation():
    assert set(operations()) == set(ACCESS)
    owned_candidates = {op for op, who in ACCESS.items()
                        if "{" in op and who in (CITIZEN, ENTERPRISE, PARTNER, OWNER_OR_ADMIN)}
    assert owned_candidates == set(OWNED), "say in OWNED whose objects a new route touches"


async def ask(client, op: str, headers: dict[str, str] | None = None,
              values: dict[str, str] | None = None, body: object = None):
    method, path = op.split(" ", 1)
    kwargs: dict = {"headers": {**(headers or {}), "Idempotency-Key": "k-" + secrets.token_hex(8)}}
    if method in ("POST", "PUT"):
        kwargs["json"] = {} if body is None else body
    return await client.request(method, concrete(path, values), **kwargs)


async def test_each_operation_answers_each_kind_of_caller_as_its_row_says(
        client, citizen, enterprise, admin, verifier):
    users = {CITIZEN: citizen, ENTERPRISE: enterprise, ADMIN: admin, VERIFIER: verifier}
    wrong: list[str] = []
    for op, access in ACCESS.items():
        anonymous = await ask(client, op)
        expected_anonymous = "open" if access == PUBLIC else 401
        if _verdict(anonymous.status_code) != expected_anonymous:
            wrong.append(f"{op} anonymous: {anonymous.status_code} {anonymous.text[:120]}")
        for role, user in users.items():
            if access == PARTNER:
                expected = 401  # a bearer token is not a partner's signature
            elif access in (PUBLIC, SIGNED_IN) or role in ROLES_OF.get(access, (access,)):
                if op in NOT_CALLED_BY_THE_RIGHT_ROLE:
                    continue
                expected = "open"
            else:
                expected = 403
            r = await ask(client, op, user.headers)
            if _verdict(r.status_code) != expected:
                wrong.append(f"{op} as {role}: {r.status_code} {r.text[:120]}")
    assert not wrong, "\n".join(wrong)


def _verdict(status: int) -> int | str:
    """401 and 403 as they are; any other answer below 500 means the caller got in."""
    assert status < 500, status
    return status if status in (401, 403) else "open"


@pytest.fixture
async def two_partners(client, admin) -> tuple[Partner, Partner]:
    out = []
    for name in ("重庆轨道交通", "重庆公交"):
        r = await client.post("/v1/admin/partners/", headers=admin.headers, json={
            "id": "m-" + secrets.token_hex(4), "name": name, "kind": "transit"})
        assert r.status_code == 201, r.text
        out.append(Partner(client, r.json()))
    return out[0], out[1]


async def test_no_one_reaches_another_owners_objects(
        app, client, admin, verifier, make_citizen, make_user, two_partners, methodology):
    p, q = two_partners
    a, b = await make_citizen(), await make_citizen()
    orgs = []
    for _ in range(2):
        r = await client.post("/v1/admin/organisations", headers=admin.headers,
                              json={"name": f"会展公司 {secrets.token_hex(3)}"})
        orgs.append(await make_user("enterprise", organisation_id=r.json()["id"]))
    x, y = orgs

    # A's behaviour, binding and redemption (of a reward P honours, so a voucher of P's).
    behaviour = (await claim(client, a, "transit_trip", days_ago(1),
                             {"mode": "metro", "distance_km": "5.0"})).json()
    binding = await bind(client, a, p, card())
    reward = await make_reward(client, admin, partner_id=p.id)
    await grant(app, a.id, 500)
    redemption = (await redeem(client, a, reward["id"])).json()
    # X's event and order (of one fresh tonne).
    event = (await client.post("/v1/events/", headers=x.headers, json=EVENT)).json()
    await credit(app, a.id, methodology, "1000000", 1)
    await issue_batch(client, admin, verifier, vintage(methodology))
    order = (await client.post("/v1/orders", json={"quantity_t": 1}, headers={
        **x.headers, "Idempotency-Key": "o-" + secrets.token_hex(8)})).json()
    photo = await client.post("/v1/photos/", content=png(), headers={
        **a.headers, "Idempotency-Key": "p-" + secrets.token_hex(8),
        "Content-Type": "image/png"})
    ids = {"photo_id": photo.json()["id"], "behaviour_id": behaviour["id"],
           "binding_id": binding["id"],
           "redemption_id": redemption["id"], "event_id": event["id"],
           "order_id": order["id"], "code": redemption["codes"][0]}
    assert all(ids.values()), ids

    for op, owner in OWNED.items():
        if owner is None:
            continue
        if owner == PARTNER:
            r = await q.post(concrete(op.split(" ", 1)[1], ids), {"code": ids["code"]})
        else:
            intruder = b if owner == CITIZEN else y
            r = await ask(client, op, intruder.headers, ids, OWNED_BODIES.get(op))
        assert r.status_code == 404, (op, r.status_code, r.text)
        assert r.json()["code"] == "not_found", (op, r.text)

    lists = {"/v1/behaviours": behaviour["id"], "/v1/bindings": binding["id"],
             "/v1/redemptions": redemption["id"], "/v1/wallet/entries": None}
    for path, hidden in lists.items():
        r = await client.get(path, headers=b.headers)
        assert r.status_code == 200, (path, r.text)
        shown = json.dumps(r.json())
        assert str(a.id) not in shown and (hidden is None or hidden not in shown), path
    for path, hidden in {"/v1/events": event["id"], "/v1/orders": order["id"]}.items():
        r = await client.get(path, headers=y.headers)
        assert r.status_code == 200 and hidden not in r.text, path

    # The owners themselves still reach all of it, and nothing was changed by the intruders.
    assert (await client.get(f"/v1/behaviours/{behaviour['id']}",
                             headers=a.headers)).status_code == 200
    assert (await client.get(f"/v1/photos/{ids['photo_id']}", headers=a.headers)).content \
        == (await client.get(f"/v1/photos/{ids['photo_id']}", headers=admin.headers)).content
    assert (await client.get(f"/v1/redemptions/{redemption['id']}",
                             headers=a.headers)).json()["status"] == "issued"
    assert (await client.get(f"/v1/events/{event['id']}", headers=x.headers)).status_code == 200
    assert (await client.get(f"/v1/orders/{order['id']}",
                             headers=x.headers)).json()["status"] == "reserved"
    bindings = (await client.get("/v1/bindings", headers=a.headers)).json()["items"]
    assert [x_["id"] for x_ in bindings] == [binding["id"]]
