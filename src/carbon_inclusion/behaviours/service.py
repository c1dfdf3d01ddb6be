"""Behaviours, as the routes see them: one service over the cohesive parts.

- ``claims.ClaimService``: app claims (the hot path, once per Idempotency-Key);
- ``ingestion.IngestionService``: partner batches, and records credited on binding;
- ``review.ReviewService``: the review queue, approval and rejection;
- ``simulation.Simulator``: what a methodology version would have paid;
- ``ledger.service.WalletService``: the wallet and its entries (the ledger's);
- reading a citizen's behaviours, here.
The recording itself is ``pipeline.Recorder``; every statement is in ``repository``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from carbon_inclusion.behaviours import repository
from carbon_inclusion.behaviours.claims import ClaimService
from carbon_inclusion.behaviours.ingestion import ConsentFilter, IngestionService, everyone
from carbon_inclusion.behaviours.pipeline import OnChange, OnCredited, OnPaid, Recorder
from carbon_inclusion.behaviours.review import ReviewService
from carbon_inclusion.behaviours.schemas import (
    BatchResult,
    BehaviourOut,
    BehaviourPage,
    ClaimIn,
    EntryPage,
    IngestionStatusOut,
    SimulationOut,
    WalletOut,
)
from carbon_inclusion.behaviours.simulation import Simulator
from carbon_inclusion.behaviours.views import behaviour_out
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.common.pagination import decode_cursor, page
from carbon_inclusion.db import Database
from carbon_inclusion.errors import NotFound
from carbon_inclusion.ledger.service import WalletService
from carbon_inclusion.methodologies.service import MethodologyService
from carbon_inclusion.partners.service import AuthenticatedPartner, PartnerService
from carbon_inclusion.photos.service import refs_of
from carbon_inclusion.ratelimit import RateLimiter
from carbon_inclusion.settings import Settings

# Raises a domain error when a citizen may not earn now (wired in ``app.build_state``).
EarnGate = Callable[[uuid.UUID], Awaitable[None]]


class BehaviourService:
    def __init__(self, db: Database, settings: Settings, methodologies: MethodologyService,
                 partners: PartnerService, limiter: RateLimiter,
                 on_change: OnChange | None = None, on_credited: Sequence[OnCredited] = (),
                 on_paid: OnPaid | None = None, clock: Clock = SYSTEM_CLOCK,
                 may_earn: Sequence[EarnGate] = (),
                 consented: ConsentFilter = everyone) -> None:
        self.db = db
        self.settings = settings
        self.methodologies = methodologies
        self.partners = partners
        self.clock = clock
        self.may_earn = tuple(may_earn)
        self.recorder = Recorder(settings, on_change, on_credited, on_paid, clock=clock)
        self.claims = ClaimService(db, settings, self.recorder, limiter)
        self.ingestion = IngestionService(db, settings, self.recorder, partners, limiter,
                                          clock=clock, consented=consented)
        self.review = ReviewService(db, self.recorder, clock=clock)
        self.simulator = Simulator(db)
        self.wallets = WalletService(db, settings, clock=clock,
                                     pending=repository.pending_points)

    # --- the parts, as the routes call them ---------------------------------------------

    async def claim(self, citizen_id: uuid.UUID, district: str | None, key: str,
                    body: ClaimIn) -> tuple[BehaviourOut, bool]:
        for gate in self.may_earn:  # e.g. consent to the privacy notice in force
            await gate(citizen_id)
        return await self.claims.claim(citizen_id, district, key, body)

    async def ingest(self, partner: AuthenticatedPartner, raw_records: list[Any]) -> BatchResult:
        return await self.ingestion.ingest(partner, raw_records)

    async def ingestion_status(self, partner_id: str) -> IngestionStatusOut:
        return await self.ingestion.status(partner_id)

    async def credit_bound(self, conn: AsyncConnection, citizen_id: uuid.UUID,
                           partner_id: str, ref_hash: bytes) -> int:
        return await self.ingestion.credit_bound(conn, citizen_id, partner_id, ref_hash)

    async def reviews(self, *, limit: int, cursor: str | None,
                      behaviour_type: str | None = None) -> BehaviourPage:
        return await self.review.reviews(limit=limit, cursor=cursor,
                                         behaviour_type=behaviour_type)

    async def approve(self, admin_id: uuid.UUID, behaviour_id: uuid.UUID,
                      reason: str) -> BehaviourOut:
        return await self.review.approve(admin_id, behaviour_id, reason)

    async def reject(self, admin_id: uuid.UUID, behaviour_id: uuid.UUID,
                     reason: str) -> BehaviourOut:
        return await self.review.reject(admin_id, behaviour_id, reason)

    async def wallet(self, citizen_id: uuid.UUID) -> WalletOut:
        return await self.wallets.wallet(citizen_id)

    async def entries(self, citizen_id: uuid.UUID, *, limit: int,
                      cursor: str | None) -> EntryPage:
        return await self.wallets.entries(citizen_id, limit=limit, cursor=cursor)

    async def simulate(self, code: str, version: int, occurred_from: dt.datetime,
                       occurred_to: dt.datetime) -> SimulationOut:
        return await self.simulator.simulate(code, version, occurred_from, occurred_to)

    # --- reading ------------------------------------------------------------------------

    async def get(self, citizen_id: uuid.UUID | None, behaviour_id: uuid.UUID) -> BehaviourOut:
        """One behaviour with its explanation; ``citizen_id`` None means an administrator."""
        async with self.db.engine.connect() as conn:
            row = await repository.get(conn, behaviour_id, citizen_id)
            if row is None:
                raise NotFound("No such behaviour.")
            methodology = (await self.recorder.compiled_by_id(conn, row.methodology_id)
                           if row.methodology_id else None)
            refs = await refs_of(conn, [(row.citizen_id, row.id)], self.settings.public_url)
        return behaviour_out(row._asdict(), methodology.evaluate(row.data, row.evidence)
                             if methodology is not None else None, refs.get(row.id))

    async def list(self, citizen_id: uuid.UUID, *, limit: int, cursor: str | None,
                   type: str | None = None, occurred_from: dt.datetime | None = None,
                   occurred_to: dt.datetime | None = None) -> BehaviourPage:
        after = decode_cursor(cursor, dt.datetime, uuid.UUID)
        async with self.db.engine.connect() as conn:
            rows = await repository.of_citizen(conn, citizen_id, limit=limit + 1, after=after,
                                               type=type, occurred_from=occurred_from,
                                               occurred_to=occurred_to)
            shown, next_cursor = page(rows, limit, lambda r: (r.occurred_at, r.id))
            refs = await refs_of(conn, [(r.citizen_id, r.id) for r in shown],
                                 self.settings.public_url)
        return BehaviourPage([behaviour_out(r._asdict(), None, refs.get(r.id)) for r in shown],
                             next_cursor)
