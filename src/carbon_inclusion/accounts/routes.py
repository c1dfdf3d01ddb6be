from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from carbon_inclusion.accounts.directory import Directory
from carbon_inclusion.accounts.schemas import (
    AdminOrganisationOut,
    AdminOrganisationPage,
    AdminUserOut,
    AdminUserPage,
    DeleteAccountRequest,
    DistrictList,
    LogoutRequest,
    MemberCreate,
    OrganisationCreate,
    OrganisationKind,
    OrganisationOut,
    RefreshRequest,
    RegisterRequest,
    ResendCodeRequest,
    Role,
    TokenPair,
    TokenRequest,
    UserOut,
    UserStatus,
    UserStatusOut,
    VerifyPhoneRequest,
)
from carbon_inclusion.accounts.service import (
    AccountDeleter,
    AccountsService,
    Principal,
    ProgressReader,
)
from carbon_inclusion.web.auth import ADMIN, ANY_USER, CITIZEN, ENTERPRISE, PUBLIC
from carbon_inclusion.web.csv import CSV, CSV_NOTE, csv_operation, csv_paths, page_or_csv
from carbon_inclusion.web.openapi import problems
from carbon_inclusion.web.pagination import DEFAULT_LIMIT, Cursor, Limit, check_limit
from carbon_inclusion.web.query import text_query

MAX_QUERY_CHARS = 40
KindFilter = Annotated[OrganisationKind | None, QueryParameter(
    description="Only organisations of this kind")]
RoleFilter = Annotated[Role | None, QueryParameter(description="Only accounts with this role")]
UserStatusFilter = Annotated[UserStatus | None, QueryParameter(
    description="Only accounts in this status")]
UserQuery = Annotated[str | None, QueryParameter(
    max_length=MAX_QUERY_CHARS, description="Part of a nickname, or a mobile number")]


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["auth"]  # noqa: RUF012

    @post("/register", operation_id="register", opt=PUBLIC, responses=problems(429),
          summary="Register a citizen account",
          description="The account is unverified until the one-time code sent to the phone "
          "is confirmed (`POST /v1/auth/verify-phone`): it can sign in and read but not earn "
          "or redeem (`403 phone_unverified`). A phone that already has an account gets the "
          "same answer (and its owner an SMS); registrations are throttled per address.")
    async def register(self, request: Request, data: JSONBody[RegisterRequest],
                       accounts: NamedDependency[AccountsService]) -> UserOut:
        return await accounts.register(data, _client_ip(request))

    @post("/verify-phone", operation_id="verifyPhone", opt=PUBLIC,
          status_code=HTTP_204_NO_CONTENT, responses=problems(429),
          summary="Confirm a phone with the one-time code sent to it",
          description="Codes are single-use and expire (PHONE_CODE_TTL); wrong codes are "
          "throttled per phone. A wrong, expired or spent code, an unknown or an already "
          "verified phone all answer the same `422 invalid_code`.")
    async def verify_phone(self, data: JSONBody[VerifyPhoneRequest],
                           accounts: NamedDependency[AccountsService]) -> None:
        await accounts.verify_phone(data.phone, data.code)

    @post("/resend-code", operation_id="resendPhoneCode", opt=PUBLIC,
          status_code=HTTP_204_NO_CONTENT, responses=problems(429),
          summary="Send a new one-time code to an unverified phone",
          description="The previous code stops working. The answer is the same whether or "
          "not the phone has an account; throttled per phone and per address.")
    async def resend_code(self, request: Request, data: JSONBody[ResendCodeRequest],
                          accounts: NamedDependency[AccountsService]) -> None:
        await accounts.resend_code(data.phone, _client_ip(request))

    @post("/token", operation_id="signIn", opt=PUBLIC, status_code=200,
          responses=problems(401, 429), summary="Sign in with phone and password")
    async def token(self, request: Request, data: JSONBody[TokenRequest],
                    accounts: NamedDependency[AccountsService]) -> TokenPair:
        return await accounts.sign_in(data.phone, data.password, _client_ip(request))

    @post("/refresh", operation_id="refreshToken", opt=PUBLIC, status_code=200,
          responses=problems(401), summary="Rotate a refresh token",
          description="Returns a new pair; the old refresh token is spent. Presenting a spent "
          "refresh token again revokes every token of that sign-in.")
    async def refresh(self, data: JSONBody[RefreshRequest],
                      accounts: NamedDependency[AccountsService]) -> TokenPair:
        return await accounts.refresh(data.refresh_token)

    @post("/logout", operation_id="logout", opt=ANY_USER, status_code=HTTP_204_NO_CONTENT,
          responses=problems(401), summary="End a sign-in (or all of them)",
          description="Revokes the refresh token's whole rotation family, or every session of "
          "the caller when no refresh token is given. Access tokens expire on their own.")
    async def logout(self, principal: NamedDependency[Principal],
                     accounts: NamedDependency[AccountsService],
                     data: JSONBody[LogoutRequest | None] = None) -> None:
        await accounts.logout(principal, data.refresh_token if data else None)


