"""Browser tests: the console and the public pages in real headless Chromium (Debian's
``chromium``, driven by Playwright for Python, which downloads no browser of its own).

They run against a live server (``carbon-inclusion serve``) on a database of their own,
filled by ``seed --demo`` so that the screenshots show a believable programme. A machine
without ``/usr/bin/chromium`` fails them (``make test`` installs it where it can): a
browser test that cannot run is a failure, not a skip.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.live import Live, fresh_database, live_server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "Demo-carbon-2026"  # seed --demo's sign-ins
ADMIN, ENTERPRISE, VERIFIER, CITIZEN = "13900000001", "13900000002", "13900000003", "13700000000"


@pytest.fixture(scope="session")
def demo(storage) -> Iterator[Live]:
    """A live server with the demo month in it (``seed --demo``), one for every browser
    module: the demo takes most of a minute, and the flows only add to it."""
    with fresh_database(storage.database_url) as database_url, \
            live_server(database_url, storage.redis_url, setup=True) as live:
        live.cli("seed", "--demo")
        yield live


def credit_ev(live: Live, grams: str, count: int) -> None:
    """``count`` credited, partner-verified EV charging sessions of ``grams`` each three
    days ago, as a charging operator would have reported them: eligible for a batch (as
    tests/registry/conftest.py's ``credit``, on the live server's database)."""
    url = make_url(live.env["DATABASE_URL"]).set(drivername="postgresql")
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3)

    async def insert() -> None:
        conn = await asyncpg.connect(url.render_as_string(hide_password=False))
        try:
            citizen = await conn.fetchval("SELECT id FROM users WHERE role = 'citizen' LIMIT 1")
            version = await conn.fetchrow("SELECT id, version FROM methodology_versions "
                                          "WHERE code = 'CQ-EV' AND status = 'published' "
                                          "ORDER BY version DESC LIMIT 1")
            await conn.execute("""
                INSERT INTO behaviours (id, citizen_id, type, occurred_at, programme_day,
                    district_code, source, evidence, partner_id, external_id, status, data,
                    methodology_id, methodology_code, methodology_version,
                    computed_reduction_g, computed_points, reduction_g, points)
                SELECT gen_random_uuid(), $1, 'ev_charging', $2, $3, 'yuzhong', 'partner',
                       'partner_verified', 'cq-charging', 'browser-' || gen_random_uuid(),
                       'credited', '{}', $4, 'CQ-EV', $5, $6, 0, $6, 0
                  FROM generate_series(1, $7)""",
                citizen, dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC), day,
                version["id"], version["version"], Decimal(grams), count)
        finally:
            await conn.close()

    # In a thread of its own: Playwright's sync API runs an event loop in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, insert()).result()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """A fresh Chromium profile (its own --user-data-dir); fails when Chromium is absent."""
    if not (shutil.which(CHROMIUM) or os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test does, as "
                    "root with apt-get); browser tests fail rather than skip")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1280, "height": 860}, locale="zh-CN",
            timezone_id="Asia/Shanghai")
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


class Pages:
    """Pages of one browser profile; every page's script errors are collected."""

    def __init__(self, context, live: Live, out: Path) -> None:
        self.context, self.live, self.out = context, live, out
        self.base_url = live.base_url
        self.errors: list[str] = []

    def new(self):
        page = self.context.new_page()
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
        page.on("dialog", lambda d: d.accept(d.default_value) if d.type == "prompt" else d.accept())
        return page

    def shot(self, page, name: str, *, readme: bool = False) -> Path:
        """The page as a user sees it, under the test's output folder; the README's
        (``readme``) also in SCREENSHOTS_DIR when it is set (docs/screenshots/)."""
        path = self.out / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        if readme and os.environ.get("SCREENSHOTS_DIR"):
            target = Path(os.environ["SCREENSHOTS_DIR"])
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target / path.name)
        return path


@pytest.fixture
def pages(browser, demo: Live, tmp_path: Path) -> Iterator[Pages]:
    p = Pages(browser, demo, tmp_path)
    yield p
    assert not p.errors, p.errors  # no script error on any page


def sign_in(page, base_url: str, phone: str) -> None:
    page.goto(base_url + "/console")
    page.fill("#signin-phone", phone)
    page.fill("#signin-password", PASSWORD)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#who")
