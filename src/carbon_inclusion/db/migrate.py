"""Alembic, driven from code: ``carbon-inclusion db upgrade`` and the test fixtures use it."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    if database_url:
        cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations (blocking; call from a thread when an event loop is running)."""
    command.upgrade(alembic_config(database_url), revision)


@cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def revision_of(conn: AsyncConnection) -> str | None:
    """The revision the database is at; None when it was never migrated."""
    if await conn.scalar(text("SELECT to_regclass('alembic_version')")) is None:
        return None
    return await conn.scalar(text("SELECT version_num FROM alembic_version"))
