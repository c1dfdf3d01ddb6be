"""The operators' commands: `leaderboards rebuild` and `challenges settle`."""

from __future__ import annotations

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
    assert rebuilt.output.startswith("city week: ") and rebuilt.output.strip().endswith(" s")
    settled = runner.invoke(main, ["challenges", "settle"])
    assert settled.exit_code == 0, settled.output
    assert settled.output.strip().endswith("challenge(s)")
    wrong = runner.invoke(main, ["leaderboards", "rebuild", "--period", "year"])
    assert wrong.exit_code != 0 and "year" in wrong.output
