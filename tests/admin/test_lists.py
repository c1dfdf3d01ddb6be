"""The administrators' lists: orders, organisations, users, certificates and the audit log,
each filtered and paged newest first, each also as CSV (``Accept: text/csv`` or ``.csv``).

Everything is made through the API, in a database of this module's own
(tests/admin/conftest.py), so each list can be compared with exactly what the test made.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid

import pytest
from sqlalchemy import text
from tests.admin.conftest import every_page, parse_csv
from tests.conftest import PASSWORD
from tests.events.test_events import EVENT
from tests.registry.conftest import credit, issue_batch, methodology, vintage, whole_market

from carbon_inclusion.security.phone_crypto import PhoneCipher

__all__ = ["methodology"]  # the fixture, used by name


def cell_of(value: object) -> str:
    """What the CSV shows for a JSON value (common/tabular.py)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    else:
        text = str(value)
    return "'" + text if isinstance(value, str | list | dict) and text[:1] in "=+-@" else text


def assert_csv_is_the_json(rows: list[dict[str, str]], items: list[dict]) -> None:
    assert len(rows) == len(items)
    for row, item in zip(rows, items, strict=True):
        assert list(row) == list(item), "the header names the JSON fields, in order"
        assert row == {k: cell_of(v) for k, v in item.items()}


async def buyer(client, admin, make_user, name: str):
    r = await client.post("/v1/admin/organisations", headers=admin.headers,
                          json={"name": f"{name} {secrets.token_hex(2)}"})
    assert r.status_code == 201, r.text
    user = await make_user("enterprise", organisation_id=r.json()["id"])
    user.extra["organisation"] = r.json()
    return user


async def order(client, user, tonnes: int) -> dict:
    r = await client.post("/v1/orders", json={"quantity_t": tonnes}, headers={
        **user.headers, "Idempotency-Key": "order-" + secrets.token_hex(8)})
    assert r.status_code == 201, r.text
    return r.json()


# --- orders ---------------------------------------------------------------------------------

async def test_orders_of_every_organisation_by_status_newest_first(
        app, client, admin, verifier, citizen, methodology, make_user, clock):
    await credit(app, citizen.id, methodology, "1000000", 6)
    await issue_batch(client, admin, verifier, vintage(methodology))
    a, b, c = [await buyer(client, admin, make_user, n) for n in ("甲公司", "乙公司", "丙公司")]
    with whole_market(app):
        paid = await order(client, a, 1)
        confirmed = await client.post(f"/v1/admin/orders/{paid['id']}/confirm-payment",
                                      headers=admin.headers, json={"reference": "ICBC 0001"})
        assert confirmed.status_code == 200, confirmed.text
        late = await order(client, b, 1)
        clock.ahead += dt.timedelta(minutes=app.state.settings.order_hold_minutes + 1)

        # Past its time, a quote is shown expired before any sweep releases it.
        async def ids(**params) -> list[str]:
            return [o["id"] for o in await every_page(client, "/v1/admin/orders",
                                                      admin.headers, limit=1, **params)]

        assert await ids(status="expired") == [late["id"]]
        assert await ids(status="reserved") == []
        open_ = await order(client, c, 2)  # this sweeps the late one
    assert await ids() == [open_["id"], late["id"], paid["id"]]
    assert await ids(status="reserved") == [open_["id"]]
    assert await ids(status="paid") == [paid["id"]]
    assert await ids(status="expired") == [late["id"]]

    items = await every_page(client, "/v1/admin/orders", admin.headers)
    for item, user in zip(items, (c, b, a), strict=True):
        own = (await client.get(f"/v1/orders/{item['id']}", headers=user.headers)).json()
        assert item == own | {"organisation_name": user.extra["organisation"]["name"]}
    assert [o["status"] for o in items] == ["reserved", "expired", "paid"]
    assert items[0]["serials"] and items[0]["quantity_t"] == 2

    as_csv = parse_csv(await client.get("/v1/admin/orders.csv", headers=admin.headers,
                                        params={"limit": 1}))
    assert_csv_is_the_json(as_csv, items)  # the whole list, though pages hold one
    by_accept = parse_csv(await client.get("/v1/admin/orders", params={"status": "paid"},
                                           headers={**admin.headers, "Accept": "text/csv"}))
    assert_csv_is_the_json(by_accept, [items[2]])
    start = await client.get("/v1/admin/orders", headers=admin.headers, params={"limit": 1})
    rest = parse_csv(await client.get("/v1/admin/orders.csv", headers=admin.headers, params={
        "cursor": start.json()["next_cursor"]}))
    assert_csv_is_the_json(rest, items[1:])  # from the cursor on


