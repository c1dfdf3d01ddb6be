"""Engine and transaction scope.

Services open their own transaction with ``async with db.transaction() as session`` (ORM) or
``async with db.connect() as conn`` (Core, for hot paths). Leaving the block commits; a failed
``COMMIT`` raises to the caller, so a client never sees a 2xx for work that was not stored.

Work that must follow a commit and never precede it (leaderboards, live notifications) is
registered inside the block with ``after_commit``; it runs once the block has committed, and
not at all if it rolled back. It is best effort: a failure is logged, the commit stands.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from carbon_inclusion.settings import Settings

log = logging.getLogger("carbon_inclusion.db")
AfterCommit = Callable[[], Awaitable[None]]
_pending: ContextVar[list[AfterCommit] | None] = ContextVar("after_commit", default=None)


def after_commit(work: AfterCommit) -> None:
    """Run ``work`` once the enclosing ``transaction()``/``connect()`` block has committed."""
    pending = _pending.get()
    if pending is None:
        raise RuntimeError("after_commit outside a transaction")
    pending.append(work)


def in_transaction() -> bool:
    """Whether ``after_commit`` may be called here."""
    return _pending.get() is not None


@asynccontextmanager
async def _then_after_commit() -> AsyncIterator[None]:
    pending: list[AfterCommit] = []
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
    for work in pending:  # reached only when the block committed
        try:
            await work()
        except Exception:  # the commit stands; what follows it is best effort
            log.exception("after-commit work failed")


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        engine = create_async_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
            pool_recycle=1800,
            pool_pre_ping=False,
            connect_args={
                "timeout": 5,
                "command_timeout": 30,
                "server_settings": {"application_name": "carbon-inclusion", "timezone": "UTC"},
            },
        )
        return cls(engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """An ORM session inside one transaction, committed on success."""
        async with _then_after_commit(), self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """An ORM session for reads; rolled back at the end."""
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection inside one transaction, committed on success."""
        async with _then_after_commit(), self.engine.begin() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
