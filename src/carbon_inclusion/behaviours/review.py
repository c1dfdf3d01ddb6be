"""Review: behaviours waiting for an administrator, approved (paid as the day's and the
month's caps now stand) or rejected (a credited one taken back with a reversing entry)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.behaviours import repository
from carbon_inclusion.behaviours.pipeline import OPEN, Recorder, release
from carbon_inclusion.behaviours.schemas import BehaviourOut, BehaviourPage
from carbon_inclusion.behaviours.views import behaviour_out
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.pagination import decode_cursor, page
from carbon_inclusion.db import Database
from carbon_inclusion.errors import Conflict, NotFound
from carbon_inclusion.ledger import service as ledger
from carbon_inclusion.photos.schemas import PhotoRef
from carbon_inclusion.photos.service import refs_of
from carbon_inclusion.registry.service import issued_among


class ReviewService:
    def __init__(self, db: Database, recorder: Recorder, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.recorder = recorder
        self.clock = clock

    async def reviews(self, *, limit: int, cursor: str | None,
                      behaviour_type: str | None = None) -> BehaviourPage:
        after = decode_cursor(cursor, dt.datetime, uuid.UUID)
        async with self.db.engine.connect() as conn:
            rows = await repository.pending_review(conn, limit=limit + 1, after=after,
                                                   behaviour_type=behaviour_type)
            shown, next_cursor = page(rows, limit, lambda r: (r.created_at, r.id))
            refs = await self._photos(conn, shown)
        return BehaviourPage([behaviour_out(r._asdict(), None, refs.get(r.id)) for r in shown],
                             next_cursor)

    async def _photos(self, conn: AsyncConnection, rows: Any) -> dict[uuid.UUID, PhotoRef]:
        """The photos the behaviours carry: the reviewer opens each by its ``url``."""
        return await refs_of(conn, [(r.citizen_id, r.id) for r in rows],
                             self.recorder.settings.public_url)

    async def approve(self, admin_id: uuid.UUID, behaviour_id: uuid.UUID,
                      reason: str) -> BehaviourOut:
        """Credit a waiting behaviour; the daily caps of its day apply as they stand now."""
        now = self.clock.now()
        async with self.db.connect() as conn:
            row = await self._locked(conn, behaviour_id)
            if row.status != "pending_review":
                raise Conflict(f"This behaviour is {row.status}, not waiting for review.",
                               code="not_pending_review")
            methodology = await self.recorder.compiled_by_id(conn, row.methodology_id)
            e = methodology.evaluate(row.data, row.evidence)
            data = row._asdict() | {"status": "credited", "reason": None, "decided_at": now,
                                    "reviewed_by": admin_id, "review_reason": reason}
            used = await self.recorder.read_totals(
                conn, [(row.citizen_id, row.type, row.programme_day)])
            months = await self.recorder.period_days(
                conn, [(row.citizen_id, row.type, row.occurred_at, methodology)])
            self.recorder.pay([(data, methodology, e)], used, months)
            entries = self.recorder.credits([data])
            await self.recorder.write_totals(conn, used)
            await ledger.post(conn, entries)
            await repository.decide(conn, data)
            await self.recorder.credited(conn, [data])
            self.recorder.changed({row.citizen_id}, False)
            return behaviour_out(data, None, (await self._photos(conn, [row])).get(row.id))

    async def reject(self, admin_id: uuid.UUID, behaviour_id: uuid.UUID,
                     reason: str) -> BehaviourOut:
        """Refuse a waiting behaviour, or take back a credited one with a reversing entry."""
        now = self.clock.now()
        async with self.db.connect() as conn:
            row = await self._locked(conn, behaviour_id)
            if row.status not in OPEN:
                raise Conflict(f"This behaviour is already {row.status}.",
                               code="not_reviewable")
            if row.status == "credited":
                if await issued_among(conn, [behaviour_id]):
                    raise Conflict("This behaviour's reduction is in a credit batch "
                                   "(proposed, verified or issued); it can no longer be taken "
                                   "back (unless a verifier returns a batch not yet issued).",
                                   code="issued_as_credits")
                used = await self.recorder.read_totals(
                    conn, [(row.citizen_id, row.type, row.programme_day)])
                release(used, row)
                await self.recorder.write_totals(conn, used)
                try:
                    await self.recorder.reverse(conn, [row], f"rejected on review: {reason}")
                except ledger.InsufficientPoints as exc:
                    raise Conflict(
                        f"The citizen has spent these points: {exc.balance} left of the "
                        f"{exc.needed} to take back.", code="points_already_spent",
                        balance=exc.balance, needed=exc.needed) from None
            data = row._asdict() | {"status": "rejected", "reason": "rejected_on_review",
                                    "decided_at": now, "reviewed_by": admin_id,
                                    "review_reason": reason}
            await repository.decide(conn, data)
            return behaviour_out(data, None, (await self._photos(conn, [row])).get(row.id))

    async def _locked(self, conn: AsyncConnection, behaviour_id: uuid.UUID) -> Any:
        """The behaviour, read again after taking its citizen-and-type lock (the pipeline's),
        so counters and same-trip decisions cannot change underneath a review."""
        row = await repository.get(conn, behaviour_id)
        if row is None:
            raise NotFound("No such behaviour.")
        await self.recorder.lock(conn, [(row.citizen_id, row.type)])
        return await repository.get(conn, behaviour_id)
