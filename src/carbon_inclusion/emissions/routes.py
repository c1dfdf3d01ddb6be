from __future__ import annotations

import uuid

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from carbon_inclusion.accounts.service import Principal
from carbon_inclusion.emissions.schemas import (
    EmissionsEntryOut,
    EmissionsIn,
    EmissionsRegisterOut,
)
from carbon_inclusion.emissions.service import EmissionsService
from carbon_inclusion.web.auth import ADMIN, ENTERPRISE, VERIFIER, organisation_of
from carbon_inclusion.web.idempotency import REPLAY_HEADERS, IdempotencyKey, created, require_key
from carbon_inclusion.web.openapi import problems
from carbon_inclusion.web.pagination import DEFAULT_LIMIT, Cursor, Limit, check_limit

_REGISTER = ("Newest year first (`limit` years a page); each year with its current verified "
             "emissions, the cap on compliance offsets it allows (`COMPLIANCE_OFFSET_CAP`, "
             "whole tonnes rounded down), what is offset already, and every revision, the "
             "current one first.")


class VerifierEmissionsController(Controller):
    path = "/v1/verifier/organisations"
    tags = ["compliance"]  # noqa: RUF012
    opt = VERIFIER

    @post("/{organisation_id:uuid}/emissions", operation_id="registerVerifiedEmissions",
          responses=problems(401, 403, 404, 409), status_code=201,
          response_headers=REPLAY_HEADERS,
          summary="Enter an organisation's verified emissions for a year (verifier)",
          description="What the verification body's report states, in t CO2e (to 0.001 t), "
          "with its reference and date. A year already in the register is corrected by a new "
          "revision that supersedes the current one and must give a `reason` (422 "
          "`correction_reason_required`; 409 `emissions_unchanged` when nothing would "
          "change); nothing is edited in place. Compliance offsets of the year are capped by "
          "the current revision. Every entry is in the audit log.")
    async def enter(self, organisation_id: FromPath[uuid.UUID], data: JSONBody[EmissionsIn],
                    principal: NamedDependency[Principal],
                    emissions: NamedDependency[EmissionsService],
                    idempotency_key: IdempotencyKey = None) -> Response[EmissionsEntryOut]:
        key = require_key(idempotency_key, "emissions entry")
        entry, first = await emissions.enter(principal.id, organisation_of(principal),
                                             organisation_id, key, data)
        return created(entry, first)

    @get("/{organisation_id:uuid}/emissions", operation_id="verifierEmissionsRegister",
         responses=problems(401, 403, 404),
         summary="An organisation's register of verified emissions (verifier)",
         description=_REGISTER)
    async def register(self, organisation_id: FromPath[uuid.UUID],
                       emissions: NamedDependency[EmissionsService],
                       limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
                       ) -> EmissionsRegisterOut:
        return await emissions.register(organisation_id, limit=check_limit(limit),
                                        cursor=cursor)


class OrganisationEmissionsController(Controller):
    path = "/v1/organisation/emissions"
    tags = ["compliance", "enterprises"]  # noqa: RUF012
    opt = ENTERPRISE

    @get("/", operation_id="organisationEmissionsRegister", responses=problems(401, 403),
         summary="The organisation's own register of verified emissions",
         description=_REGISTER)
    async def register(self, principal: NamedDependency[Principal],
                       emissions: NamedDependency[EmissionsService],
                       limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
                       ) -> EmissionsRegisterOut:
        return await emissions.register(organisation_of(principal), limit=check_limit(limit),
                                        cursor=cursor)


class AdminEmissionsController(Controller):
    path = "/v1/admin/organisations"
    tags = ["admin", "compliance"]  # noqa: RUF012
    opt = ADMIN

    @get("/{organisation_id:uuid}/emissions", operation_id="adminEmissionsRegister",
         responses=problems(401, 403, 404),
         summary="An organisation's register of verified emissions (administrator)",
         description=_REGISTER + " Administrators read the register; only verifiers enter "
         "it.")
    async def register(self, organisation_id: FromPath[uuid.UUID],
                       emissions: NamedDependency[EmissionsService],
                       limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
                       ) -> EmissionsRegisterOut:
        return await emissions.register(organisation_id, limit=check_limit(limit),
                                        cursor=cursor)
