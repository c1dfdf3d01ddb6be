from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter, QueryParameter

from carbon_inclusion import rules
from carbon_inclusion.accounts.service import Principal
from carbon_inclusion.methodologies.schemas import (
    EvaluateRequest,
    EvaluationOut,
    RetireRequest,
    VersionOut,
    VersionPage,
)
from carbon_inclusion.methodologies.service import PUBLIC_STATUSES, MethodologyService
from carbon_inclusion.web.auth import ADMIN, PUBLIC
from carbon_inclusion.web.openapi import problems
from carbon_inclusion.web.pagination import DEFAULT_LIMIT, Cursor, Limit, check_limit

# A version number in a path: PostgreSQL keeps it in an ``integer``.
VersionNumber = Annotated[int, Parameter(ge=1, le=2**31 - 1, description="Version number")]

VERSION_PATH = "/{code:str}/versions/{version:int}"


class MethodologyController(Controller):
    path = "/v1/methodologies"
    tags = ["methodologies"]  # noqa: RUF012
    opt = PUBLIC

    @get("/", operation_id="listMethodologies", responses=problems(),
         summary="Published methodologies, current and past, with parameters and sources")
    async def list_published(
        self, methodologies: NamedDependency[MethodologyService],
        limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
        code: Annotated[str | None, QueryParameter(max_length=32)] = None,
        behaviour: Annotated[str | None, QueryParameter(max_length=64)] = None,
    ) -> VersionPage:
        return await methodologies.list(limit=check_limit(limit), cursor=cursor,
                                        statuses=PUBLIC_STATUSES, code=code, behaviour=behaviour)

    @get("/schema", operation_id="getMethodologySchema", responses=problems(),
         summary="JSON Schema of a methodology document",
         description="The document's shape. On top of it, a submitted document is "
         "type-checked: every name declared, types agree, every divisor provably non-zero, "
         "every parameter cited, points a whole number.")
    async def schema(self) -> dict[str, Any]:
        return rules.methodology_schema()

    @get(VERSION_PATH, operation_id="getMethodologyVersion", responses=problems(404),
         summary="One published methodology version")
    async def get_version(self, code: FromPath[str], version: VersionNumber,
                          methodologies: NamedDependency[MethodologyService]) -> VersionOut:
        return await methodologies.get(code, version, public=True)


class AdminMethodologyController(Controller):
    path = "/v1/admin/methodologies"
    tags = ["admin", "methodologies"]  # noqa: RUF012
    opt = ADMIN

    @post("/", operation_id="createMethodologyDraft", responses=problems(401, 403, 409),
          summary="Create a draft from a methodology document",
          description="The document is type-checked; a document that does not check is "
          "refused with the reason and the field of each problem.")
    async def create(self, data: JSONBody[dict[str, Any]],
                     principal: NamedDependency[Principal],
                     methodologies: NamedDependency[MethodologyService]) -> VersionOut:
        return await methodologies.create_draft(principal.id, data)

    @get("/", operation_id="listAllMethodologies", responses=problems(401, 403),
         summary="Every methodology version, drafts included")
    async def list_all(
        self, methodologies: NamedDependency[MethodologyService],
        limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
        status: Annotated[str | None, QueryParameter(
            pattern="^(draft|published|retired)$")] = None,
        code: Annotated[str | None, QueryParameter(max_length=32)] = None,
    ) -> VersionPage:
        statuses = (status,) if status else ("draft", "published", "retired")
        return await methodologies.list(limit=check_limit(limit), cursor=cursor,
                                        statuses=statuses, code=code)

    @get(VERSION_PATH, operation_id="getMethodologyVersionAdmin",
         responses=problems(401, 403, 404), summary="One methodology version, drafts included")
    async def get_any(self, code: FromPath[str], version: VersionNumber,
                      methodologies: NamedDependency[MethodologyService]) -> VersionOut:
        return await methodologies.get(code, version, public=False)

    @put(VERSION_PATH, operation_id="updateMethodologyDraft",
         responses=problems(401, 403, 404, 409), summary="Replace a draft's document")
    async def update(self, code: FromPath[str], version: VersionNumber,
                     data: JSONBody[dict[str, Any]], principal: NamedDependency[Principal],
                     methodologies: NamedDependency[MethodologyService]) -> VersionOut:
        return await methodologies.update_draft(principal.id, code, version, data)

    @post(VERSION_PATH + "/publish", operation_id="publishMethodology", status_code=200,
          responses=problems(401, 403, 404, 409), summary="Publish a draft (irreversible)",
          description="An open-ended earlier version is closed where this one starts; any "
          "other overlap of periods in force is refused.")
    async def publish(self, code: FromPath[str], version: VersionNumber,
                      principal: NamedDependency[Principal],
                      methodologies: NamedDependency[MethodologyService]) -> VersionOut:
        return await methodologies.publish(principal.id, code, version)

    @post(VERSION_PATH + "/retire", operation_id="retireMethodology", status_code=200,
          responses=problems(401, 403, 404, 409), summary="Retire a published version",
          description="Behaviours that occurred before now are still scored by it (and stay "
          "recomputable); none after.")
    async def retire(self, code: FromPath[str], version: VersionNumber,
                     data: JSONBody[RetireRequest], principal: NamedDependency[Principal],
                     methodologies: NamedDependency[MethodologyService]) -> VersionOut:
        return await methodologies.retire(principal.id, code, version, data.reason)

    @post(VERSION_PATH + "/evaluate", operation_id="evaluateMethodology", status_code=200,
          responses=problems(401, 403, 404),
          summary="Score one example input and show every intermediate value")
    async def evaluate(self, code: FromPath[str], version: VersionNumber,
                       data: JSONBody[EvaluateRequest],
                       methodologies: NamedDependency[MethodologyService]) -> EvaluationOut:
        return await methodologies.evaluate(code, version, data.data, data.evidence)
