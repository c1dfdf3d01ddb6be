"""A citizen's progress: level from lifetime reduction, and day streaks.

Both are read from ``daily_totals`` (what each citizen was credited per type and programme
day), which the behaviour pipeline keeps in the same transaction as every credit and
reversal: nothing here can drift from the ledger, a late partner record for an earlier day
counts for that day, and a behaviour taken back on review gives its day back. The arithmetic
is in ``levels`` (pure).
"""

from __future__ import annotations

import uuid

from carbon_inclusion.behaviours import repository as behaviours
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.periods import programme_day
from carbon_inclusion.db import Database
from carbon_inclusion.gamification import repository as repo
from carbon_inclusion.gamification.levels import level_of, streaks
from carbon_inclusion.gamification.schemas import LevelOut, ProgressOut
from carbon_inclusion.settings import Settings

__all__ = ["ProgressService", "level_of", "streaks"]


class ProgressService:
    def __init__(self, db: Database, settings: Settings, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.tz = settings.tz
        self.clock = clock
        self._levels: list[LevelOut] | None = None

    async def levels(self) -> list[LevelOut]:
        if self._levels is None:  # data changes only by seeding, which restarts the service
            async with self.db.read() as session:
                rows = await repo.levels(session)
            self._levels = [LevelOut(r.level, r.name_zh, r.name_en, r.min_reduction_g)
                            for r in rows]
        return self._levels

    async def progress(self, citizen_id: uuid.UUID) -> ProgressOut:
        levels = await self.levels()
        async with self.db.engine.connect() as conn:
            total, days = await behaviours.lifetime(conn, citizen_id)
        today = programme_day(self.clock.now(), self.tz)
        current, upcoming = level_of(levels, total)
        return ProgressOut(
            reduction_g=total, level=current, next_level=upcoming,
            to_next_level_g=upcoming.min_reduction_g - total if upcoming else None,
            streak=streaks(days, today))
