"""The public pages in real Chromium: the programme's home, the registry explorer, and the
language switch (Chinese first, English remembered)."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.conftest import ADMIN, sign_in

pytestmark = pytest.mark.browser


def test_the_home_page_shows_the_programme_from_the_public_overview(pages):
    page = pages.new()
    page.goto(pages.base_url + "/")
    page.locator("#total-reduction").wait_for()
    assert page.locator("#participants").inner_text() not in ("", "–", "0")
    assert page.locator("svg.chart").count() == 2  # by district, by behaviour type
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    pages.shot(page, "home", readme=True)


def test_the_registry_explorer_looks_up_a_serial_and_opens_its_batch(pages):
    page = pages.new()
    page.goto(pages.base_url + "/registry")
    page.locator("[data-batch]").first.click()
    page.locator("#batch-detail .report-view").wait_for()  # the monitoring report
    page.locator("#batch-detail .behaviours tbody tr").first.wait_for()  # its behaviours
    for link, kind in (("#report-pdf", "application/pdf"), ("#behaviours-csv", "text/csv")):
        answer = httpx.get(pages.base_url + page.locator(link).get_attribute("href"))
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind)
    pages.shot(page, "registry-batch")
    page.fill("#serial", "CQTHT-TRANSIT-2026-000001")  # the demo's first, retired
    page.click("#serial-form button[type=submit]")
    result = page.locator("#serial-result .notice")
    result.wait_for()
    assert "CQTHT-TRANSIT-2026-000001" in result.inner_text()
    result.locator("a").click()  # the certificate standing for it
    page.locator("#verdict[data-status=valid]").wait_for()


def test_english_is_one_click_away_and_remembered(pages):
    page = pages.new()
    page.goto(pages.base_url + "/verify")
    assert page.locator("h1").inner_text() == "证书核验"
    page.click("#lang-switch")
    assert page.locator("h1").inner_text() == "Verify a certificate"
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto(pages.base_url + "/console")  # another page of the same browser: English
    page.locator("#signin").wait_for()
    assert page.locator("h1").inner_text() == "Sign in"
    sign_in(page, pages.base_url, ADMIN)
    assert page.locator('nav a[data-view="methodologies"]').inner_text() == "Methodologies"
    page.click("#lang-switch")
    page.locator('nav a[data-view="methodologies"]:text("方法学")').wait_for()
