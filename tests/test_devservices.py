"""Storage resolution: given URLs, local servers, embedded ones started and stopped cleanly."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest
import redis
from sqlalchemy.engine import make_url

from carbon_inclusion.devservices import DevServices, drop_database, ensure_database

pytestmark = pytest.mark.faults


def port_of(url: str) -> int:
    return make_url(url).port or 0


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def gone(*ports: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(answers(p) for p in ports):
            return True
        time.sleep(0.1)
    return False


def query(database_url: str, sql: str):
    import asyncio

    u = make_url(database_url)

    async def go():
        conn = await asyncpg.connect(host=u.host, port=u.port, user=u.username,
                                     database=u.database)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(go())


def test_given_urls_are_used_as_they_are(tmp_path):
    services = DevServices(tmp_path, database_url="postgresql://u@db.example:5433/x",
                           redis_url="redis://cache.example:6380/2", mode="always")
    endpoints = services.start()
    assert endpoints.database_url == "postgresql+asyncpg://u@db.example:5433/x"
    assert endpoints.redis_url == "redis://cache.example:6380/2"
    assert endpoints.embedded is False
    assert not any(tmp_path.iterdir())


def test_an_unknown_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="EMBEDDED_SERVICES"):
        DevServices(tmp_path, mode="sometimes")


@pytest.mark.slow
def test_embedded_servers_start_work_and_stop(tmp_path):
    services = DevServices(tmp_path, mode="always")
    endpoints = services.start()
    pg, rd = port_of(endpoints.database_url), port_of(endpoints.redis_url)
    try:
        assert endpoints.embedded
        assert query(endpoints.database_url, "SELECT current_database()") == "carbon_inclusion"
        query(endpoints.database_url, "CREATE EXTENSION IF NOT EXISTS btree_gist")
        assert redis.Redis.from_url(endpoints.redis_url).ping()
    finally:
        services.stop()
    services.stop()  # twice is fine
    assert gone(pg, rd)
    # The cluster is kept: a second start reuses it without initdb.
    again = DevServices(tmp_path, mode="always")
    try:
        endpoints = again.start()
        assert query(endpoints.database_url, "SELECT count(*) FROM pg_extension "
                                             "WHERE extname = 'btree_gist'") == 1
    finally:
        again.stop()


LAUNCHER = """
import json, sys, time
from pathlib import Path
from carbon_inclusion.devservices import DevServices, install_signal_handlers
services = DevServices(Path(sys.argv[1]), mode="always")
endpoints = services.start()
install_signal_handlers(services)
print(json.dumps([endpoints.database_url, endpoints.redis_url]), flush=True)
time.sleep(120)
"""


@pytest.mark.slow
def test_a_launcher_stopped_by_sigterm_leaves_no_server_running(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(tmp_path)],  # noqa: S603
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        database_url, redis_url = json.loads(proc.stdout.readline())
        pg, rd = port_of(database_url), port_of(redis_url)
        assert answers(pg) and answers(rd)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        assert gone(pg, rd)
        assert not Path(tmp_path, "postgres", "postmaster.pid").exists()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_databases_are_created_and_dropped(storage):
    url = make_url(storage.database_url).set(database="ci_devservices_probe")
    text = url.render_as_string(hide_password=False)
    ensure_database(text)
    ensure_database(text)  # idempotent
    assert query(text, "SELECT 1") == 1
    drop_database(text)
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        query(text, "SELECT 1")
