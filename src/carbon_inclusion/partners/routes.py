from __future__ import annotations

import uuid

from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from carbon_inclusion.accounts.service import Principal
from carbon_inclusion.partners.schemas import (
    BindingCodeOut,
    BindingCodeRequest,
    BindingConfirm,
    BindingCreate,
    BindingList,
    BindingOut,
    PartnerBindingConfirm,
    PartnerCreate,
    PartnerList,
    PartnerOut,
    PartnerScope,
    PartnerSecretOut,
)
from carbon_inclusion.partners.service import PartnerService
from carbon_inclusion.web.auth import ADMIN, CITIZEN, PARTNER, PUBLIC, VERIFIED
from carbon_inclusion.web.openapi import problems
from carbon_inclusion.web.signed import signed_body


class PartnerDirectoryController(Controller):
    path = "/v1/partners"
    tags = ["partners"]  # noqa: RUF012
    opt = PUBLIC

    @get("/", operation_id="listPartners", responses=problems(),
         summary="Data partners whose cards or accounts a citizen can bind")
    async def list_partners(self, partners: NamedDependency[PartnerService]) -> PartnerList:
        return PartnerList(items=[p for p in await partners.list() if p.status == "active"])


class AdminPartnerController(Controller):
    path = "/v1/admin/partners"
    tags = ["admin", "partners"]  # noqa: RUF012
    opt = ADMIN

    @post("/", operation_id="createPartner", responses=problems(401, 403, 409),
          summary="Create a data partner; its signing secret is shown once",
          description="`behaviour_types` (default: its kind's — transit → `transit_trip`, "
          "charging → `ev_charging`, waste → `waste_sorting`) and `districts` (default: "
          "any) are what it may report; a record outside them is `rejected` "
          "`outside_partner_scope`.")
    async def create(self, data: JSONBody[PartnerCreate], principal: NamedDependency[Principal],
                     partners: NamedDependency[PartnerService]) -> PartnerSecretOut:
        return await partners.create(principal.id, data.id, data.name, data.kind,
                                     data.behaviour_types, data.districts)

    @put("/{partner_id:str}/scope", operation_id="setPartnerScope",
         responses=problems(401, 403, 404),
         summary="Set the behaviour types (and districts) a partner may report",
         description="From now on a record of another behaviour type, or of a citizen of "
         "another district (when `districts` is not null), is `rejected` "
         "`outside_partner_scope`, record by record; the rest of a batch is recorded.")
    async def set_scope(self, partner_id: FromPath[str], data: JSONBody[PartnerScope],
                        principal: NamedDependency[Principal],
                        partners: NamedDependency[PartnerService]) -> PartnerOut:
        return await partners.set_scope(principal.id, partner_id, data.behaviour_types,
                                        data.districts)

    @get("/", operation_id="listPartnersAdmin", responses=problems(401, 403),
         summary="Every data partner")
    async def list_all(self, partners: NamedDependency[PartnerService]) -> PartnerList:
        return PartnerList(items=await partners.list())

    @post("/{partner_id:str}/rotate-secret", operation_id="rotatePartnerSecret",
          status_code=200, responses=problems(401, 403, 404),
          summary="Issue a new secret; the previous one stays valid for a grace period")
    async def rotate(self, partner_id: FromPath[str], principal: NamedDependency[Principal],
                     partners: NamedDependency[PartnerService]) -> PartnerSecretOut:
        return await partners.rotate_secret(principal.id, partner_id)


