from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy import select

from carbon_inclusion.accounts.models import District, User
from carbon_inclusion.db import Database
from carbon_inclusion.errors import InvalidInput
from carbon_inclusion.gamification.leaderboards import Leaderboards
from carbon_inclusion.gamification.schemas import LeaderboardOut, OwnRankOut, RankOut
from carbon_inclusion.web.auth import PUBLIC
from carbon_inclusion.web.openapi import problems


class LeaderboardController(Controller):
    path = "/v1/leaderboards"
    tags = ["gamification"]  # noqa: RUF012
    opt = PUBLIC

    @get("/", operation_id="getLeaderboard", responses=problems(422, 503),
         summary="Who saved the most this week, this month or ever, city-wide or in a district",
         description="Public. Ranked by grams of CO2e saved by credited behaviours in the "
         "programme's weeks (from Monday) and months; equal grams rank the citizen who "
         "joined first higher. Citizens appear by nickname only. With a citizen's token, "
         "`me` is the caller's own standing.")
    async def board(
        self, request: Request, leaderboards: NamedDependency[Leaderboards],
        db: NamedDependency[Database],
        scope_: Annotated[Literal["city", "district"], QueryParameter(name="scope")] = "city",
        period: Annotated[Literal["week", "month", "all"], QueryParameter()] = "week",
        district: Annotated[str | None, QueryParameter(
            description="District code (`GET /v1/districts`), with scope=district")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> LeaderboardOut:
        scope = scope_
        board = leaderboards.board(scope, period, district)
        if district is not None:
            async with db.read() as session:
                if await session.get(District, district) is None:
                    raise InvalidInput.field("district", f"unknown district {district!r}",
                                             code="unknown_district")
        viewer = request.scope.get("user")
        viewer_id = viewer.id if viewer is not None and viewer.role == "citizen" else None
        items, mine = await leaderboards.top(board, limit, viewer_id)
        async with db.read() as session:
            names = dict((await session.execute(
                select(User.id, User.nickname).where(User.id.in_([s.citizen_id for s in items]))
            )).all()) if items else {}
        return LeaderboardOut(
            scope=scope, district=district, period=period, period_start=board.start,
            period_end=board.end,
            items=[RankOut(s.rank, names.get(s.citizen_id, ""), s.reduction_g) for s in items],
            me=OwnRankOut(mine.rank, mine.reduction_g) if mine else None)
