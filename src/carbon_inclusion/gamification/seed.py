"""Seeding gamification's data: levels (``seed/levels.json``) and badges (``seed/badges.json``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from carbon_inclusion.db import Database
from carbon_inclusion.gamification import repository as repo
from carbon_inclusion.gamification.badges import BadgeService
from carbon_inclusion.gamification.schemas import BadgeIn
from carbon_inclusion.settings import Settings


async def seed_levels(db: Database, levels: list[dict[str, Any]]) -> int:
    """Insert or update the levels."""
    rows = [r | {"min_reduction_g": Decimal(r["min_reduction_g"])} for r in levels]
    async with db.connect() as conn:
        await repo.upsert_levels(conn, rows)
    return len(rows)


async def seed_badges(db: Database, items: list[dict[str, Any]],
                      settings: Settings | None = None) -> int:
    """Add the badges not there yet, by code; returns how many."""
    service, added = BadgeService(db, settings or Settings.from_env()), 0
    for item in items:
        async with db.engine.connect() as conn:
            if await repo.badge_exists(conn, item["code"]):
                continue
        await service.create(None, msgspec.convert(item, BadgeIn))
        added += 1
    return added
