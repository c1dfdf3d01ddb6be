from __future__ import annotations

import uuid

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from carbon_inclusion.accounts.service import Principal
from carbon_inclusion.partners.schemas import (
    BindingCreate,
    BindingList,
    BindingOut,
    PartnerCreate,
    PartnerList,
    PartnerSecretOut,
)
from carbon_inclusion.partners.service import PartnerService
from carbon_inclusion.web.auth import ADMIN, CITIZEN, PUBLIC, VERIFIED
from carbon_inclusion.web.openapi import problems


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
          summary="Create a data partner; its signing secret is shown once")
    async def create(self, data: JSONBody[PartnerCreate], principal: NamedDependency[Principal],
                     partners: NamedDependency[PartnerService]) -> PartnerSecretOut:
        return await partners.create(principal.id, data.id, data.name, data.kind)

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
          responses=problems(401, 403, 409),
          summary="Bind a partner card or account to the caller",
          description="Records the partner sent for this reference while it was unbound, and "
          "that are still inside the claim window, are credited now "
          "(`records_credited`).")
    async def bind(self, data: JSONBody[BindingCreate], principal: NamedDependency[Principal],
                   partners: NamedDependency[PartnerService]) -> BindingOut:
        return await partners.bind(principal.id, data.partner_id, data.external_ref)

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
