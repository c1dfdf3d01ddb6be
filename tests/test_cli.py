"""`python -m carbon_inclusion.cli` and `python -m carbon_inclusion` answer every command
the console script does, including the groups defined last in cli.py."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,  # noqa: S603
                          cwd=ROOT, timeout=60, check=False)


@pytest.mark.parametrize(("module", "group", "command", "summary"), [
    ("carbon_inclusion.cli", "challenges", "settle", "Pay the winning districts"),
    ("carbon_inclusion.cli", "registry", "verify", "Check every invariant of the registry"),
    ("carbon_inclusion", "orders", "expire", "Release the credits of unpaid quotes"),
])
def test_python_dash_m_knows_every_command_group(module, group, command, summary):
    done = run(module, group, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Usage: python -m {module} {group} [OPTIONS] COMMAND")
    line = next(x for x in done.stdout.splitlines() if x.strip().startswith(command))
    assert summary in line


def test_an_unknown_command_is_refused_by_name():
    done = run("carbon_inclusion.cli", "nonesuch")
    assert done.returncode == 2
    assert "No such command 'nonesuch'" in done.stderr


def command(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    full = {**{k: v for k, v in os.environ.items() if k not in (
        "DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL")}, "LOG_JSON": "false", **env}
    return subprocess.run([sys.executable, "-m", "carbon_inclusion", *args],  # noqa: S603
                          capture_output=True, text=True, cwd=ROOT, env=full, timeout=120,
                          check=False)


def test_a_command_says_which_storage_it_uses_and_refuses_a_database_not_migrated(storage):
    from sqlalchemy.engine import make_url

    from tests.live import fresh_database

    with fresh_database(storage.database_url) as empty:
        done = command("orders", "expire", DATABASE_URL=empty, REDIS_URL=storage.redis_url)
    assert done.returncode == 1
    shown = make_url(empty).set(drivername="postgresql").render_as_string(hide_password=True)
    assert f"storage: PostgreSQL {shown} (from DATABASE_URL); Redis " in done.stderr
    assert "(from REDIS_URL)" in done.stderr
    assert "this database is not migrated" in done.stderr and "db upgrade" in done.stderr
    assert "Traceback" not in done.stderr

    done = command("orders", "expire", DATABASE_URL=storage.database_url,
                   REDIS_URL=storage.redis_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("expired ")


def test_storage_that_cannot_be_had_is_one_line_not_a_traceback():
    done = command("registry", "verify", EMBEDDED_SERVICES="sometimes")
    assert done.returncode == 1
    assert done.stderr.strip().startswith("Error: storage: EMBEDDED_SERVICES must be one of")
