"""Test storage: real PostgreSQL and Redis, in a database and key prefix of this session's own.

Storage is resolved like ``make run`` does (``TEST_DATABASE_URL``/``DATABASE_URL`` and
``REDIS_URL`` when set, else the local servers when they answer, else embedded ones under
``.data/``). A fresh database ``ci_test_<random>`` is created, migrated and seeded for the
session and dropped at the end; Redis keys live under ``test:<random>:`` and are deleted.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from carbon_inclusion.accounts.phones import normalise_phone
from carbon_inclusion.accounts.repository import outbox_codes
from carbon_inclusion.app import create_app
from carbon_inclusion.db.migrate import upgrade
from carbon_inclusion.devservices import DevServices, drop_database, ensure_database
from carbon_inclusion.ledger.service import check_invariants
from carbon_inclusion.seeding import seed_all
from carbon_inclusion.settings import Settings
from tests.live import Live, fresh_database, live_server

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Low-carbon-2026"
_RUNNING: dict[str, object] = {}  # the session's app, once a test has asked for it


@dataclass(frozen=True)
class Storage:
    database_url: str
    redis_url: str


@pytest.fixture(scope="session")
def storage() -> Iterator[Storage]:
    services = DevServices(
        ROOT / ".data",
        database_url=os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL"),
        redis_url=os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL"),
        mode=os.environ.get("EMBEDDED_SERVICES", "auto"),
    )
    endpoints = services.start()
    url = make_url(endpoints.database_url).set(database=f"ci_test_{secrets.token_hex(4)}")
    test_url = url.render_as_string(hide_password=False)
    ensure_database(test_url)
    try:
        upgrade(test_url)
        yield Storage(test_url, endpoints.redis_url)
    finally:
        drop_database(test_url)
        services.stop()


@pytest.fixture(scope="session")
def settings(storage: Storage, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        environment="test",
        database_url=storage.database_url,
        redis_url=storage.redis_url,
        redis_prefix=f"test:{secrets.token_hex(4)}:",
        jwt_keys_dir=tmp_path_factory.mktemp("jwt"),
        # Tests sign in hundreds of times from one address; the throttle has its own tests.
        login_failures_per_ip=100_000,
        registrations_per_ip=100_000,
        # Races send a hundred claims at once; the per-citizen throttle has its own test.
        claims_per_minute=100_000,
        # Races queue a thousand requests on one pool; on a loaded 2-core machine the last
        # may wait longer than production's 5 s before getting a connection.
        db_pool_timeout=60,
        log_json=False,
        # Uploaded photos in a directory of the session's own (tests/photos look inside).
        storage_url=f"file:{tmp_path_factory.mktemp('objects')}",
    )


@dataclass(frozen=True)
class S3Server:
    """A local S3-compatible server (moto's, in a thread) with one bucket."""

    endpoint: str
    bucket: str
    access_key: str = "test-access-key"
    secret_key: str = "test-secret-key"
    region: str = "us-east-1"

    def client(self):  # boto3: checks from the outside what the store wrote
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key)

    def object_keys(self) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=self.bucket)
        return sorted(o["Key"] for o in listed.get("Contents", ()))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = S3Server(f"http://{host}:{port}", "photos-" + secrets.token_hex(4))
        s3.client().create_bucket(Bucket=s3.bucket)
        yield s3
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def own_app(settings: Settings, *, clock=None, **overrides) -> AsyncIterator:
    """An app of the test's own on the session's stores (other settings, another clock),
    closed as the service closes."""
    kwargs = {} if clock is None else {"clock": clock}
    application = create_app(settings.with_overrides(**overrides) if overrides else settings,
                             **kwargs)
    try:
        yield application
    finally:
        await application.state.notifier.close()
        await application.state.db.dispose()
        await application.state.redis.close()


def client_of(application, address: str, base_url: str = "http://testserver"
              ) -> httpx.AsyncClient:
    """A client calling ``application`` in process, from ``address``."""
    transport = httpx.ASGITransport(app=application, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=base_url)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator:
    application = create_app(settings)
    await seed_all(application.state.db, ROOT / "seed")
    # Seed badges pay bonuses; tests that count points exactly would count them too. The
    # badge tests switch them on (``seed_badges``).
    async with application.state.db.connect() as conn:
        await conn.execute(text("UPDATE badges SET status = 'retired'"))
    application.state.badges.forget()
    _RUNNING["app"] = application
    yield application
    _RUNNING.clear()
    await application.state.db.dispose()
    await _delete_prefix(application.state.redis.client, settings.redis_prefix)
    await application.state.redis.close()


