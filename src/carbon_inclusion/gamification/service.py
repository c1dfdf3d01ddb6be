"""A citizen's progress: level from lifetime reduction, and day streaks.

Both are read from ``daily_totals`` (what each citizen was credited per type and programme
day), which the behaviour pipeline keeps in the same transaction as every credit and
reversal: nothing here can drift from the ledger, a late partner record for an earlier day
counts for that day, and a behaviour taken back on review gives its day back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert

from carbon_inclusion.db import Database
from carbon_inclusion.gamification.models import Level
from carbon_inclusion.gamification.schemas import LevelOut, ProgressOut, StreakOut
from carbon_inclusion.settings import Settings


def streaks(days: Sequence[dt.date], today: dt.date) -> StreakOut:
    """Current and best runs of consecutive ``days`` (sorted, distinct). The current run
    is alive while its last day is today or yesterday: today is not over yet."""
    best = run = 0
    previous: dt.date | None = None
    for day in days:
        run = run + 1 if previous is not None and day - previous == dt.timedelta(days=1) else 1
        best = max(best, run)
        previous = day
    alive = previous is not None and today - previous <= dt.timedelta(days=1)
    return StreakOut(current=run if alive else 0, best=best, last_day=previous)


def level_of(levels: Sequence[LevelOut], reduction_g: Decimal) -> tuple[LevelOut, LevelOut | None]:
    """The level reached with ``reduction_g`` and the next one (None at the top)."""
    reached = [lv for lv in levels if lv.min_reduction_g <= reduction_g]
    current = reached[-1] if reached else levels[0]
    later = [lv for lv in levels if lv.min_reduction_g > reduction_g]
    return current, (later[0] if later else None)


class ProgressService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.tz = settings.tz
        self._levels: list[LevelOut] | None = None

    async def levels(self) -> list[LevelOut]:
        if self._levels is None:  # data changes only by seeding, which restarts the service
            async with self.db.read() as session:
                rows = (await session.scalars(select(Level).order_by(Level.min_reduction_g))
                        ).all()
            self._levels = [LevelOut(r.level, r.name_zh, r.name_en, r.min_reduction_g)
                            for r in rows]
        return self._levels

    async def progress(self, citizen_id: uuid.UUID) -> ProgressOut:
        levels = await self.levels()
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(_TOTALS, {"c": citizen_id})).one()
        total = Decimal(row.grams or 0)
        today = dt.datetime.now(self.tz).date()
        current, upcoming = level_of(levels, total)
        return ProgressOut(
            reduction_g=total, level=current, next_level=upcoming,
            to_next_level_g=upcoming.min_reduction_g - total if upcoming else None,
            streak=streaks(row.days or [], today))


_TOTALS = text("""
    SELECT sum(grams) AS grams,
           array_agg(DISTINCT day ORDER BY day) FILTER (WHERE count > 0) AS days
      FROM daily_totals WHERE citizen_id = :c""")


async def seed_levels(db: Database, levels: list[dict[str, Any]]) -> int:
    """Insert or update the levels (``seed/levels.json``)."""
    rows = [r | {"min_reduction_g": Decimal(r["min_reduction_g"])} for r in levels]
    stmt = insert(Level).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Level.level],
        set_={c: stmt.excluded[c] for c in ("name_zh", "name_en", "min_reduction_g")})
    async with db.connect() as conn:
        await conn.execute(stmt)
    return len(rows)
