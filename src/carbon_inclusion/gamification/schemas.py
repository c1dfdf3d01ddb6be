from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec


class LevelOut(msgspec.Struct):
    level: int
    name_zh: str
    name_en: str
    min_reduction_g: Decimal


class StreakOut(msgspec.Struct):
    # Consecutive programme days with a credited behaviour, up to today or yesterday.
    current: int
    best: int
    last_day: dt.date | None


class ProgressOut(msgspec.Struct):
    reduction_g: Decimal  # lifetime, credited behaviours
    level: LevelOut
    next_level: LevelOut | None
    to_next_level_g: Decimal | None
    streak: StreakOut


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
