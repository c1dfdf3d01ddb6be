"""The scheduled commands: `carbon-inclusion points expire` and `vouchers expire`."""

from __future__ import annotations

import re

from click.testing import CliRunner

from carbon_inclusion.cli import main


def test_the_expiry_commands_run_against_the_database(monkeypatch, storage):
    monkeypatch.setenv("DATABASE_URL", storage.database_url)
    runner = CliRunner()
    off = runner.invoke(main, ["points", "expire"])
    assert off.exit_code == 0, off.output
    assert "POINTS_EXPIRY_YEARS is 0" in off.output
    monkeypatch.setenv("POINTS_EXPIRY_YEARS", "50")  # on, but nothing is that old
    on = runner.invoke(main, ["points", "expire"])
    assert (on.exit_code, on.stdout.strip()) == (0, "expired 0 points in 0 entries")
    vouchers = runner.invoke(main, ["vouchers", "expire"])
    assert vouchers.exit_code == 0, vouchers.output
    assert re.fullmatch(r"expired \d+ vouchers, refunded \d+ points\n", vouchers.stdout), \
        vouchers.output
    again = runner.invoke(main, ["vouchers", "expire"])  # the expired ones are gone
    assert (again.exit_code, again.stdout) == (0, "expired 0 vouchers, refunded 0 points\n")
    bad = runner.invoke(main, ["points", "expire"], env={"POINTS_EXPIRY_YEARS": "-1"})
    assert bad.exit_code != 0 and "POINTS_EXPIRY_YEARS" in bad.output
