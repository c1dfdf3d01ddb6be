from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

import msgspec


class RegisterRequest(msgspec.Struct, forbid_unknown_fields=True):
    phone: Annotated[str, msgspec.Meta(max_length=32, examples=["13800138000"])]
    password: Annotated[str, msgspec.Meta(max_length=256)]
    nickname: Annotated[str, msgspec.Meta(max_length=64, examples=["绿色出行者"])]
    district: Annotated[str, msgspec.Meta(max_length=32, examples=["yuzhong"])]
    # The privacy notice version the citizen accepted (GET /v1/privacy-notice). Without it
    # the account is created but must consent (POST /v1/me/consents) before it can earn.
    privacy_notice_version: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    phone: Annotated[str, msgspec.Meta(max_length=32)]
    password: Annotated[str, msgspec.Meta(max_length=256)]


class VerifyPhoneRequest(msgspec.Struct, forbid_unknown_fields=True):
    phone: Annotated[str, msgspec.Meta(max_length=32)]
    code: Annotated[str, msgspec.Meta(max_length=12, description="the six digits sent by SMS")]


class ResendCodeRequest(msgspec.Struct, forbid_unknown_fields=True):
    phone: Annotated[str, msgspec.Meta(max_length=32)]


class RefreshRequest(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: Annotated[str, msgspec.Meta(max_length=256)]


class LogoutRequest(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: Annotated[str, msgspec.Meta(max_length=256)] | None = None


class TokenPair(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105


class DistrictOut(msgspec.Struct):
    code: str
    adcode: str
    name_zh: str
    name_en: str
    kind: str


class OrganisationRef(msgspec.Struct):
    id: uuid.UUID
    name: str


# The profile's progress section (a citizen's level and streaks): its shape is the profile's,
# gamification works it out (``gamification.service.ProgressService``).


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


class UserOut(msgspec.Struct):
    """A user as their owner sees them (full phone number)."""

    id: uuid.UUID
    role: str
    phone: str
    nickname: str
    district: DistrictOut | None
    organisation: OrganisationRef | None
    status: str
    created_at: dt.datetime
    # Citizens only: lifetime reduction, level and the next one, day streaks.
    progress: ProgressOut | None = None
    # Citizens only: true until they accept the privacy notice in force (they cannot earn).
    consent_required: bool | None = None


class DistrictList(msgspec.Struct):
    items: list[DistrictOut]


class OrganisationCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[
        str, msgspec.Meta(min_length=1, max_length=200, examples=["重庆绿色会展有限公司"])
    ]
    # ``verification_body``: an independent verifier (核证机构); its users get the role
    # ``verifier`` and may neither buy, propose nor issue credits.
    kind: Literal["enterprise", "verification_body"] = "enterprise"


class OrganisationOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    created_at: dt.datetime
    kind: str = "enterprise"


class MemberCreate(msgspec.Struct, forbid_unknown_fields=True):
    phone: Annotated[str, msgspec.Meta(max_length=32)]
    password: Annotated[str, msgspec.Meta(max_length=256)]
    nickname: Annotated[str, msgspec.Meta(max_length=64)]


class UserStatusOut(msgspec.Struct):
    id: uuid.UUID
    status: str


# --- the administrators' directory (GET /v1/admin/organisations, /users) -------------------

OrganisationKind = Literal["enterprise", "verification_body"]
Role = Literal["citizen", "enterprise", "admin", "verifier"]
UserStatus = Literal["active", "disabled", "deleted"]


class AdminOrganisationOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    kind: str  # enterprise, verification_body
    created_at: dt.datetime
    users: int  # how many accounts belong to it


class AdminOrganisationPage(msgspec.Struct):
    items: list[AdminOrganisationOut]
    next_cursor: str | None


class AdminUserOut(msgspec.Struct):
    """An account as an administrator sees it: never the whole phone number."""

    id: uuid.UUID
    role: str
    nickname: str
    phone_masked: str | None  # 138****8000; None once the account is deleted
    organisation_id: uuid.UUID | None
    district: str | None  # a citizen's district code
    status: str  # active, disabled, deleted
    phone_verified: bool
    created_at: dt.datetime


class AdminUserPage(msgspec.Struct):
    items: list[AdminUserOut]
    next_cursor: str | None


class DeleteAccountRequest(msgspec.Struct, forbid_unknown_fields=True):
    """DELETE /v1/me: the account's password again, so a stolen access token alone cannot
    delete the account."""

    password: Annotated[str, msgspec.Meta(max_length=256)]
