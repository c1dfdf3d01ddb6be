"""The console's flows in real Chromium, each ending with a screenshot of what the user sees.

The module's server holds the demo month (``seed --demo``); the flows run in file order
on it: the dashboard (before the flows add to the month), a methodology draft checked and
published, a review approved, a batch of credits proposed, verified and issued, an
enterprise's event footprinted, its order confirmed, the event neutralised, its
certificate opened and verified by anyone at /verify, then cancelled and reissued.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import httpx
import pytest

from tests.browser.conftest import (
    ADMIN,
    CITIZEN,
    ENTERPRISE,
    PASSWORD,
    VERIFIER,
    credit_ev,
    sign_in,
)

pytestmark = pytest.mark.browser

TODAY = dt.datetime.now(dt.UTC).date()
SHARED: dict[str, str] = {}  # what a flow leaves for the next (the certificate)


def token(base_url: str, phone: str) -> dict[str, str]:
    r = httpx.post(base_url + "/v1/auth/token", json={"phone": phone, "password": PASSWORD})
    r.raise_for_status()
    return {"Authorization": "Bearer " + r.json()["access_token"]}


def test_the_dashboard_charts_the_programme(pages):
    page = pages.new()
    sign_in(page, pages.base_url, ADMIN)  # an administrator lands on the dashboard
    for card in ("#dash-type", "#dash-district", "#dash-points", "#dash-rewards",
                 "#dash-credits"):
        page.locator(f"{card} svg.chart").first.wait_for()
    assert page.locator("#dash-type svg.chart rect").count() > 10  # a month of days
    assert page.locator("#outstanding").inner_text() not in ("", "–")
    # Districts by their names in the page's language, not their codes.
    district_totals = page.locator("#dash-district").inner_text()
    assert "区" in district_totals or "县" in district_totals
    assert "yunyang" not in district_totals and "jiulongpo" not in district_totals
    pages.shot(page, "dashboard", readme=True)


def test_the_partners_page_shows_each_partner_s_ingestion(pages):
    """The demo's partners pushed their month: each row says when, and what was kept."""
    page = pages.new()
    sign_in(page, pages.base_url, ADMIN)
    page.goto(pages.base_url + "/console#/partners")
    first = page.locator(".ingestion").first
    first.wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.ingestion')].every(e => e.textContent !== '…')")
    texts = page.locator(".ingestion").all_inner_texts()
    assert texts and any("最近上报" in x and "credited" in x for x in texts), texts
    pages.shot(page, "partners")


def test_an_administrator_edits_a_draft_until_the_checker_accepts_it_then_publishes(pages):
    page = pages.new()
    sign_in(page, pages.base_url, ADMIN)
    page.goto(pages.base_url + "/console#/methodologies")
    # Every scene is a published document the console lists like the first three.
    for code in ("CQ-TRANSIT/3", "CQ-EV/2", "CQ-WASTE/2", "CQ-STEPS/1", "CQ-BIKE/1",
                 "CQ-PLATE/1", "CQ-PAPERLESS/1", "CQ-REUSE/1", "CQ-POWER/1"):
        page.locator(f'[data-version="{code}"]').wait_for()
    pages.shot(page, "methodologies")
    row = page.locator("tr", has=page.locator('[data-version="CQ-WASTE/2"]'))
    row.locator("button.copy").click()  # copy as a new draft: v3, from v2's start
    page.click("#draft-form button[type=submit]")
    error = page.locator('#draft-form [data-field="effective_from"] .field-error')
    error.wait_for()  # v2 is in force then: the API says so, at the field
    # In force from tomorrow: v2 is closed there when v3 is published.
    page.fill("#draft-form-effective_from", f"{TODAY + dt.timedelta(days=1)}T00:00:00+08:00")
    page.click("#draft-form button[type=submit]")
    page.locator("#save-draft").wait_for()
    assert page.url.endswith("#/methodologies/CQ-WASTE/3")
    formula = page.locator('[data-path="points.formula"]')
    formula.fill("floor(reduction_g / g_per_pont)")
    page.click("#save-draft")
    error = page.locator('[data-field="points.formula"] .field-error')
    error.wait_for()
    assert "g_per_pont" in error.inner_text()  # the checker's message, at its field
    assert page.locator('[data-field="points.formula"]').get_attribute("class").count("invalid")
    pages.shot(page, "methodology-checker-error")

    formula.fill("floor(reduction_g / g_per_point)")
    page.click("#save-draft")
    page.locator("#meth-status .notice.ok").wait_for()
    assert page.locator(".field-error:not(:empty)").count() == 0

    page.fill("#simulate-occurred_from", f"{TODAY - dt.timedelta(days=30)}T00:00")
    page.fill("#simulate-occurred_to", f"{TODAY}T00:00")
    page.click("#simulate button[type=submit]")
    page.locator("#sim-out svg.chart rect").first.wait_for()
    assert page.locator("#sim-out tbody tr").count() >= 1
    pages.shot(page, "methodology-simulated")

    page.click("#publish")  # confirm() accepted
    page.locator("h1 + p .badge.s-published").wait_for()
    assert page.locator("#publish").count() == 0
    pages.shot(page, "methodology-published")
    v3 = httpx.get(pages.base_url + "/v1/methodologies/CQ-WASTE/versions/3")
    assert v3.status_code == 200 and v3.json()["status"] == "published"


