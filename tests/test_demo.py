"""`carbon-inclusion seed --demo`: a month of a programme, in a database of its own."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from carbon_inclusion.cli import main
from carbon_inclusion.db.migrate import upgrade
from carbon_inclusion.devservices import drop_database, ensure_database

pytestmark = pytest.mark.slow


async def test_the_demo_fills_an_empty_database_and_only_that(monkeypatch, settings):
    url = make_url(settings.database_url).set(database=f"ci_demo_{secrets.token_hex(4)}")
    database_url = url.render_as_string(hide_password=False)
    await asyncio.to_thread(ensure_database, database_url)
    try:
        await asyncio.to_thread(upgrade, database_url)
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("REDIS_URL", settings.redis_url)
        monkeypatch.setenv("REDIS_PREFIX", settings.redis_prefix + "demo:")
        runner = CliRunner()
        filled = await asyncio.to_thread(runner.invoke, main, ["seed", "--demo"])
        assert filled.exit_code == 0, filled.output
        report = json.loads(filled.stdout[filled.stdout.index("\n{") + 1:])  # not stderr
        assert report["citizens"] == 200 and report["partner_records"] > 5000
        assert report["batch_t"] >= 2 and report["certificate"].startswith("http")
        assert report["batch_steps"] == ["proposed", "verified", "issued"]
        assert report["redemptions"] > 0
        verify = await asyncio.to_thread(runner.invoke, main, ["registry", "verify"])
        assert verify.exit_code == 0, verify.output
        again = await asyncio.to_thread(runner.invoke, main, ["seed", "--demo"])
        assert again.exit_code != 0 and "without citizens" in again.output
    finally:
        await asyncio.to_thread(drop_database, database_url)
