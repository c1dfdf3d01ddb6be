from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from carbon_inclusion.accounts.service import Principal
from carbon_inclusion.privacy.schemas import (
    ConsentIn,
    ConsentOut,
    ExportOut,
    PrivacyNoticeOut,
)
from carbon_inclusion.privacy.service import PrivacyService
from carbon_inclusion.web.auth import ANY_USER, CITIZEN, PUBLIC
from carbon_inclusion.web.openapi import problems


class PrivacyNoticeController(Controller):
    path = "/v1/privacy-notice"
    tags = ["privacy"]  # noqa: RUF012

    @get("/", operation_id="getPrivacyNotice", opt=PUBLIC, responses=problems(),
         summary="The privacy notice in force",
         description="Version, effective date, zh and en text; says that trip records are "
         "行踪轨迹 (sensitive personal information), why they are processed and how long "
         "they are kept. Registration sends its version as `privacy_notice_version`.")
    async def notice(self, privacy: NamedDependency[PrivacyService]) -> PrivacyNoticeOut:
        return privacy.notice()


class MyDataController(Controller):
    # DELETE /v1/me is accounts' MeController (one controller per path), calling the
    # ``AccountDeleter`` that ``PrivacyService`` is.
    path = "/v1/me"
    tags = ["privacy"]  # noqa: RUF012

    @post("/consents", operation_id="consentToPrivacyNotice", opt=CITIZEN,
          responses=problems(401, 403, 422), summary="Accept the privacy notice in force",
          description="Until a citizen has accepted the notice in force (`consent_required` "
          "on GET /v1/me), recording behaviours is refused with 403 `consent_required`. "
          "Consents are kept as a history; accepting again adds a row.")
    async def consent(self, data: JSONBody[ConsentIn], principal: NamedDependency[Principal],
                      privacy: NamedDependency[PrivacyService]) -> ConsentOut:
        return await privacy.consent(principal.id, data.version)

    @get("/export", operation_id="exportMyData", opt=ANY_USER, responses=problems(401),
         summary="Download every record of one's own personal data",
         description="JSON of the profile, consents, sign-ins, bindings, behaviours, partner "
         "records, wallet, ledger entries, redemptions with vouchers, badges and challenges "
         "of the signed-in user, read in one snapshot; nothing of anyone else's.")
    async def export(self, principal: NamedDependency[Principal],
                     privacy: NamedDependency[PrivacyService]) -> ExportOut:
        return await privacy.export(principal.id)
