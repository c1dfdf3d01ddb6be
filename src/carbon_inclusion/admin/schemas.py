"""The programme's statistics (the console's dashboard) and its public overview."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Literal

import msgspec

StatsBy = Literal["type", "district"]


class BehaviourDay(msgspec.Struct):
    day: dt.date  # programme day
    key: str  # the behaviour type, or the district code
    count: int  # credited behaviours
    reduction_g: Decimal
    points: int  # what they paid


class BehaviourStats(msgspec.Struct):
    from_: dt.date = msgspec.field(name="from")
    to: dt.date
    by: str  # type, district
    rows: list[BehaviourDay]  # a row per day and key with any; day, then key order


class PointsDay(msgspec.Struct):
    """One programme day's movements, each a positive number of points."""

    day: dt.date
    issued: int  # credited to wallets: behaviours, badge and challenge bonuses
    redeemed: int  # spent on rewards
    expired: int
    reversed: int  # taken back from behaviours credited before
    refunded: int  # given back: redemptions cancelled, vouchers expired with a refund


class PointsStats(msgspec.Struct):
    from_: dt.date = msgspec.field(name="from")
    to: dt.date
    rows: list[PointsDay]  # every day of the range, oldest first
    # Points in wallets now: the programme's liability. All-time issued - reversed -
    # redeemed + refunded - expired comes to it exactly.
    outstanding: int


class RewardDay(msgspec.Struct):
    day: dt.date
    reward_id: uuid.UUID
    reward_name: str  # Chinese
    reward_name_en: str
    redeemed: int  # units redeemed that day and not cancelled
    cancelled: int  # units redeemed that day and cancelled since
    points: int  # what the redeemed units cost


class RewardStats(msgspec.Struct):
    from_: dt.date = msgspec.field(name="from")
    to: dt.date
    rows: list[RewardDay]  # a row per day and reward with any; day, then reward order


class CreditStats(msgspec.Struct):
    """Tonnes (credits) now: batches by status, issued credits by the state they are in."""

    proposed_t: int  # in batches waiting for a verifier
    verified_t: int  # in verified batches not yet issued
    issued_t: int  # ever issued; the sum of the states below
    available_t: int
    reserved_t: int  # in unpaid quotes
    held_t: int  # bought, not yet retired
    retired_t: int
    cancelled_t: int
    returned_t: int  # in batches returned by a verifier (never issued)


class DistrictShare(msgspec.Struct):
    district: str  # code
    name: str  # Chinese
    name_en: str
    reduction_g: Decimal
    participants: int  # citizens with a credited behaviour counted in the district


class TypeShare(msgspec.Struct):
    type: str
    reduction_g: Decimal
    count: int


class PublicCredits(msgspec.Struct):
    issued_t: int
    retired_t: int
    available_t: int


class RecentCertificate(msgspec.Struct):
    id: uuid.UUID
    number: str
    kind: str  # event, compliance
    organisation_name: str
    subject: str  # the event's name, or the compliance year
    quantity_t: int
    issued_at: dt.datetime
    url: str


class OverviewOut(msgspec.Struct):
    """The programme in figures, public: nothing here names or identifies a person."""

    total_reduction_g: Decimal  # of every credited behaviour
    credited_behaviours: int
    participants: int  # citizens with a credited behaviour
    by_district: list[DistrictShare]  # every district, most grams first
    by_type: list[TypeShare]  # most grams first
    credits: PublicCredits
    recent_certificates: list[RecentCertificate]  # the 10 newest valid ones
    as_of: dt.datetime  # when these figures were read (they may be cached a little while)
