"""The programme's public overview: total reductions, participants, by district and by
behaviour type, credits issued and retired, the newest valid certificates.

Nothing here names or identifies a person: citizens appear only as counts and sums, and the
certificates as their organisation's name (an enterprise, not a person). The figures read
whole tables (credited behaviours, blocks), so the answer is kept in Redis for
``OVERVIEW_CACHE_S`` seconds: a cache, rebuilt from PostgreSQL when it is missing, expired
or Redis cannot be reached (the overview is then read every time, never refused).
"""

from __future__ import annotations

import logging
from decimal import Decimal

import msgspec
from redis.exceptions import RedisError

from carbon_inclusion.accounts import repository as accounts
from carbon_inclusion.admin.schemas import (
    DistrictShare,
    OverviewOut,
    PublicCredits,
    RecentCertificate,
    TypeShare,
)
from carbon_inclusion.behaviours import repository as behaviours
from carbon_inclusion.common.clock import SYSTEM_CLOCK, Clock
from carbon_inclusion.db import Database
from carbon_inclusion.events import repository as events
from carbon_inclusion.events.listing import certificate_url, subject
from carbon_inclusion.redis_store import RedisStore
from carbon_inclusion.registry import repository as registry
from carbon_inclusion.settings import Settings

log = logging.getLogger(__name__)
RECENT_CERTIFICATES = 10


class PublicOverview:
    def __init__(self, db: Database, redis: RedisStore, settings: Settings,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.redis = redis
        self.key = redis.key("public", "overview")
        self.ttl_s = settings.overview_cache_s
        self.base_url = settings.public_url
        self.clock = clock

    async def overview(self) -> OverviewOut:
        if self.ttl_s:
            try:
                cached = await self.redis.client.get(self.key)
            except RedisError as exc:
                log.warning("overview cache unavailable, reading PostgreSQL: %r", exc)
                cached = None
            if cached is not None:
                return msgspec.json.decode(cached, type=OverviewOut)
        built = await self.build()
        if self.ttl_s:
            try:
                await self.redis.client.set(self.key, msgspec.json.encode(built), ex=self.ttl_s)
            except RedisError as exc:
                log.warning("overview cache unavailable, not kept: %r", exc)
        return built

    async def forget(self) -> None:
        """Drop the cached overview (the next request reads PostgreSQL)."""
        await self.redis.client.delete(self.key)

    async def build(self) -> OverviewOut:
        """The overview as PostgreSQL has it now."""
        async with self.db.engine.connect() as conn:
            totals = await behaviours.credited_totals(conn)
            districts = await accounts.district_rows(conn)
            per_district = {r.key: r for r in await behaviours.credited_by_district(conn)}
            per_type = await behaviours.credited_by_type(conn)
            blocks = await registry.tonnes_by_state(conn)
            batches = await registry.tonnes_by_batch_status(conn)
            recent = await events.certificate_page(conn, status="valid", after=None,
                                                   limit=RECENT_CERTIFICATES)
        by_district = [DistrictShare(
            d.code, d.name_zh, d.name_en,
            per_district[d.code].reduction_g if d.code in per_district else Decimal(0),
            per_district[d.code].participants if d.code in per_district else 0)
            for d in districts]
        by_district.sort(key=lambda s: -s.reduction_g)  # stable: code order among equals
        return OverviewOut(
            total_reduction_g=totals.reduction_g, credited_behaviours=totals.count,
            participants=totals.participants, by_district=by_district,
            by_type=sorted((TypeShare(r.key, r.reduction_g, r.count) for r in per_type),
                           key=lambda s: (-s.reduction_g, s.type)),
            credits=PublicCredits(issued_t=batches.get("issued", 0),
                                  retired_t=blocks.get("retired", 0),
                                  available_t=blocks.get("available", 0)),
            recent_certificates=[RecentCertificate(
                r.id, r.number, r.kind, r.organisation_name or "", subject(r), r.quantity_t,
                r.issued_at, certificate_url(self.base_url, r.id)) for r in recent],
            as_of=self.clock.now())
