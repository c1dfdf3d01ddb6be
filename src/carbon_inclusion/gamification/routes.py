from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from carbon_inclusion.accounts.service import Principal
from carbon_inclusion.gamification.badges import BadgeService
from carbon_inclusion.gamification.challenges import ChallengeService
from carbon_inclusion.gamification.leaderboards import Leaderboards
from carbon_inclusion.gamification.schemas import (
    BadgeIn,
    BadgeList,
    BadgeOut,
    BadgeUpdate,
    ChallengeIn,
    ChallengeList,
    ChallengeOut,
    LeaderboardOut,
    MyBadgesOut,
    OwnRankOut,
    RankOut,
)
from carbon_inclusion.web.auth import ADMIN, CITIZEN, PUBLIC, VERIFIED
from carbon_inclusion.web.openapi import already_done, problems


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
        scope_: Annotated[Literal["city", "district"], QueryParameter(name="scope")] = "city",
        period: Annotated[Literal["week", "month", "all"], QueryParameter()] = "week",
        district: Annotated[str | None, QueryParameter(
            description="District code (`GET /v1/districts`), with scope=district")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> LeaderboardOut:
        scope = scope_
        board = await leaderboards.asked(scope, period, district)
        items, mine = await leaderboards.top(board, limit, _citizen(request))
        return LeaderboardOut(
            scope=scope, district=district, period=period, period_start=board.start,
            period_end=board.end,
            items=[RankOut(s.rank, s.nickname, s.reduction_g) for s in items],
            me=OwnRankOut(mine.rank, mine.reduction_g) if mine else None)


class AdminBadgeController(Controller):
    path = "/v1/admin/badges"
    tags = ["admin", "gamification"]  # noqa: RUF012
    opt = ADMIN

    @post("/", operation_id="createBadge", responses=problems(401, 403, 409),
          summary="Define a badge (version 1)",
          description="`measure` and each level's optional `condition` are formulas in the "
          "methodology language over a citizen's statistics: `total_g`, `behaviours`, "
          "`active_days`, `streak`, `best_streak`, `count_<behaviour>`, "
          "`grams_<behaviour>`, `district`. A formula that does not check is refused "
          "(422, naming the field).")
    async def create(self, data: JSONBody[BadgeIn], principal: NamedDependency[Principal],
                     badges: NamedDependency[BadgeService]) -> BadgeOut:
        return await badges.create(principal.id, data)

    @get("/", operation_id="listBadgesAdmin", responses=problems(401, 403),
         summary="Every badge, retired ones included, at its current version")
    async def list_all(self, badges: NamedDependency[BadgeService]) -> BadgeList:
        return BadgeList(await badges.listing())

    @get("/{code:str}", operation_id="getBadgeAdmin", responses=problems(401, 403, 404),
         summary="One badge at its current version")
    async def get_one(self, code: FromPath[str], badges: NamedDependency[BadgeService]) -> BadgeOut:
        return await badges.get(code)

    @put("/{code:str}", operation_id="updateBadge", responses=problems(401, 403, 404),
         summary="A new version of a badge",
         description="Awards made under earlier versions stay. `status: retired` stops "
         "further awards.")
    async def update(self, code: FromPath[str], data: JSONBody[BadgeUpdate],
                     principal: NamedDependency[Principal],
                     badges: NamedDependency[BadgeService]) -> BadgeOut:
        return await badges.update(principal.id, code, data)


class BadgeController(Controller):
    path = "/v1/badges"
    tags = ["gamification"]  # noqa: RUF012
    opt = PUBLIC

    @get("/", operation_id="listBadges", responses=problems(),
         summary="The badges citizens can earn")
    async def list_active(self, badges: NamedDependency[BadgeService]) -> BadgeList:
        return BadgeList(await badges.listing(active_only=True))


class MyGameController(Controller):
    path = "/v1/me"
    tags = ["gamification"]  # noqa: RUF012
    opt = CITIZEN

    @get("/badges", operation_id="getMyBadges", responses=problems(401, 403),
         summary="Badges earned, and the next level of each with progress")
    async def my_badges(self, principal: NamedDependency[Principal],
                        badges: NamedDependency[BadgeService]) -> MyBadgesOut:
        return await badges.mine(principal.id)


class AdminChallengeController(Controller):
    path = "/v1/admin/challenges"
    tags = ["admin", "gamification"]  # noqa: RUF012
    opt = ADMIN

    @post("/", operation_id="createChallenge", responses=problems(401, 403),
          summary="Set a time-boxed goal, for citizens alone or district against district")
    async def create(self, data: JSONBody[ChallengeIn], principal: NamedDependency[Principal],
                     challenges: NamedDependency[ChallengeService]) -> ChallengeOut:
        return await challenges.create(principal.id, data)

    @post("/settle", operation_id="settleChallenges", responses=problems(401, 403),
          status_code=200, summary="Pay the winners of district challenges that have ended",
          description="Safe to repeat: each challenge is settled once. The same as "
          "`carbon-inclusion challenges settle`.")
    async def settle(self, challenges: NamedDependency[ChallengeService]) -> dict[str, Any]:
        return await challenges.settle()


class ChallengeController(Controller):
    path = "/v1/challenges"
    tags = ["gamification"]  # noqa: RUF012
    opt = PUBLIC

    @get("/", operation_id="listChallenges", responses=problems(),
         summary="Challenges running or coming up",
         description="With a citizen's token each says whether the caller joined, and their "
         "progress (their own, or their district's).")
    async def list_open(self, request: Request,
                        challenges: NamedDependency[ChallengeService]) -> ChallengeList:
        return await challenges.listing(_citizen(request))

    @get("/{challenge_id:uuid}", operation_id="getChallenge", responses=problems(404),
         summary="One challenge, with district standings for district challenges")
    async def get_one(self, request: Request, challenge_id: FromPath[uuid.UUID],
                      challenges: NamedDependency[ChallengeService]) -> ChallengeOut:
        return await challenges.get(challenge_id, _citizen(request))



class ChallengeJoinController(Controller):
    path = "/v1/challenges"
    tags = ["gamification"]  # noqa: RUF012
    opt = CITIZEN  # its own controller: a handler's opt is merged into PUBLIC's, not instead

    @post("/{challenge_id:uuid}/join", operation_id="joinChallenge", opt=VERIFIED,
          responses=problems(401, 403, 404, 409) | already_done(ChallengeOut, "Already joined"),
          summary="Join a challenge (201; joining again answers 200 and changes nothing)",
          description="An ended challenge cannot be joined (409 `challenge_ended`). A "
          "district challenge counts the caller for their district as it is now.")
    async def join(self, challenge_id: FromPath[uuid.UUID],
                   principal: NamedDependency[Principal],
                   challenges: NamedDependency[ChallengeService]) -> Response[ChallengeOut]:
        out, joined = await challenges.join(principal.id, principal.district_code,
                                            challenge_id)
        return Response(out, status_code=201 if joined else 200)


def _citizen(request: Request) -> uuid.UUID | None:
    user = request.scope.get("user")
    return user.id if user is not None and user.role == "citizen" else None