def test_an_administrator_approves_a_review_with_a_reason(pages):
    citizen = token(pages.base_url, CITIZEN)
    claim = httpx.post(pages.base_url + "/v1/behaviours", headers={
        **citizen, "Idempotency-Key": str(uuid.uuid4())}, json={
        "type": "ev_charging", "data": {"kwh": "32.5"},
        "occurred_at": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).isoformat()})
    assert claim.status_code == 201 and claim.json()["status"] == "pending_review", claim.text
    behaviour = claim.json()["id"]

    page = pages.new()
    sign_in(page, pages.base_url, ADMIN)
    page.goto(pages.base_url + "/console#/reviews")
    # The demo's queue holds a month of flagged bike rides: narrow it to charging sessions.
    page.select_option("#review-type", "ev_charging")
    row = page.locator(f'[data-behaviour="{behaviour}"]')
    row.locator("input").fill("充电桩小票与车辆行驶记录一致")
    pages.shot(page, "review-queue")
    row.locator("button.approve").click()
    page.locator(".notice.ok").wait_for()
    after = httpx.get(f"{pages.base_url}/v1/admin/reviews/{behaviour}",
                      headers=token(pages.base_url, ADMIN))
    assert after.json()["status"] == "credited" and after.json()["points"] > 0
    pages.shot(page, "review-approved")


def test_a_batch_is_proposed_verified_with_its_report_and_issued(pages):
    credit_ev(pages.live, "500000", 9)  # 4.5 t of charging operators' sessions
    admin = pages.new()
    sign_in(admin, pages.base_url, ADMIN)
    admin.goto(pages.base_url + "/console#/batches")
    admin.fill("#batch-propose-methodology_code", "CQ-EV")
    admin.fill("#batch-propose-vintage_from", str(TODAY - dt.timedelta(days=20)))
    admin.fill("#batch-propose-vintage_to", str(TODAY - dt.timedelta(days=1)))
    admin.click("#batch-propose button[type=submit]")
    admin.locator("#batch-propose .notice.ok").wait_for()

    verifier = pages.new()
    sign_in(verifier, pages.base_url, VERIFIER)
    assert verifier.url.endswith("#/verify")
    verifier.locator("[data-batch]").first.click()
    verifier.locator("#verify-form").wait_for()
    verifier.locator("#vb-report .report-view").wait_for()  # the monitoring report
    verifier.locator(".behaviours tbody tr").first.wait_for()  # and its behaviours
    verifier.fill("#verify-form-statement", "抽查 20 条充电记录，与运营商数据一致。")
    pages.shot(verifier, "verifier-batch")
    verifier.click("#verify-form button[type=submit]")
    verifier.locator("#vbatch-filter").wait_for()

    admin.reload()
    admin.select_option("#batch-filter", "verified")
    admin.locator("button.issue").first.click()
    admin.locator("#batch-status .notice.ok").wait_for()
    assert "CQTHT-EV" in admin.locator("#batch-status").inner_text()
    pages.shot(admin, "batches")