# --- organisations and users ----------------------------------------------------------------

async def test_organisations_by_kind_with_their_users(client, admin, make_user, verification_body):
    firm = await buyer(client, admin, make_user, "绿色会展")
    await make_user("enterprise", organisation_id=firm.extra["organisation"]["id"])
    await make_user("verifier", organisation_id=verification_body["id"])
    every = await every_page(client, "/v1/admin/organisations", admin.headers, limit=1)
    assert [o["id"] for o in every] == sorted((o["id"] for o in every), reverse=True)
    by_id = {o["id"]: o for o in every}
    mine = by_id[firm.extra["organisation"]["id"]]
    assert mine == {"id": mine["id"], "name": firm.extra["organisation"]["name"],
                    "kind": "enterprise", "created_at": mine["created_at"], "users": 2}
    assert by_id[verification_body["id"]]["users"] == 1
    bodies = await every_page(client, "/v1/admin/organisations", admin.headers,
                              kind="verification_body")
    assert bodies[0]["id"] == verification_body["id"]  # the newest
    assert {o["kind"] for o in bodies} == {"verification_body"}
    assert {o["kind"] for o in await every_page(
        client, "/v1/admin/organisations", admin.headers, kind="enterprise")} == {"enterprise"}
    assert_csv_is_the_json(parse_csv(await client.get(
        "/v1/admin/organisations.csv", headers=admin.headers)), every)


async def test_users_by_role_nickname_or_exact_phone_never_showing_a_whole_number(
        client, admin, make_citizen, make_user, organisation):
    rider = await make_citizen(district="jiangbei", nickname="GreenRider 绿骑")
    other = await make_citizen(nickname="地铁通勤者")
    staff = await make_user("enterprise", organisation_id=organisation["id"])

    citizens = await every_page(client, "/v1/admin/users", admin.headers, role="citizen")
    assert [u["id"] for u in citizens][:2] == [other.id, rider.id]  # newest first
    assert {u["role"] for u in citizens} == {"citizen"}
    shown = citizens[1]
    digits = rider.phone.removeprefix("+86")
    assert shown == {"id": rider.id, "role": "citizen", "nickname": "GreenRider 绿骑",
                     "phone_masked": f"{digits[:3]}****{digits[-4:]}", "organisation_id": None,
                     "district": "jiangbei", "status": "active", "phone_verified": True,
                     "created_at": shown["created_at"]}
    enterprise = await every_page(client, "/v1/admin/users", admin.headers, role="enterprise")
    assert (enterprise[0]["id"], enterprise[0]["organisation_id"]) == (
        staff.id, organisation["id"])
    assert {u["role"] for u in enterprise} == {"enterprise"}

    async def found(q: str, **params) -> list[str]:
        return [u["id"] for u in await every_page(client, "/v1/admin/users", admin.headers,
                                                  q=q, **params)]

    assert await found("greenr") == [rider.id]  # part of a nickname, any case
    assert await found("绿骑") == [rider.id]
    spaced = f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}"
    assert await found(spaced) == [rider.id]  # a whole number, however it is written
    assert await found(digits[:7]) == []  # never part of a number
    assert await found("地铁", role="admin") == []
    assert await found("100%_") == []  # LIKE's wildcards are only characters here

    every = await every_page(client, "/v1/admin/users", admin.headers, limit=1)
    text = (await client.get("/v1/admin/users.csv", headers=admin.headers)).text
    for user in (rider, other, staff, admin):
        assert user.phone.removeprefix("+86") not in json.dumps(every) + text
    assert_csv_is_the_json(parse_csv(await client.get("/v1/admin/users.csv",
                                                      headers=admin.headers)), every)

    gone = await client.request("DELETE", "/v1/me", headers=other.headers,
                                json={"password": PASSWORD})
    assert gone.status_code == 204, gone.text
    deleted = await every_page(client, "/v1/admin/users", admin.headers, status="deleted")
    assert [(u["id"], u["phone_masked"]) for u in deleted] == [(other.id, None)]
    assert other.id not in {u["id"] for u in await every_page(
        client, "/v1/admin/users", admin.headers, status="active")}