@pytest.fixture
async def seed_badges(app) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """``await seed_badges()`` switches the seed badges on until the test ends."""

    async def on() -> None:
        async with app.state.db.connect() as conn:
            await conn.execute(text("UPDATE badges SET status = 'active'"))
        app.state.badges.forget()

    try:
        yield on
    finally:
        async with app.state.db.connect() as conn:
            await conn.execute(text("UPDATE badges SET status = 'retired'"))
        app.state.badges.forget()


async def _delete_prefix(client: aioredis.Redis, prefix: str) -> None:
    async for key in client.scan_iter(match=prefix + "*", count=1000):
        await client.delete(key)


@pytest.fixture(autouse=True, scope="module")
async def ledger_stays_sound():
    """After every module, once the app exists: Σ postings = 0, each wallet = Σ its
    postings, no wallet negative; and every registry check passes."""
    yield
    application = _RUNNING.get("app")
    if application is not None:
        async with application.state.db.connect() as conn:
            assert await check_invariants(conn) == []
        assert (await application.state.registry.verify()).problems == []


@pytest.fixture(scope="session")
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


CURRENT_NOTICE = 1  # seed/privacy/notice-v1.json: the notice test citizens accept


def new_phone() -> str:
    """A fresh, valid mainland mobile number (tests never share one)."""
    return "139" + str(secrets.randbelow(10**8)).zfill(8)


@dataclass
class User:
    id: str
    phone: str
    role: str
    access_token: str
    refresh_token: str
    extra: dict = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def sign_in(client: httpx.AsyncClient, phone: str, password: str = PASSWORD) -> dict:
    r = await client.post("/v1/auth/token", json={"phone": phone, "password": password})
    assert r.status_code == 200, r.text
    return r.json()


async def sent_code(app, phone: str) -> str:
    """The newest one-time code the development SMS outbox holds for ``phone``."""
    async with app.state.db.connect() as conn:
        codes = await outbox_codes(conn, normalise_phone(phone))
    assert codes, f"no code was sent to {phone}"
    return codes[0]


async def verify_phone(app, client: httpx.AsyncClient, phone: str) -> None:
    """What a citizen does after registering: reads the SMS, enters the code."""
    code = await sent_code(app, phone)
    r = await client.post("/v1/auth/verify-phone", json={"phone": phone, "code": code})
    assert r.status_code == 204, r.text


@pytest.fixture
def make_citizen(app, client: httpx.AsyncClient):
    async def make(district: str = "yuzhong", nickname: str = "绿色出行者") -> User:
        phone = new_phone()
        r = await client.post(
            "/v1/auth/register",
            json={"phone": phone, "password": PASSWORD, "nickname": nickname,
                  "district": district, "privacy_notice_version": CURRENT_NOTICE},
        )
        assert r.status_code == 201, r.text
        await verify_phone(app, client, phone)
        tokens = await sign_in(client, phone)
        return User(r.json()["id"], phone, "citizen", tokens["access_token"],
                    tokens["refresh_token"])

    return make


@pytest.fixture
def make_user(app, client: httpx.AsyncClient):
    """Creates an admin or enterprise user through the service, as the CLI/admin API do."""

    async def make(role: str, organisation_id=None) -> User:
        phone = new_phone()
        user = await app.state.accounts.create_user(
            role=role, phone=phone, password=PASSWORD, nickname=f"{role}-user",
            organisation_id=organisation_id,
        )
        tokens = await sign_in(client, phone)
        return User(str(user.id), phone, role, tokens["access_token"], tokens["refresh_token"])

    return make


@pytest.fixture
async def citizen(make_citizen) -> User:
    return await make_citizen()


@pytest.fixture
async def admin(make_user) -> User:
    return await make_user("admin")




@pytest.fixture
async def organisation(client, admin) -> dict:
    r = await client.post("/v1/admin/organisations", headers=admin.headers,
                          json={"name": f"绿色会展 {admin.phone}"})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
async def enterprise(make_user, organisation) -> User:
    return await make_user("enterprise", organisation_id=organisation["id"])


@pytest.fixture
async def verification_body(client, admin) -> dict:
    r = await client.post("/v1/admin/organisations", headers=admin.headers,
                          json={"name": f"核证机构 {admin.phone}", "kind": "verification_body"})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
async def verifier(make_user, verification_body) -> User:
    """A user of an independent verification body (role ``verifier``)."""
    return await make_user("verifier", organisation_id=verification_body["id"])


@pytest.fixture(scope="module")
def server(storage: Storage) -> Iterator[Live]:
    """A real server (granian, as `make run` serves it) on a database of the module's own."""
    with fresh_database(storage.database_url) as database_url, \
            live_server(database_url, storage.redis_url, setup=True) as live:
        yield live
