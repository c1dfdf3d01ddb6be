"""The operators' commands: `leaderboards rebuild` and `challenges settle`."""

from __future__ import annotations

import re

from click.testing import CliRunner

from carbon_inclusion.cli import main


def test_the_gamification_commands_run_against_the_storage(monkeypatch, settings):
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("REDIS_PREFIX", settings.redis_prefix + "cli:")
    runner = CliRunner()
    rebuilt = runner.invoke(main, ["leaderboards", "rebuild", "--scope", "city",
                                   "--period", "week"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert re.fullmatch(r"city week: \d+\.\d\d s\n", rebuilt.stdout), rebuilt.stdout
    settled = runner.invoke(main, ["challenges", "settle"])
    assert settled.exit_code == 0, settled.output
    *paid, total = settled.stdout.splitlines()
    assert total == f"settled {len(paid)} challenge(s)"
    assert all(re.fullmatch(r"challenge [0-9a-f-]{36}: (won by \S+|no winner)", line)
               for line in paid), paid
    again = runner.invoke(main, ["challenges", "settle"])  # each challenge pays once
    assert (again.exit_code, again.stdout) == (0, "settled 0 challenge(s)\n")
    wrong = runner.invoke(main, ["leaderboards", "rebuild", "--period", "year"])
    assert wrong.exit_code != 0 and "year" in wrong.output