async def test_a_phone_the_key_cannot_read_is_shown_as_unknown_not_an_error(
        app, client, admin):
    """A number stored under another PHONE_KEY, or bytes that are no ciphertext at all."""
    foreign = PhoneCipher("another-phone-key-" + "x" * 32).encrypt("+8613912345678")
    ids = [uuid.uuid4(), uuid.uuid4()]
    async with app.state.db.connect() as conn:
        await conn.execute(text(
            "INSERT INTO users (id, role, phone_index, phone_ciphertext, password_hash, "
            "nickname) SELECT id, 'admin', ix, ct, '!', 'unreadable' FROM unnest("
            "CAST(:ids AS uuid[]), CAST(:ix AS bytea[]), CAST(:ct AS bytea[])) AS u(id, ix, ct)"),
            {"ids": ids, "ix": [secrets.token_bytes(32) for _ in ids],
             "ct": [foreign, b"\x01"]})
    for path in ("/v1/admin/users", "/v1/admin/users.csv"):
        r = await client.get(path, headers=admin.headers, params={"q": "unreadable",
                                                                   "limit": 1})
        assert r.status_code == 200, r.text
    shown = await every_page(client, "/v1/admin/users", admin.headers, q="unreadable")
    assert {(u["id"], u["phone_masked"]) for u in shown} == {(str(i), None) for i in ids}


async def test_a_nickname_that_is_a_formula_is_text_in_the_csv(client, admin, make_citizen):
    evil = await make_citizen(nickname='=HYPERLINK("x","y")')
    for start in "+-@":
        await make_citizen(nickname=f"{start}1+1")
    rows = parse_csv(await client.get("/v1/admin/users.csv", headers=admin.headers,
                                      params={"role": "citizen"}))
    nicknames = {r["id"]: r["nickname"] for r in rows}
    assert nicknames[evil.id] == '\'=HYPERLINK("x","y")'
    assert {n for n in nicknames.values() if n.startswith(("=", "+", "-", "@"))} == set()
    assert {n for n in nicknames.values() if n.startswith("'")} >= {"'+1+1", "'-1+1", "'@1+1"}
    json_items = await every_page(client, "/v1/admin/users", admin.headers, role="citizen")
    assert evil.id in {u["id"] for u in json_items if u["nickname"].startswith("=")}


# --- certificates ----------------------------------------------------------------------------

async def test_certificates_from_a_neutralised_event_by_status(
        app, client, admin, verifier, citizen, methodology, make_user):
    firm = await buyer(client, admin, make_user, "重庆两江绿色会展")
    event = (await client.post("/v1/events/", headers=firm.headers, json=EVENT)).json()
    needed = event["footprint"]["credits_needed"]
    await credit(app, citizen.id, methodology, "1000000", needed)
    await issue_batch(client, admin, verifier, vintage(methodology))
    with whole_market(app):
        bought = await order(client, firm, needed)
    assert (await client.post(f"/v1/admin/orders/{bought['id']}/confirm-payment",
                              headers=admin.headers, json={"reference": "T-1"})).status_code == 200
    first = await client.post(f"/v1/events/{event['id']}/neutralize", headers=firm.headers)
    assert first.status_code == 201, first.text
    reissued = await client.post(f"/v1/admin/certificates/{first.json()['id']}/cancel",
                                 headers=admin.headers, json={"reason": "公司名称有误"})
    assert reissued.status_code == 200, reissued.text
    new = reissued.json()

    every = await every_page(client, "/v1/admin/certificates", admin.headers, limit=1)
    assert [c["id"] for c in every] == [new["id"], first.json()["id"]]
    shown = every[0]
    public = (await client.get(f"/v1/certificates/{new['id']}")).json()
    assert shown == {
        "id": new["id"], "number": public["number"], "kind": "event", "status": "valid",
        "organisation_id": firm.extra["organisation"]["id"],
        "organisation_name": firm.extra["organisation"]["name"], "subject": EVENT["name"],
        "quantity_t": needed, "issued_at": public["issued_at"], "url": public["url"],
        "sha256": public["sha256"], "basis": "actual", "event_id": event["id"],
        "retirement_id": public["content"]["retirement_id"],
        "serials": [{k: s[k] for k in ("first", "last", "quantity")}
                    for s in public["content"]["retired"]["serials"]],
        "cancel_reason": None, "cancelled_at": None, "replaced_by": None,
        "replaced_by_url": None, "superseded_at": None}
    old = every[1]
    assert (old["status"], old["cancel_reason"], old["replaced_by"]) == (
        "cancelled", "公司名称有误", new["id"])
    assert old["replaced_by_url"] == public["url"] and old["cancelled_at"]

    async def ids(status: str) -> list[str]:
        return [c["id"] for c in await every_page(client, "/v1/admin/certificates",
                                                  admin.headers, status=status)]

    assert await ids("valid") == [new["id"]]
    assert await ids("cancelled") == [first.json()["id"]]
    assert await ids("superseded") == []
    assert_csv_is_the_json(parse_csv(await client.get(
        "/v1/admin/certificates.csv", headers=admin.headers)), every)