class MeController(Controller):
    path = "/v1/me"
    tags = ["accounts"]  # noqa: RUF012

    @get("/", operation_id="getMe", opt=ANY_USER, responses=problems(401),
         summary="The signed-in user's own profile; a citizen's with level and streaks")
    async def me(self, principal: NamedDependency[Principal],
                 accounts: NamedDependency[AccountsService],
                 progress: NamedDependency[ProgressReader]) -> UserOut:
        profile = await accounts.profile(principal.id)
        if principal.role != "citizen":
            return profile
        return msgspec.structs.replace(
            profile, progress=await progress.progress(principal.id),
            consent_required=await accounts.consent_required(principal.id))

    @delete("/", operation_id="deleteMyAccount", opt=CITIZEN, tags=["privacy"],
            responses=problems(401, 403, 404, 422, 429), summary="Delete one's own account",
            description="Needs the account's password again (wrong: 422 `wrong_password`, "
            "throttled like sign-in). Personal fields are erased, bindings removed, sessions "
            "revoked and trip data reduced to what accounting needs; the account can no "
            "longer sign in. Ledger entries, credit batches and certificates stay whole "
            "under the account's pseudonymous id.")
    async def delete_account(self, data: JSONBody[DeleteAccountRequest],
                             principal: NamedDependency[Principal],
                             privacy: NamedDependency[AccountDeleter]) -> None:
        await privacy.delete_account(principal.id, data.password)


class DistrictController(Controller):
    path = "/v1/districts"
    tags = ["accounts"]  # noqa: RUF012

    @get("/", operation_id="listDistricts", opt=PUBLIC, responses=problems(),
         summary="The programme's districts and counties")
    async def list_districts(self, accounts: NamedDependency[AccountsService]) -> DistrictList:
        return DistrictList(items=await accounts.districts())


class OrganisationController(Controller):
    path = "/v1/organisation"
    tags = ["enterprises"]  # noqa: RUF012

    @get("/", operation_id="getMyOrganisation", opt=ENTERPRISE, responses=problems(401, 403),
         summary="The enterprise user's organisation")
    async def mine(self, principal: NamedDependency[Principal],
                   accounts: NamedDependency[AccountsService]) -> OrganisationOut:
        assert principal.organisation_id is not None
        org = await accounts.organisation(principal.organisation_id)
        return OrganisationOut(org.id, org.name, org.created_at, org.kind)


class AdminAccountsController(Controller):
    path = "/v1/admin"
    tags = ["admin"]  # noqa: RUF012
    opt = ADMIN

    @post("/organisations", operation_id="createOrganisation", responses=problems(401, 403, 409),
          summary="Create an enterprise organisation")
    async def create_organisation(self, data: JSONBody[OrganisationCreate],
                                  accounts: NamedDependency[AccountsService]) -> OrganisationOut:
        org = await accounts.create_organisation(data.name, kind=data.kind)
        return OrganisationOut(org.id, org.name, org.created_at, org.kind)

    @get(csv_paths("/organisations"), operation_id=csv_operation("listOrganisations"),
         opt=CSV, responses=problems(401, 403), summary="Every organisation, newest first",
         description="Enterprises and verification bodies (`kind`), each with how many "
         "accounts belong to it (`users`)." + CSV_NOTE)
    async def list_organisations(self, request: Request,
                                 directory: NamedDependency[Directory],
                                 kind: KindFilter = None, limit: Limit = DEFAULT_LIMIT,
                                 cursor: Cursor = None) -> Response[AdminOrganisationPage]:
        check_limit(limit)
        return await page_or_csv(request, lambda c: directory.organisations(
            kind=kind, limit=limit, cursor=c), cursor, AdminOrganisationOut, "organisations")

    @get(csv_paths("/users"), operation_id=csv_operation("listUsers"), opt=CSV,
         responses=problems(401, 403), summary="Every account, newest first",
         description="`q` is part of a nickname (any case), or a mobile number, which finds "
         "that number exactly (numbers are stored encrypted and found by their blind index, "
         "never by a part). A number is only ever shown masked (`138****8000`)." + CSV_NOTE)
    async def list_users(self, request: Request, directory: NamedDependency[Directory],
                         role: RoleFilter = None, status: UserStatusFilter = None,
                         q: UserQuery = None, limit: Limit = DEFAULT_LIMIT,
                         cursor: Cursor = None) -> Response[AdminUserPage]:
        check_limit(limit)
        query = text_query("q", q, MAX_QUERY_CHARS)
        return await page_or_csv(request, lambda c: directory.users(
            role=role, status=status, q=query, limit=limit, cursor=c), cursor, AdminUserOut,
            "users")

    @post("/organisations/{organisation_id:uuid}/users", operation_id="createOrganisationUser",
          responses=problems(401, 403, 404, 409),
          summary="Create a user of an organisation (an enterprise user, or a verifier of a "
                  "verification body)")
    async def create_member(self, organisation_id: FromPath[uuid.UUID],
                            data: JSONBody[MemberCreate],
                            accounts: NamedDependency[AccountsService]) -> UserOut:
        org = await accounts.organisation(organisation_id)
        return await accounts.create_user(
            role="verifier" if org.kind == "verification_body" else "enterprise",
            phone=data.phone, password=data.password,
            nickname=data.nickname, organisation_id=organisation_id,
        )

    @post("/users/{user_id:uuid}/disable", operation_id="disableUser", status_code=200,
          responses=problems(401, 403, 404), summary="Disable an account and end its sessions")
    async def disable(self, user_id: FromPath[uuid.UUID],
                      accounts: NamedDependency[AccountsService]) -> UserStatusOut:
        await accounts.set_status(user_id, "disabled")
        return UserStatusOut(user_id, "disabled")

    @post("/users/{user_id:uuid}/enable", operation_id="enableUser", status_code=200,
          responses=problems(401, 403, 404), summary="Re-enable a disabled account")
    async def enable(self, user_id: FromPath[uuid.UUID],
                     accounts: NamedDependency[AccountsService]) -> UserStatusOut:
        await accounts.set_status(user_id, "active")
        return UserStatusOut(user_id, "active")
