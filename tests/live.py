"""Real API processes for the suites that need one: ``carbon-inclusion serve`` on a free
port, ready when ``/readyz`` says so, stopped (or killed) at the end."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from carbon_inclusion.devservices import drop_database, ensure_database

BIN = Path(sys.executable).parent
PASSWORD = "Low-carbon-2026"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Live:
    base_url: str
    env: dict[str, str]
    process: subprocess.Popen

    def kill(self) -> None:
        """kill -9 of the server and its workers, as a crash or an OOM kill would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def cli(self, *args: str) -> str:
        """``carbon-inclusion *args`` against this server's storage; its output."""
        done = subprocess.run([str(BIN / "carbon-inclusion"), *args], env=self.env,  # noqa: S603
                              check=True, capture_output=True, text=True, timeout=120)
        return done.stdout

    def verify_phone(self, phone: str) -> None:
        """What a citizen does after registering: reads the code (here from the development
        outbox, through the CLI) and enters it."""
        code = self.cli("sms", "codes", phone).split()[0]
        httpx.post(self.base_url + "/v1/auth/verify-phone",
                   json={"phone": phone, "code": code}).raise_for_status()


@contextlib.contextmanager
def fresh_database(database_url: str) -> Iterator[str]:
    """A new, empty database beside ``database_url``'s, dropped at the end."""
    url = make_url(database_url).set(database=f"ci_live_{secrets.token_hex(4)}")
    rendered = url.render_as_string(hide_password=False)
    ensure_database(rendered)
    try:
        yield rendered
    finally:
        drop_database(rendered)


@contextlib.contextmanager
def live_server(database_url: str, redis_url: str, *, setup: bool = False,
                **env: str) -> Iterator[Live]:
    """An API process on these stores (``setup``: migrate and seed them first)."""
    port = free_port()
    full = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "PORT": str(port), "WEB_WORKERS": "1", "APP_ENV": "test", "LOG_JSON": "true",
            "REDIS_PREFIX": f"live:{secrets.token_hex(4)}:", **env}
    args = [str(BIN / "carbon-inclusion"), "serve"] + ([] if setup else ["--no-setup"])
    # Its log goes to a file: a pipe nobody reads would fill and stop the server mid-write.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    proc = subprocess.Popen(args, env=full, stdout=subprocess.DEVNULL,  # noqa: S603
                            stderr=log, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.seek(0)
                raise RuntimeError("the API process did not start: "
                                   + log.read().decode(errors="replace")[-4000:])
            time.sleep(0.2)
        yield Live(base, full, proc)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()
