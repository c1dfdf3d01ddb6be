from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

PartnerKind = Literal["transit", "charging", "waste", "other"]


class PartnerCreate(msgspec.Struct, forbid_unknown_fields=True):
    id: Annotated[str, msgspec.Meta(pattern="^[a-z0-9][a-z0-9-]{1,31}$", examples=["cq-metro"])]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["重庆轨道交通"])]
    kind: PartnerKind


class PartnerOut(msgspec.Struct):
    id: str
    name: str
    kind: str
    status: str
    created_at: dt.datetime


class PartnerSecretOut(msgspec.Struct):
    """Returned once, when the partner is created or its secret rotated."""

    id: str
    name: str
    kind: str
    secret: str
    previous_secret_valid_until: dt.datetime | None = None


class PartnerList(msgspec.Struct):
    items: list[PartnerOut]


class BindingCreate(msgspec.Struct, forbid_unknown_fields=True):
    partner_id: Annotated[str, msgspec.Meta(max_length=32)]
    external_ref: Annotated[str, msgspec.Meta(min_length=4, max_length=64,
                                              pattern="^[A-Za-z0-9-]+$")]


class BindingOut(msgspec.Struct):
    id: uuid.UUID
    partner_id: str
    external_ref_masked: str
    created_at: dt.datetime
    records_credited: int = 0


class BindingList(msgspec.Struct):
    items: list[BindingOut]
