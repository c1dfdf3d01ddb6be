"""The public overview (``GET /v1/public/overview``): the programme's figures, compared with
what the test's citizens and enterprise see of their own rows, in a database of the
module's own (tests/admin/conftest.py); no personal data; a cache that is only a cache."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal

from tests.admin.test_lists import buyer, order
from tests.admin.test_stats import SMALL_EVENT, behaviours_of, waste
from tests.behaviours.conftest import bind, card, claim, days_ago, partner, trip
from tests.conftest import client_of
from tests.registry.conftest import credit, issue_batch, methodology, vintage, whole_market

from carbon_inclusion.app import create_app

__all__ = ["methodology", "partner"]  # fixtures, used by name

FIELDS = {"total_reduction_g", "credited_behaviours", "participants", "by_district",
          "by_type", "credits", "recent_certificates", "as_of"}


async def test_the_overview_sums_what_citizens_did_and_names_no_one(
        app, client, admin, partner, make_citizen, make_user, verifier, methodology):
    empty = await client.get("/v1/public/overview")  # anyone, no sign-in
    assert empty.status_code == 200, empty.text
    assert empty.headers["cache-control"] == "public, max-age=60"
    assert set(empty.json()) == FIELDS
    assert (empty.json()["credited_behaviours"], empty.json()["participants"]) == (0, 0)

    a = await make_citizen(district="yuzhong", nickname="渝中骑行者")
    b = await make_citizen(district="jiangbei", nickname="江北步行者")
    c = await make_citizen(district="yubei", nickname="渝北等待者")
    cards = {u.id: card() for u in (a, b)}
    for u in (a, b):
        await bind(client, u, partner, cards[u.id])
    pushed = await partner.push([
        trip(cards[a.id], days_ago(1, hour=8), km="12.5"),
        trip(cards[a.id], days_ago(2, hour=8), km="6", mode="bus"),
        trip(cards[b.id], days_ago(1, hour=9), km="5"),
        waste(cards[b.id], days_ago(1, hour=7), "2.5")])
    assert pushed.status_code == 200, pushed.text
    waiting = await claim(client, c, "waste_sorting", days_ago(1),
                          {"category": "kitchen", "weight_kg": "3"})
    assert waiting.json()["status"] == "pending_review"  # not credited: not counted

    # Credits, sold to one enterprise and retired for eleven events.
    await credit(app, a.id, methodology, "1000000", 12, district="yuzhong")
    await issue_batch(client, admin, verifier, vintage(methodology))
    firm = await buyer(client, admin, make_user, "重庆绿色会展")
    with whole_market(app):
        bought = await order(client, firm, 12)
    assert (await client.post(f"/v1/admin/orders/{bought['id']}/confirm-payment",
                              headers=admin.headers, json={"reference": "T-7"})
            ).status_code == 200
    certificates = []
    for n in range(11):
        event = (await client.post("/v1/events/", headers=firm.headers,
                                   json=SMALL_EVENT | {"name": f"低碳沙龙 第{n + 1}期"})).json()
        r = await client.post(f"/v1/events/{event['id']}/neutralize", headers=firm.headers)
        assert r.status_code == 201, r.text
        certificates.append(r.json())
    reissued = await client.post(f"/v1/admin/certificates/{certificates[4]['id']}/cancel",
                                 headers=admin.headers, json={"reason": "名称有误"})
    assert reissued.status_code == 200, reissued.text
    valid = [*certificates[:4], *certificates[5:], reissued.json()]  # in the order issued

    stale = (await client.get("/v1/public/overview")).json()
    assert stale == empty.json()  # kept for OVERVIEW_CACHE_S
    await app.state.overview.forget()  # a cache only: rebuilt from PostgreSQL
    r = await client.get("/v1/public/overview", headers=firm.headers)
    assert r.status_code == 200, r.text
    shown = r.json()
    assert set(shown) == FIELDS and shown["as_of"] != stale["as_of"]

    by_type: dict[str, list] = defaultdict(lambda: [Decimal(0), 0])
    by_district: dict[str, list] = defaultdict(lambda: [Decimal(0), set()])
    district = {a.id: "yuzhong", b.id: "jiangbei", c.id: "yubei"}
    for u in (a, b, c):
        for x in await behaviours_of(client, u):
            if x["status"] == "credited":
                by_type[x["type"]][0] += Decimal(x["reduction_g"])
                by_type[x["type"]][1] += 1
                by_district[district[u.id]][0] += Decimal(x["reduction_g"])
                by_district[district[u.id]][1].add(u.id)
    assert Decimal(shown["total_reduction_g"]) == sum(g for g, _ in by_type.values())
    assert shown["credited_behaviours"] == sum(n for _, n in by_type.values()) == 4 + 12
    assert shown["participants"] == 2
    assert {t["type"]: [Decimal(t["reduction_g"]), t["count"]] for t in shown["by_type"]} \
        == dict(by_type)
    districts = (await client.get("/v1/districts")).json()["items"]
    assert {d["district"] for d in shown["by_district"]} == {d["code"] for d in districts}
    names = {d["code"]: (d["name_zh"], d["name_en"]) for d in districts}
    for d in shown["by_district"]:
        grams, who = by_district.get(d["district"], (Decimal(0), set()))
        assert (Decimal(d["reduction_g"]), d["participants"]) == (grams, len(who))
        assert (d["name"], d["name_en"]) == names[d["district"]]
    grams = [Decimal(d["reduction_g"]) for d in shown["by_district"]]
    assert grams == sorted(grams, reverse=True) and grams[0] > 0
    assert shown["credits"] == {"issued_t": 12, "retired_t": 11, "available_t": 0}

    newest = valid[::-1][:10]
    assert [x["id"] for x in shown["recent_certificates"]] == [x["id"] for x in newest]
    first = shown["recent_certificates"][0]
    assert first == {"id": newest[0]["id"], "number": newest[0]["number"], "kind": "event",
                     "organisation_name": firm.extra["organisation"]["name"],
                     "subject": "低碳沙龙 第5期", "quantity_t": 1,
                     "issued_at": newest[0]["issued_at"], "url": newest[0]["url"]}
    assert certificates[4]["id"] not in {x["id"] for x in shown["recent_certificates"]}

    text = json.dumps(shown, ensure_ascii=False)
    for user in (a, b, c, firm, admin):
        assert user.id not in text
        assert user.phone.removeprefix("+86")[-8:] not in text
    for nickname in ("渝中骑行者", "江北步行者", "渝北等待者"):
        assert nickname not in text


async def test_the_overview_is_answered_when_redis_is_down(settings, own_database):
    """Redis holds only a copy: without it the overview is read from PostgreSQL."""
    application = create_app(settings.with_overrides(database_url=own_database,
                                                     redis_url="redis://127.0.0.1:9/0"))
    try:
        async with client_of(application, "203.0.113.10") as c:
            r = await c.get("/v1/public/overview")
        assert r.status_code == 200, r.text
        assert set(r.json()) == FIELDS and r.json()["credits"]["issued_t"] >= 0
    finally:
        await application.state.notifier.close()
        await application.state.db.dispose()
        await application.state.redis.close()
