from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from carbon_inclusion.accounts.schemas import LevelOut, ProgressOut, StreakOut

# A citizen's progress is a section of their profile (accounts' ``UserOut``), filled in here.
from carbon_inclusion.common.numbers import Amount

__all__ = ["BadgeIn", "BadgeLevelIn", "BadgeList", "BadgeOut", "BadgeUpdate", "ChallengeIn",
           "ChallengeList", "ChallengeOut", "EarnedOut", "LeaderboardOut", "LevelOut",
           "MyBadgesOut", "NextOut", "OwnRankOut", "ProgressOut", "RankOut", "StandingOut",
           "StreakOut"]

BADGE_CODE = r"^[a-z][a-z0-9_]{1,31}$"
BEHAVIOUR = r"^[a-z][a-z0-9_]{1,63}$"


class RankOut(msgspec.Struct):
    rank: int
    nickname: str
    reduction_g: Decimal


class OwnRankOut(msgspec.Struct):
    rank: int
    reduction_g: Decimal


class LeaderboardOut(msgspec.Struct):
    scope: str
    district: str | None
    period: str
    period_start: dt.date | None  # programme days; null for all time
    period_end: dt.date | None
    items: list[RankOut]
    # The signed-in citizen's own standing; null when not on this board or not signed in.
    me: OwnRankOut | None


# --- badges ----------------------------------------------------------------------------


class BadgeLevelIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    level: Annotated[int, msgspec.Meta(ge=1, le=20)]
    # Reached when the badge's measure is at least this (a decimal string or number).
    at_least: Amount
    bonus_points: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 0
    # Optional extra condition, e.g. "district == 'yuzhong'".
    condition: Annotated[str, msgspec.Meta(max_length=1000)] | None = None


class BadgeIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    code: Annotated[str, msgspec.Meta(pattern=BADGE_CODE, examples=["metro_first"])]
    name_zh: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    name_en: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    description_zh: Annotated[str, msgspec.Meta(max_length=500)] = ""
    description_en: Annotated[str, msgspec.Meta(max_length=500)] = ""
    # A number from the citizen's statistics; progress is shown against it.
    measure: Annotated[str, msgspec.Meta(min_length=1, max_length=1000,
                                         examples=["count_transit_trip"])]
    levels: Annotated[list[BadgeLevelIn], msgspec.Meta(min_length=1, max_length=20)]


class BadgeUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new version of a badge (the code is the path's)."""

    name_zh: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    name_en: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    description_zh: Annotated[str, msgspec.Meta(max_length=500)] = ""
    description_en: Annotated[str, msgspec.Meta(max_length=500)] = ""
    measure: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    levels: Annotated[list[BadgeLevelIn], msgspec.Meta(min_length=1, max_length=20)]
    status: str = "active"  # "retired": no more awards; earned ones stay


class BadgeOut(msgspec.Struct):
    code: str
    version: int
    status: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    measure: str
    levels: list[BadgeLevelIn]


class BadgeList(msgspec.Struct):
    items: list[BadgeOut]


class EarnedOut(msgspec.Struct):
    code: str
    level: int
    name_zh: str
    name_en: str
    bonus_points: int
    awarded_at: dt.datetime


class NextOut(msgspec.Struct):
    code: str
    level: int
    name_zh: str
    name_en: str
    value: Decimal  # the measure now
    target: Decimal  # the level's at_least
    progress: Decimal  # value / target, 0–1
    bonus_points: int


class MyBadgesOut(msgspec.Struct):
    earned: list[EarnedOut]
    next: list[NextOut]  # the next level of every active badge not yet complete


# --- challenges ------------------------------------------------------------------------


class ChallengeIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title_zh: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    title_en: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    kind: Literal["individual", "district"] = "individual"
    # The behaviour type counted; null counts every behaviour.
    behaviour: Annotated[str, msgspec.Meta(pattern=BEHAVIOUR)] | None = None
    measure: Literal["count", "grams"] = "count"
    target: Amount
    starts_on: dt.date  # programme days (Asia/Shanghai), both included
    ends_on: dt.date
    bonus_points: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 0


class StandingOut(msgspec.Struct):
    district: str
    value: Decimal
    participants: int


class ChallengeOut(msgspec.Struct):
    id: uuid.UUID
    title_zh: str
    title_en: str
    kind: str
    behaviour: str | None
    measure: str
    target: Decimal
    starts_on: dt.date
    ends_on: dt.date
    bonus_points: int
    state: str  # upcoming, running, ended
    participants: int
    joined: bool | None = None  # with a citizen's token
    progress: Decimal | None = None  # the caller's own (individual) or district's value
    completed_at: dt.datetime | None = None
    standings: list[StandingOut] | None = None  # district challenges, leader first
    settled_at: dt.datetime | None = None


class ChallengeList(msgspec.Struct):
    items: list[ChallengeOut]
