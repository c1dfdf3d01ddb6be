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

from carbon_inclusion.devservices import DevServices, _free_port, drop_database, ensure_database

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
        # A quick restart gets the same ports (.data/ports.json, then SO_REUSEADDR).
        assert (port_of(endpoints.database_url), port_of(endpoints.redis_url)) == (pg, rd)
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


# --- the state file: what runs, who runs it, and the commands beside it ------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_port_whose_connections_linger_in_time_wait_is_taken_again():
    """A quick restart: the server's side of its last connections stays in TIME_WAIT for a
    minute, which a plain bind refuses; the servers (and so the probe) bind with
    SO_REUSEADDR, so the same port is chosen again."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        server.listen()
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server closes first: its side is left in TIME_WAIT
        time.sleep(0.1)
    client.close()
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))
    assert _free_port(port) == port


def launch(data_dir: Path) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(data_dir)],  # noqa: S603
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, json.loads(proc.stdout.readline())


@pytest.mark.slow
def test_servers_of_a_live_process_are_used_and_left_running(tmp_path, capfd):
    proc, (database_url, redis_url) = launch(tmp_path)
    try:
        state = json.loads((tmp_path / "services.json").read_text())
        assert state["postgres"]["owner"]["pid"] == proc.pid
        assert state["redis"]["port"] == port_of(redis_url)
        beside = DevServices(tmp_path, mode="auto")  # local servers or not: the running ones
        endpoints = beside.start()
        assert (endpoints.database_url, endpoints.redis_url) == (database_url, redis_url)
        assert not endpoints.embedded
        assert f"pid {proc.pid}" in endpoints.describe()
        beside.stop()
        assert "left running embedded PostgreSQL" in capfd.readouterr().err
        assert answers(port_of(database_url)) and answers(port_of(redis_url))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert gone(port_of(database_url), port_of(redis_url))
    assert not (tmp_path / "services.json").exists()


@pytest.mark.slow
def test_servers_left_by_a_killed_process_are_adopted_and_then_stopped(tmp_path, capfd):
    proc, (database_url, redis_url) = launch(tmp_path)
    pg, rd = port_of(database_url), port_of(redis_url)
    proc.kill()  # kill -9: nothing stops its servers
    proc.wait(timeout=10)
    assert answers(pg) and answers(rd)
    services = DevServices(tmp_path, mode="always")
    endpoints = services.start()
    try:
        err = capfd.readouterr().err
        assert f"PostgreSQL embedded on 127.0.0.1:{pg} was left running by" in err
        assert f"pid {proc.pid}, which is gone: reused" in err
        assert (endpoints.database_url, endpoints.redis_url) == (database_url, redis_url)
        assert endpoints.embedded  # this process stops them now
        assert "adopted" in endpoints.describe()
        assert query(database_url, "SELECT current_database()") == "carbon_inclusion"
    finally:
        services.stop()
    assert f"stopped embedded Redis on 127.0.0.1:{rd} and embedded PostgreSQL on " \
           f"127.0.0.1:{pg}" in capfd.readouterr().err
    assert gone(pg, rd)


@pytest.mark.slow
def test_servers_left_by_a_killed_process_are_stopped_when_the_local_ones_are_used(
        tmp_path, capfd):
    from carbon_inclusion.devservices import LOCAL_PG, LOCAL_REDIS, _redis_answers

    if not (answers(LOCAL_PG[1]) and _redis_answers(LOCAL_REDIS[1])):
        pytest.skip("needs the local PostgreSQL and Redis, which `auto` prefers")
    proc, (database_url, redis_url) = launch(tmp_path)
    pg, rd = port_of(database_url), port_of(redis_url)
    proc.kill()
    proc.wait(timeout=10)
    services = DevServices(tmp_path, mode="auto")
    endpoints = services.start()
    services.stop()
    err = capfd.readouterr().err
    assert f"stopped the embedded PostgreSQL on 127.0.0.1:{pg} left running by" in err
    assert "(local" in endpoints.describe()
    assert gone(pg, rd)
    assert "postgres" not in json.loads((tmp_path / "services.json").read_text()
                                        if (tmp_path / "services.json").exists() else "{}")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a newcomer's shell: no storage URLs, no port, no base URL."""
    import os

    drop = {"DATABASE_URL", "REDIS_URL", "TEST_DATABASE_URL", "TEST_REDIS_URL", "PORT",
            "HOST", "PUBLIC_BASE_URL", "EMBEDDED_SERVICES", "PROMETHEUS_MULTIPROC_DIR"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "LOG_JSON": "false",
            **extra}


@pytest.mark.slow
def test_cli_commands_after_make_run_with_embedded_services_use_them(tmp_path):
    """`EMBEDDED_SERVICES=always make run` in one terminal; in another, with nothing set,
    `seed`, `admin create`, `registry verify` use its embedded servers (not the local ones
    that may also answer), say so, and link as it does; stopping it says what stopped."""
    bin_ = Path(sys.executable).parent / "carbon-inclusion"
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(  # noqa: S603
        [str(bin_), "serve"], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        env=clean_env(EMBEDDED_SERVICES="always", PORT=str(port), WEB_WORKERS="1"),
        start_new_session=True)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(bin_), *args], cwd=tmp_path, env=clean_env(),  # noqa: S603
                              capture_output=True, text=True, timeout=120, check=False)

    try:
        deadline = time.monotonic() + 120
        while "serving on" not in (tmp_path / "serve.log").read_text():
            assert serve.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        state = json.loads((tmp_path / ".data" / "services.json").read_text())
        pg, rd = state["postgres"]["port"], state["redis"]["port"]
        assert pg not in (5432,) and rd not in (6379,)
        assert state["serve"]["url"] == f"http://127.0.0.1:{port}"

        seeded = cli("seed")
        assert seeded.returncode == 0, seeded.stderr
        line = next(x for x in seeded.stderr.splitlines() if x.startswith("storage: "))
        assert f"127.0.0.1:{pg}/carbon_inclusion (embedded, run by `carbon-inclusion serve`" \
               f", pid {serve.pid})" in line
        assert f"127.0.0.1:{rd}/0 (embedded" in line
        assert f"links to http://127.0.0.1:{port}" in line

        made = subprocess.run([str(bin_), "admin", "create", "--phone", "13900000077"],  # noqa: S603
                              cwd=tmp_path, env=clean_env(ADMIN_PASSWORD="Low-carbon-2026"),
                              capture_output=True, text=True, timeout=120, check=False)
        assert made.returncode == 0, made.stderr
        assert query(f"postgresql+asyncpg://postgres@127.0.0.1:{pg}/carbon_inclusion",
                     "SELECT count(*) FROM users WHERE role = 'admin'") == 1
        verified = cli("registry", "verify")
        assert verified.returncode == 0, verified.stderr
        assert "registry sound" in verified.stdout
        assert answers(pg) and answers(rd)  # the commands left make run's servers running
    finally:
        serve.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            serve.wait(timeout=60)
        finally:
            if serve.poll() is None:
                serve.kill()
            log.close()
    out = (tmp_path / "serve.log").read_text()
    assert f"stopped serving on http://127.0.0.1:{port}" in out
    assert f"storage: stopped embedded Redis on 127.0.0.1:{rd} and embedded PostgreSQL on " \
           f"127.0.0.1:{pg}" in out
    assert gone(pg, rd)
    assert not (tmp_path / ".data" / "services.json").exists()
