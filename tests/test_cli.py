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
