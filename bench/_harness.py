"""Shared set-up for benchmarks: a fresh database and a real server on a free port.

Storage is resolved like ``make run`` (local servers, else embedded); the benchmark gets a
database ``ci_bench_<random>`` of its own, migrated and seeded, dropped at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
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

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Server:
    base_url: str
    database_url: str
    redis_url: str
    env: dict[str, str]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def storage() -> Iterator[tuple[str, str]]:
    from carbon_inclusion.db.migrate import upgrade
    from carbon_inclusion.devservices import DevServices, drop_database, ensure_database

    services = DevServices(ROOT / ".data", database_url=os.environ.get("DATABASE_URL"),
                           redis_url=os.environ.get("REDIS_URL"),
                           mode=os.environ.get("EMBEDDED_SERVICES", "auto"))
    endpoints = services.start()
    url = make_url(endpoints.database_url).set(database=f"ci_bench_{secrets.token_hex(4)}")
    database_url = url.render_as_string(hide_password=False)
    ensure_database(database_url)
    try:
        upgrade(database_url)
        yield database_url, endpoints.redis_url
    finally:
        drop_database(database_url)
        services.stop()


@contextlib.contextmanager
def server(database_url: str, redis_url: str, **overrides: str) -> Iterator[Server]:
    """``carbon-inclusion serve`` (granian, WEB_WORKERS workers) on a free port."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "REDIS_PREFIX": f"bench:{secrets.token_hex(4)}:", "PORT": str(port),
           "LOG_JSON": "true", "LOGIN_FAILURES_PER_IP": "1000000",
           "REGISTRATIONS_PER_IP": "1000000",
           "CLAIMS_PER_MINUTE": "1000000", "PARTNER_BATCHES_PER_MINUTE": "1000000",
           "JWT_KEYS_DIR": str(ROOT / ".data" / "bench-jwt"), **overrides}
    # The server's log goes to a file: a pipe nobody reads would fill and stall it.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    proc = subprocess.Popen(  # noqa: S603
        [str(BIN / "carbon-inclusion"), "serve"], env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError("server did not start: "
                                   + log.read().decode(errors="replace")[-4000:])
            time.sleep(0.2)
        yield Server(base, database_url, redis_url, env)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@dataclass
class Spent:
    """What the block of ``measured`` took: process CPU and wall seconds."""

    cpu_s: float = 0.0
    wall_s: float = 0.0


@contextlib.contextmanager
def measured(name: str, *, profile: bool) -> Iterator[Spent]:
    """Time the block (process CPU and wall); with ``profile``, a pyinstrument profile of it
    written to ``<tmp>/<name>-profile.txt`` (the profile tools, not ``make bench``)."""
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="enabled", interval=0.0005)
        profiler.start()
    spent = Spent()
    cpu, wall = time.process_time(), time.perf_counter()
    yield spent
    spent.cpu_s, spent.wall_s = time.process_time() - cpu, time.perf_counter() - wall
    if profiler is not None:
        profiler.stop()
        out = Path(tempfile.gettempdir()) / f"{name}-profile.txt"
        out.write_text(profiler.output_text(unicode=True, show_all=False))
        print(f"profile written to {out}")


def run(coro):
    return asyncio.run(coro)


def ratio_line(name: str, value: float, baseline: float, unit: str) -> str:
    return f"{name:<44} {value:>12,.1f} {unit:<10} ({value / baseline:.2f}× baseline)"


@dataclass(frozen=True)
class Target:
    """One target of a benchmark: a figure, the baseline it is judged against (measured in
    the same run), and the bound on their ratio: ``at_least`` or ``at_most`` ×."""

    name: str
    figure: float
    baseline: float
    unit: str
    at_least: float | None = None
    at_most: float | None = None

    @property
    def ratio(self) -> float:
        return self.figure / self.baseline if self.baseline else float("inf")

    @property
    def met(self) -> bool:
        if self.at_least is not None and not self.ratio >= self.at_least:
            return False
        return self.at_most is None or self.ratio <= self.at_most

    def line(self) -> str:
        bound = (f"≥ {self.at_least:g}×" if self.at_least is not None else
                 f"≤ {self.at_most:g}×")
        return (f"  {self.name:<40} {self.figure:>10,.1f} / {self.baseline:>10,.1f} {self.unit:<9}"
                f" = {self.ratio:>7.3f}×  (target {bound}) {'PASS' if self.met else 'FAIL'}")


def report(title: str, targets: list[Target]) -> None:
    """Print every target's figure, baseline and ratio; exit 1 when any is missed."""
    print(f"  {title}: figure / baseline = ratio")
    for t in targets:
        print(t.line())
    missed = [t.name for t in targets if not t.met]
    print(f"  result: {'PASS' if not missed else 'FAIL (' + '; '.join(missed) + ')'}")
    sys.stdout.flush()
    if missed:
        sys.exit(1)