# --- the audit log ----------------------------------------------------------------------------

async def test_the_audit_log_by_action_and_actor(client, admin, make_user):
    other = await make_user("admin")
    made = []
    for who, name in ((admin, "地铁乘车券"), (other, "共享单车月卡"), (admin, "=1+2")):
        r = await client.post("/v1/admin/rewards/", headers=who.headers, json={
            "name_zh": name, "name_en": "A reward", "kind": "coupon", "cost_points": 100,
            "stock": 10})
        assert r.status_code == 201, r.text
        made.append((who, r.json()))
    changed = await client.put(f"/v1/admin/rewards/{made[0][1]['id']}", headers=other.headers,
                               json={"stock": 20})
    assert changed.status_code == 200, changed.text

    every = await every_page(client, "/v1/admin/audit", admin.headers, limit=3)
    assert [r["id"] for r in every] == sorted((r["id"] for r in every), reverse=True)
    assert [(r["action"], r["actor_id"], r["subject_id"]) for r in every[:4]] == [
        ("reward.updated", other.id, made[0][1]["id"]),
        ("reward.created", admin.id, made[2][1]["id"]),
        ("reward.created", other.id, made[1][1]["id"]),
        ("reward.created", admin.id, made[0][1]["id"])]
    assert every[1]["subject_type"] == "reward" and every[1]["detail"]["name_zh"] == "=1+2"
    assert set(every[0]) == {"id", "at", "actor_id", "action", "subject_type", "subject_id",
                             "document_sha256", "detail"}

    async def actions(**params) -> list[tuple[str, str]]:
        return [(r["action"], r["subject_id"]) for r in await every_page(
            client, "/v1/admin/audit", admin.headers, **params)]

    assert await actions(actor_id=admin.id) == [
        ("reward.created", made[2][1]["id"]), ("reward.created", made[0][1]["id"])]
    assert await actions(action="reward.updated") == [("reward.updated", made[0][1]["id"])]
    assert await actions(action="reward.updated", actor_id=admin.id) == []
    rows = parse_csv(await client.get("/v1/admin/audit.csv", headers=admin.headers))
    assert_csv_is_the_json(rows, every)
    assert rows[1]["detail"].startswith("{") and '"=1+2"' in rows[1]["detail"]


# --- what no list takes -----------------------------------------------------------------------

@pytest.mark.parametrize(("path", "params", "field"), [
    ("/v1/admin/orders", {"status": "quoted"}, "status"),
    ("/v1/admin/orders.csv", {"status": "bogus"}, "status"),
    ("/v1/admin/organisations", {"kind": "government"}, "kind"),
    ("/v1/admin/users", {"role": "root"}, "role"),
    ("/v1/admin/users", {"status": "asleep"}, "status"),
    ("/v1/admin/users", {"q": "a\x00b"}, "q"),
    ("/v1/admin/users", {"q": "x" * 41}, "q"),
    ("/v1/admin/users.csv", {"q": "x" * 5000}, "q"),
    ("/v1/admin/users", {"q": "tab\there"}, "q"),
    ("/v1/admin/certificates", {"status": "revoked"}, "status"),
    ("/v1/admin/audit", {"actor_id": "not-a-uuid"}, "actor_id"),
    ("/v1/admin/audit", {"action": "x\x00"}, "action"),
    ("/v1/admin/audit", {"limit": "0"}, "limit"),
    ("/v1/admin/audit.csv", {"limit": "101"}, "limit"),
])
async def test_a_bad_query_value_is_422_naming_it(client, admin, path, params, field):
    for accept in ("application/json", "text/csv"):
        r = await client.get(path, params=params, headers={**admin.headers, "Accept": accept})
        assert r.status_code == 422, (path, params, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in r.json()["errors"]] == [field], r.json()
