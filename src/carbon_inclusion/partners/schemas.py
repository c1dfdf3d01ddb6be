from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

PartnerKind = Literal["transit", "charging", "waste", "other"]
BehaviourType = Annotated[str, msgspec.Meta(pattern="^[a-z][a-z0-9_]{1,47}$",
                                            examples=["transit_trip"])]
District = Annotated[str, msgspec.Meta(pattern="^[a-z][a-z0-9_-]{0,47}$",
                                       examples=["yuzhong"])]
ExternalRef = Annotated[str, msgspec.Meta(min_length=4, max_length=64,
                                          pattern="^[A-Za-z0-9-]+$")]
BindingCode = Annotated[str, msgspec.Meta(min_length=4, max_length=16,
                                          pattern="^[A-Za-z0-9]+$", examples=["K7QM2XPA"])]


class PartnerCreate(msgspec.Struct, forbid_unknown_fields=True):
    id: Annotated[str, msgspec.Meta(pattern="^[a-z0-9][a-z0-9-]{1,31}$", examples=["cq-metro"])]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["重庆轨道交通"])]
    kind: PartnerKind
    # The behaviour types it may report (default: its kind's: transit → transit_trip,
    # charging → ev_charging, waste → waste_sorting) and the citizens' districts (null: any).
    behaviour_types: Annotated[list[BehaviourType], msgspec.Meta(max_length=32)] | None = None
    districts: Annotated[list[District], msgspec.Meta(max_length=64)] | None = None


class PartnerScope(msgspec.Struct, forbid_unknown_fields=True):
    """What a partner may report: a record outside it is rejected `outside_partner_scope`."""

    behaviour_types: Annotated[list[BehaviourType], msgspec.Meta(max_length=32)]
    districts: Annotated[list[District], msgspec.Meta(max_length=64)] | None = None


class PartnerOut(msgspec.Struct):
    id: str
    name: str
    kind: str
    status: str
    created_at: dt.datetime
    behaviour_types: list[str] = msgspec.field(default_factory=list)
    districts: list[str] | None = None


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
    external_ref: ExternalRef
    # The one-time code the partner's own channel shows the holder: it confirms the binding.
    code: BindingCode | None = None


class BindingConfirm(msgspec.Struct, forbid_unknown_fields=True):
    code: BindingCode


class BindingCodeRequest(msgspec.Struct, forbid_unknown_fields=True):
    external_ref: ExternalRef


class BindingCodeOut(msgspec.Struct):
    """A one-time binding code, for the partner to show the holder of the reference."""

    code: str
    expires_at: dt.datetime
    external_ref_masked: str


class PartnerBindingConfirm(msgspec.Struct, forbid_unknown_fields=True):
    """The partner's signed word that the citizen of ``binding_id`` holds ``external_ref``."""

    external_ref: ExternalRef
    binding_id: uuid.UUID


class BindingOut(msgspec.Struct):
    id: uuid.UUID
    partner_id: str
    external_ref_masked: str
    created_at: dt.datetime
    records_credited: int = 0
    # pending: waiting for the partner's confirmation, pays nothing; confirmed: pays.
    status: str = "confirmed"


class BindingList(msgspec.Struct):
    items: list[BindingOut]
