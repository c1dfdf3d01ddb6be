"""The programme's statistics, by programme day: behaviours, points, rewards, credits.

Administration owns no table. Each figure is one domain's aggregate, asked of that domain's
``repository.py`` (behaviours, ledger, rewards, registry); this module only chooses the
range, puts the figures side by side and fills the days. A day is a programme day
(``PROGRAMME_TZ``): a behaviour's own ``programme_day``; a ledger entry or a redemption by
when it was made, in the programme's time zone.
"""

from __future__ import annotations

import datetime as dt

from carbon_inclusion.admin.schemas import (
    BehaviourDay,
    BehaviourStats,
    CreditStats,
    PointsDay,
    PointsStats,
    RewardDay,
    RewardStats,
)
from carbon_inclusion.behaviours import repository as behaviours
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.periods import day_range, local_midnight, programme_day
from carbon_inclusion.db import Database
from carbon_inclusion.ledger import repository as ledger
from carbon_inclusion.registry import repository as registry
from carbon_inclusion.rewards import repository as rewards
from carbon_inclusion.settings import Settings

ONE_DAY = dt.timedelta(days=1)


class ProgrammeStats:
    def __init__(self, db: Database, settings: Settings, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.tz = settings.tz
        self.clock = clock

    def _range(self, first: dt.date | None, last: dt.date | None) -> tuple[dt.date, dt.date]:
        """The programme days asked for (default: the last 30, today included)."""
        return day_range(first, last, programme_day(self.clock.now(), self.tz))

    def _instants(self, first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
        return local_midnight(first, self.tz), local_midnight(last + ONE_DAY, self.tz)

    async def behaviours(self, first: dt.date | None, last: dt.date | None, by: str
                         ) -> BehaviourStats:
        first, last = self._range(first, last)
        async with self.db.engine.connect() as conn:
            rows = await behaviours.credited_by_day(conn, first, last, by)
        return BehaviourStats(first, last, by, [BehaviourDay(
            r.day, r.key, r.count, r.reduction_g, int(r.points)) for r in rows])

    async def points(self, first: dt.date | None, last: dt.date | None) -> PointsStats:
        first, last = self._range(first, last)
        async with self.db.engine.connect() as conn:
            rows = {r.day: r for r in await ledger.points_by_day(
                conn, *self._instants(first, last), self.tz.key)}
            outstanding = await ledger.outstanding(conn)
        days = []
        day = first
        while day <= last:
            r = rows.get(day)
            days.append(PointsDay(day, 0, 0, 0, 0, 0) if r is None else PointsDay(
                day, int(r.issued), int(r.redeemed), int(r.expired), int(r.reversed),
                int(r.refunded)))
            day += ONE_DAY
        return PointsStats(first, last, days, outstanding)

    async def rewards(self, first: dt.date | None, last: dt.date | None) -> RewardStats:
        first, last = self._range(first, last)
        async with self.db.engine.connect() as conn:
            rows = await rewards.redeemed_by_day(conn, *self._instants(first, last),
                                                 self.tz.key)
        return RewardStats(first, last, [RewardDay(
            r.day, r.reward_id, r.name_zh, r.name_en, int(r.redeemed), int(r.cancelled),
            int(r.points)) for r in rows])

    async def credits(self) -> CreditStats:
        async with self.db.engine.connect() as conn:
            batches = await registry.tonnes_by_batch_status(conn)
            blocks = await registry.tonnes_by_state(conn)
        return CreditStats(
            proposed_t=batches.get("proposed", 0), verified_t=batches.get("verified", 0),
            issued_t=batches.get("issued", 0), available_t=blocks.get("available", 0),
            reserved_t=blocks.get("reserved", 0), held_t=blocks.get("held", 0),
            retired_t=blocks.get("retired", 0), cancelled_t=blocks.get("cancelled", 0),
            returned_t=batches.get("returned", 0))
