"""A real Redis Cluster for the ``cluster`` suite: three masters started from this machine's
``redis-server`` on ports of their own (from 7100 up, cluster bus at +10000), each in a
temporary directory, joined with ``redis-cli --cluster create`` and stopped after the
session. Nothing is skipped: when the cluster cannot start, every test of the suite errors
with the reason (a missing binary, a port in use, the server's own log)."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from carbon_inclusion.settings import Settings
from tests.conftest import client_of, own_app

MASTERS = 3
FIRST_PORT = 7100


@dataclass(frozen=True)
class Cluster:
    ports: tuple[int, ...]

    @property
    def url(self) -> str:
        """What ``REDIS_URL`` says for it: any one node, the client finds the rest."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports() -> tuple[int, ...]:
    """The first run of free ports from FIRST_PORT whose bus ports (+10000) are free too."""
    for base in range(FIRST_PORT, FIRST_PORT + 90, MASTERS):
        ports = tuple(range(base, base + MASTERS))
        if all(_port_free(p) and _port_free(p + 10000) for p in ports):
            return ports
    pytest.fail(f"no {MASTERS} free ports (and bus ports) from {FIRST_PORT} to "
                f"{FIRST_PORT + 90} for the Redis Cluster suite")


def _log_tail(directory: Path) -> str:
    log = directory / "redis.log"
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        pytest.fail("the cluster suite starts a Redis Cluster from redis-server and "
                    "redis-cli, and this machine has "
                    f"{'neither' if server is cli is None else 'only one'} on PATH")
    ports = _ports()
    root = tmp_path_factory.mktemp("redis-cluster")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            directory = root / str(port)
            directory.mkdir()
            procs.append(subprocess.Popen(  # noqa: S603 - our own binary and arguments
                [server, "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "5000", "--dir", str(directory),
                 "--save", "", "--appendonly", "no", "--logfile", "redis.log"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 15
        for port, proc in zip(ports, procs, strict=True):
            while True:
                with contextlib.suppress(redis.RedisError), Cluster(ports).node(port) as n:
                    if n.ping():
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server on port {port} did not start: "
                                f"{_log_tail(root / str(port))}")
                time.sleep(0.05)
        created = subprocess.run(  # noqa: S603
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=False)
        if created.returncode != 0:
            pytest.fail("redis-cli --cluster create failed: "
                        f"{created.stdout[-2000:]}{created.stderr[-2000:]}")
        deadline = time.monotonic() + 30
        for port in ports:
            while True:
                with Cluster(ports).node(port) as n:
                    info = n.execute_command("CLUSTER INFO")
                if info.get("cluster_state") == "ok" and \
                        int(info.get("cluster_known_nodes", 0)) == MASTERS:
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"the Redis Cluster on {ports} did not become ready: {info}")
                time.sleep(0.1)
        yield Cluster(ports)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster_settings(settings: Settings, redis_cluster: Cluster) -> Settings:
    """The session's settings, on the cluster, under a prefix of their own."""
    return settings.with_overrides(redis_url=redis_cluster.url,
                                   redis_prefix=f"cluster:{secrets.token_hex(4)}:")


@pytest.fixture(scope="module")
async def cluster_app(app, cluster_settings: Settings) -> AsyncIterator:
    """An API app on the session's PostgreSQL (its citizens, partners, tokens) and on the
    cluster for everything Redis holds. ``app`` first: it migrated and seeded the database."""
    async with own_app(cluster_settings) as application:
        yield application


@pytest.fixture(scope="module")
async def cluster_client(cluster_app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(cluster_app, "203.0.113.70") as c:
        yield c
