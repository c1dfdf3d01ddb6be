"""The dashboard's statistics (administrators) and the programme's public overview."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from carbon_inclusion.admin.overview import PublicOverview
from carbon_inclusion.admin.schemas import (
    BehaviourDay,
    BehaviourStats,
    CreditStats,
    OverviewOut,
    PointsDay,
    PointsStats,
    RewardDay,
    RewardStats,
    StatsBy,
)
from carbon_inclusion.admin.service import ProgrammeStats
from carbon_inclusion.web.auth import ADMIN, PUBLIC
from carbon_inclusion.web.csv import CSV, TABLE_NOTE, csv_operation, csv_paths, table_or_csv
from carbon_inclusion.web.openapi import problems
from carbon_inclusion.web.query import day

From = Annotated[str | None, QueryParameter(
    name="from", max_length=10, description="The first programme day, YYYY-MM-DD "
    "(default: 29 days before `to`)")]
To = Annotated[str | None, QueryParameter(
    max_length=10, description="The last programme day, YYYY-MM-DD (default: today)")]
By = Annotated[StatsBy, QueryParameter(description="Rows by behaviour type or by district")]
RANGE = (" `from`/`to` are programme days (both included; at most 366 days; by default the "
         "last 30, today included).")


class AdminStatsController(Controller):
    path = "/v1/admin/stats"
    tags = ["admin"]  # noqa: RUF012
    opt = ADMIN | CSV

    @get(csv_paths("/behaviours"), operation_id=csv_operation("behaviourStats"),
         responses=problems(401, 403),
         summary="Credited behaviours and their grams per programme day, by type or district",
         description="A row per day and key (behaviour type, or district code) with any "
         "credited behaviour: `count`, `reduction_g`, `points` paid." + RANGE + TABLE_NOTE)
    async def behaviours(self, request: Request, stats: NamedDependency[ProgrammeStats],
                         from_: From = None, to: To = None, by: By = "type"
                         ) -> Response[BehaviourStats]:
        body = await stats.behaviours(day("from", from_), day("to", to), by)
        return table_or_csv(request, body, body.rows, BehaviourDay, "behaviours")

    @get(csv_paths("/points"), operation_id=csv_operation("pointsStats"),
         responses=problems(401, 403),
         summary="Points issued, redeemed, expired per programme day, and the liability",
         description="A row for every day: `issued` (behaviours and bonuses), `redeemed`, "
         "`expired`, `reversed`, `refunded`, each a positive number of points. `outstanding` "
         "is what wallets hold now: the programme's liability (all-time issued − reversed − "
         "redeemed + refunded − expired)." + RANGE + TABLE_NOTE)
    async def points(self, request: Request, stats: NamedDependency[ProgrammeStats],
                     from_: From = None, to: To = None) -> Response[PointsStats]:
        body = await stats.points(day("from", from_), day("to", to))
        return table_or_csv(request, body, body.rows, PointsDay, "points")

    @get(csv_paths("/rewards"), operation_id=csv_operation("rewardStats"),
         responses=problems(401, 403), summary="Rewards redeemed per programme day",
         description="A row per day and reward with any redemption: units `redeemed` (and "
         "not cancelled), units `cancelled` since, the `points` they cost." + RANGE
         + TABLE_NOTE)
    async def rewards(self, request: Request, stats: NamedDependency[ProgrammeStats],
                      from_: From = None, to: To = None) -> Response[RewardStats]:
        body = await stats.rewards(day("from", from_), day("to", to))
        return table_or_csv(request, body, body.rows, RewardDay, "rewards")

    @get(csv_paths("/credits"), operation_id=csv_operation("creditStats"),
         responses=problems(401, 403), summary="Credits now, by batch status and by state",
         description="Tonnes in batches `proposed`, `verified` (not yet issued) and "
         "`returned`; of the `issued` ones, how many are `available`, `reserved` (unpaid "
         "quotes), `held`, `retired`, `cancelled`." + TABLE_NOTE.replace("its rows", "one row"))
    async def credits(self, request: Request, stats: NamedDependency[ProgrammeStats]
                      ) -> Response[CreditStats]:
        body = await stats.credits()
        return table_or_csv(request, body, [body], CreditStats, "credits")


class PublicOverviewController(Controller):
    path = "/v1/public"
    tags = ["programme"]  # noqa: RUF012
    opt = PUBLIC

    @get("/overview", operation_id="getPublicOverview", responses=problems(),
         summary="The programme in figures: reductions, participants, credits, certificates",
         description="Public, and personal data free: every credited behaviour's grams and "
         "count, how many citizens made them (`participants`), the same by district (every "
         "district, most grams first) and by behaviour type; credits issued, retired and "
         "available; the 10 newest valid certificates. Kept for `OVERVIEW_CACHE_S` seconds "
         "(`as_of` says when it was read), and so may a proxy (`Cache-Control`).")
    async def overview(self, overview: NamedDependency[PublicOverview]
                       ) -> Response[OverviewOut]:
        body = await overview.overview()
        return Response(body, headers={
            "Cache-Control": f"public, max-age={overview.ttl_s}" if overview.ttl_s
            else "no-cache"})
