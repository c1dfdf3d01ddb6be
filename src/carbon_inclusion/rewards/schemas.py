from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Description = Annotated[str, msgspec.Meta(max_length=2000)]
Count = Annotated[int, msgspec.Meta(ge=1, le=10_000_000)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Period = Literal["day", "week", "month"]
Moment = Annotated[dt.datetime, msgspec.Meta(tz=True)]
ValidDays = Annotated[int, msgspec.Meta(ge=1, le=3660)]
CancelWindow = Annotated[int, msgspec.Meta(ge=0, le=30 * 86400)]
PerRedemption = Annotated[int, msgspec.Meta(ge=1, le=100)]
PartnerId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,31}$")]
Code = Annotated[str, msgspec.Meta(min_length=4, max_length=64, pattern=r"^[\x21-\x7e]+$")]


class RewardIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name_zh: Name
    name_en: Name
    description: Description = ""
    kind: Literal["coupon", "voucher", "donation"]
    cost_points: Count
    stock: Count | None = None  # omitted: unlimited
    per_citizen_limit: Limit | None = None
    limit_period: Period | None = None
    sale_from: Moment | None = None
    sale_to: Moment | None = None
    voucher_valid_days: ValidDays = 30
    cancel_window_s: CancelWindow = 0
    max_per_redemption: PerRedemption = 5
    uses_code_pool: bool = False
    partner_id: PartnerId | None = None
    refund_points_on_expiry: bool = False


class RewardUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The fields to change; a field sent as ``null`` is cleared (``stock``: unlimited)."""

    name_zh: Name | UnsetType = UNSET
    name_en: Name | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    cost_points: Count | UnsetType = UNSET
    stock: Count | UnsetType | None = UNSET
    per_citizen_limit: Limit | UnsetType | None = UNSET
    limit_period: Period | UnsetType | None = UNSET
    sale_from: Moment | UnsetType | None = UNSET
    sale_to: Moment | UnsetType | None = UNSET
    voucher_valid_days: ValidDays | UnsetType = UNSET
    cancel_window_s: CancelWindow | UnsetType = UNSET
    max_per_redemption: PerRedemption | UnsetType = UNSET
    partner_id: PartnerId | UnsetType | None = UNSET
    refund_points_on_expiry: bool | UnsetType = UNSET
    status: Literal["active", "archived"] | UnsetType = UNSET


class RewardOut(msgspec.Struct):
    id: uuid.UUID
    name_zh: str
    name_en: str
    description: str
    kind: str
    cost_points: int
    stock: int | None
    issued: int
    # What can still be redeemed: stock less issued, and no more than the codes in the pool.
    remaining: int | None
    pooled: int | None  # codes waiting in the pool; null when the reward makes its own
    per_citizen_limit: int | None
    limit_period: str | None
    sale_from: dt.datetime | None
    sale_to: dt.datetime | None
    voucher_valid_days: int
    cancel_window_s: int
    max_per_redemption: int
    uses_code_pool: bool
    partner_id: str | None
    refund_points_on_expiry: bool
    status: str


class RewardList(msgspec.Struct):
    items: list[RewardOut]


class CodesIn(msgspec.Struct, forbid_unknown_fields=True):
    codes: Annotated[list[Code], msgspec.Meta(min_length=1, max_length=10_000)]


class CodesOut(msgspec.Struct):
    added: int
    # Codes sent twice, or already known to the programme (codes are unique across rewards).
    duplicates: int
    pooled: int


class RedeemIn(msgspec.Struct, forbid_unknown_fields=True):
    reward_id: uuid.UUID
    quantity: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1


class VoucherOut(msgspec.Struct):
    code: str
    status: str
    expires_at: dt.datetime | None
    used_at: dt.datetime | None = None


class RedemptionOut(msgspec.Struct):
    id: uuid.UUID
    reward_id: uuid.UUID
    quantity: int
    points: int
    status: str
    codes: list[str]
    vouchers: list[VoucherOut]
    created_at: dt.datetime
    expires_at: dt.datetime
    cancellable_until: dt.datetime | None


class RedemptionPage(msgspec.Struct):
    items: list[RedemptionOut]
    next_cursor: str | None


class VoucherUseIn(msgspec.Struct, forbid_unknown_fields=True):
    """The signed body of a voucher use; it repeats the code so the signature covers it."""

    code: Code


class VoucherUseOut(msgspec.Struct):
    code: str
    status: str
    reward_id: uuid.UUID
    used_at: dt.datetime