class BindingController(Controller):
    path = "/v1/bindings"
    tags = ["bindings"]  # noqa: RUF012
    opt = CITIZEN

    @post("/", operation_id="createBinding", opt=VERIFIED,
          responses=problems(401, 403, 409, 429),
          summary="Bind a partner card or account to the caller",
          description="Without `code` the binding is `pending`: it pays nothing until the "
          "partner confirms it (the citizen enters the one-time code the partner's own "
          "channel shows, `POST /v1/bindings/{binding_id}/confirm`, or the partner signs a "
          "confirmation), and it never says whether the reference is bound elsewhere. "
          "With a valid `code` it is `confirmed` at once; a confirmed reference of another "
          "citizen is then 409 `reference_bound_elsewhere`, a wrong or expired code 422 "
          "`invalid_binding_code`. On confirmation the records the partner sent for this "
          "reference while it was unbound, and that are still inside the claim window, "
          "are credited (`records_credited`). Attempts are throttled per citizen (429).")
    async def bind(self, data: JSONBody[BindingCreate], principal: NamedDependency[Principal],
                   partners: NamedDependency[PartnerService]) -> BindingOut:
        return await partners.bind(principal.id, data.partner_id, data.external_ref,
                                   data.code)

    @post("/{binding_id:uuid}/confirm", operation_id="confirmBinding", status_code=200,
          responses=problems(401, 403, 404, 409, 422, 429),
          summary="Confirm a pending binding with the partner's one-time code",
          description="The code is the one the partner's own channel shows the holder of "
          "the reference. Confirmed, the records that waited are credited "
          "(`records_credited`); a reference another citizen has confirmed is 409 "
          "`reference_bound_elsewhere`. Attempts are throttled per citizen (429).")
    async def confirm(self, binding_id: FromPath[uuid.UUID], data: JSONBody[BindingConfirm],
                      principal: NamedDependency[Principal],
                      partners: NamedDependency[PartnerService]) -> BindingOut:
        return await partners.confirm(principal.id, binding_id, data.code)

    @get("/", operation_id="listBindings", responses=problems(401, 403),
         summary="The caller's bindings (references masked)")
    async def list_bindings(self, principal: NamedDependency[Principal],
                            partners: NamedDependency[PartnerService]) -> BindingList:
        return BindingList(items=await partners.bindings(principal.id))

    @delete("/{binding_id:uuid}", operation_id="deleteBinding",
            responses=problems(401, 403, 404), summary="Remove one of the caller's bindings")
    async def unbind(self, binding_id: FromPath[uuid.UUID],
                     principal: NamedDependency[Principal],
                     partners: NamedDependency[PartnerService]) -> None:
        await partners.unbind(principal.id, binding_id)


class PartnerBindingController(Controller):
    path = "/v1/partner"
    tags = ["partners", "bindings"]  # noqa: RUF012
    opt = PARTNER

    @post("/binding-codes", operation_id="issueBindingCode", security=[],
          signed_body=(BindingCodeRequest,), responses=problems(401, 422),
          summary="Issue a one-time binding code for a reference (signed, see DESIGN §9)",
          description="Signed like partner batches. The partner shows the code to the holder "
          "of the reference in its own channel (its app, the card's account page); the "
          "citizen enters it to confirm the binding. Codes are single-use and expire "
          "(`BINDING_CODE_TTL`).")
    async def issue_code(self, request: Request,
                         partners: NamedDependency[PartnerService]) -> BindingCodeOut:
        partner, data = await signed_body(request, partners, BindingCodeRequest)
        return await partners.issue_code(partner, data.external_ref)

    @post("/bindings/confirm", operation_id="confirmBindingByPartner", status_code=200,
          security=[], signed_body=(PartnerBindingConfirm,),
          responses=problems(401, 404, 409, 422),
          summary="Confirm a citizen's pending binding (signed, see DESIGN §9)",
          description="The partner's word that the citizen who made `binding_id` (shown to "
          "the partner's channel by the citizen) holds `external_ref`. A binding of another "
          "partner or reference is 404; a reference another citizen has confirmed is 409 "
          "`reference_bound_elsewhere`. The records that waited are credited "
          "(`records_credited`).")
    async def confirm(self, request: Request,
                      partners: NamedDependency[PartnerService]) -> BindingOut:
        partner, data = await signed_body(request, partners, PartnerBindingConfirm)
        return await partners.confirm_by_partner(partner, data.external_ref, data.binding_id)