def test_an_enterprise_footprints_orders_neutralises_and_opens_its_certificate(pages):
    ent = pages.new()
    sign_in(ent, pages.base_url, ENTERPRISE)
    assert ent.url.endswith("#/footprint")
    form = ent.locator("#event-form")
    form.locator("input[name=name]").fill("2026 山城低碳论坛")
    form.locator("input[name=venue]").fill("重庆国际博览中心")
    form.locator("input[name=starts_on]").fill(str(TODAY + dt.timedelta(days=14)))
    form.locator("input[name=ends_on]").fill(str(TODAY + dt.timedelta(days=15)))
    form.locator("input[name=attendees]").fill("120")
    form.locator("input[name=meals]").fill("240")
    form.locator("input[name=electricity_kwh]").fill("1800")
    leg = form.locator("tr.leg").first
    leg.locator("select[name=mode]").select_option("metro")
    leg.locator("input[name=distance_km]").fill("12")
    leg.locator("input[name=people]").fill("120")
    ent.click("#compute")
    ent.locator("#footprint-total").wait_for()
    assert ent.locator("#footprint tbody tr").count() >= 3  # line by line
    needed = int(ent.locator("#credits-needed").inner_text())
    event_url = ent.url
    pages.shot(ent, "event-footprint")

    ent.goto(pages.base_url + "/console#/buy")
    held = ent.locator("#held-t")
    held.wait_for()
    ent.fill("#order-form-quantity_t", "2")
    ent.click("#order-form button[type=submit]")
    ent.locator(".notice.ok").wait_for()
    pages.shot(ent, "enterprise-order")

    admin = pages.new()
    sign_in(admin, pages.base_url, ADMIN)
    admin.goto(pages.base_url + "/console#/orders")
    order = admin.locator("[data-order]").first
    order.locator("input").fill("ICBC-2026-120388")
    order.locator("button.confirm").click()
    admin.locator("#order-status .notice.ok").wait_for()
    admin.select_option("#order-filter", "paid")
    admin.locator("tbody .badge.s-paid").first.wait_for()
    pages.shot(admin, "admin-order-confirmed")

    ent.reload()  # the holdings as they are now
    ent.locator("#held-t").wait_for()
    assert int(ent.locator("#held-t").inner_text().split()[0]) >= needed
    ent.goto(event_url)
    ent.click("#neutralise")
    link = ent.locator("#event-status #certificate-link")
    link.wait_for()
    number = link.inner_text()
    link.click()
    ent.wait_for_url(re.compile(r"/v1/certificates/[0-9a-f-]{36}/html$"))
    assert number in ent.content()
    SHARED["certificate"], SHARED["number"] = ent.url.rsplit("/", 2)[-2], number
    pages.shot(ent, "certificate", readme=True)


def test_anyone_verifies_the_certificate_at_verify(pages):
    cert = SHARED["certificate"]
    page = pages.new()
    page.goto(f"{pages.base_url}/v1/certificates/{cert}")  # as a scanned QR code opens it
    page.click(f'a[href$="/verify?c={cert}"]')  # the certificate page's "check its status"
    verdict = page.locator("#verdict")
    verdict.wait_for()
    assert verdict.get_attribute("data-status") == "valid"
    pages.shot(page, "verify", readme=True)
    for typed in (SHARED["number"], f"{pages.base_url}/v1/certificates/{cert}"):
        page.goto(pages.base_url + "/verify")  # as typed: the number, or the QR code's URL
        page.fill("#certificate", typed)
        page.click("#verify-form button[type=submit]")
        page.locator("#verdict[data-status=valid]").wait_for()
        assert page.url.endswith(f"/verify?c={cert}")
        assert SHARED["number"] in page.locator("#verify-result").inner_text()


def test_another_roles_view_shows_the_apis_403(pages):
    page = pages.new()
    sign_in(page, pages.base_url, ENTERPRISE)
    page.goto(pages.base_url + "/console#/orders")  # the administrators' orders
    problem = page.locator(".problem[data-status='403']")
    problem.wait_for()
    assert "403" in problem.inner_text()


def test_a_cancelled_and_reissued_certificate_leads_to_its_replacement(pages):
    cert = SHARED["certificate"]
    admin = pages.new()
    sign_in(admin, pages.base_url, ADMIN)
    admin.goto(pages.base_url + "/console#/certificates")
    row = admin.locator(f'[data-certificate="{cert}"]')
    row.locator("input:not([type=checkbox])").fill("机构名称有误，更正后重新签发")
    row.get_by_role("button").click()  # confirm() accepted; reissue is ticked
    admin.locator("#cert-status .notice.ok").wait_for()
    pages.shot(admin, "certificates")
    page = pages.new()
    page.goto(f"{pages.base_url}/verify?c={cert}")
    page.locator("#verdict[data-status=cancelled]").wait_for()
    assert "机构名称有误" in page.locator("#verdict").inner_text()
    pages.shot(page, "verify-cancelled")
    page.click("#replacement")
    page.locator("#verdict[data-status=valid]").wait_for()
    assert cert not in page.url
