from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from carbon_inclusion.accounts.service import Principal
from carbon_inclusion.behaviours.schemas import (
    BatchResult,
    BehaviourOut,
    BehaviourPage,
    ClaimIn,
    EntryPage,
    IngestionStatusOut,
    PartnerBatchIn,
    PartnerRecordIn,
    ReviewDecision,
    SimulateIn,
    SimulationOut,
    WalletOut,
)
from carbon_inclusion.behaviours.service import BehaviourService
from carbon_inclusion.methodologies.routes import VersionNumber
from carbon_inclusion.partners.service import PartnerService
from carbon_inclusion.web.auth import ADMIN, CITIZEN, PARTNER, VERIFIED
from carbon_inclusion.web.idempotency import REPLAY_HEADERS, IdempotencyKey, created, require_key
from carbon_inclusion.web.openapi import problems
from carbon_inclusion.web.pagination import DEFAULT_LIMIT, Cursor, Limit, check_limit
from carbon_inclusion.web.query import Instant, instant
from carbon_inclusion.web.signed import signed_body

PARTNER_MAX_BODY = 5 * 1024 * 1024


class BehaviourController(Controller):
    path = "/v1/behaviours"
    tags = ["behaviours"]  # noqa: RUF012
    opt = CITIZEN

    @post("/", operation_id="claimBehaviour", opt=VERIFIED, status_code=201,
          response_headers=REPLAY_HEADERS,
          responses=problems(401, 403, 409, 429),
          summary="Record a low-carbon behaviour from the app",
          description="Scored by the methodology version in force at `occurred_at`, as "
          "self-reported evidence. A replay with the same `Idempotency-Key` and body returns "
          "the first answer; the same key with another body is 422; a concurrent duplicate "
          "is 409. A reduced or zero award says why in `reason` (`daily_cap_reached` or "
          "`monthly_cap_reached` with `reason_detail.earn_again_at`, `outside_claim_window`, "
          "`recorded_by_partner`; for a period behaviour, `period_taken` with "
          "`reason_detail.behaviour_id` the behaviour holding the day or month). "
          "`photo_id` names a photo uploaded before (`POST /v1/photos`): 422 naming it when "
          "the methodology requires one and it is missing, takes none, or it is not the "
          "caller's (`unknown_photo`); 409 `photo_already_attached` when another behaviour "
          "has it; where the methodology says so (`photo_review`), a behaviour with a photo "
          "waits for review.")
    async def claim(self, data: JSONBody[ClaimIn], principal: NamedDependency[Principal],
                    behaviours: NamedDependency[BehaviourService],
                    idempotency_key: IdempotencyKey = None) -> Response[BehaviourOut]:
        require_key(idempotency_key, "behaviour")
        out, first = await behaviours.claim(principal.id, principal.district_code,
                                            idempotency_key, data)
        return created(out, first)

    @get("/", operation_id="listBehaviours", responses=problems(401, 403),
         summary="The caller's behaviours, newest first")
    async def list_own(
        self, principal: NamedDependency[Principal],
        behaviours: NamedDependency[BehaviourService],
        limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
        type: Annotated[str | None, QueryParameter(max_length=48)] = None,
        occurred_from: Instant = None, occurred_to: Instant = None,
    ) -> BehaviourPage:
        return await behaviours.list(principal.id, limit=check_limit(limit), cursor=cursor,
                                     type=type,
                                     occurred_from=instant("occurred_from", occurred_from),
                                     occurred_to=instant("occurred_to", occurred_to))

    @get("/{behaviour_id:uuid}", operation_id="getBehaviour", responses=problems(401, 403, 404),
         summary="One of the caller's behaviours, with the inputs and parameters it was "
         "scored with")
    async def get_one(self, behaviour_id: FromPath[uuid.UUID],
                      principal: NamedDependency[Principal],
                      behaviours: NamedDependency[BehaviourService]) -> BehaviourOut:
        return await behaviours.get(principal.id, behaviour_id)


class WalletController(Controller):
    path = "/v1/wallet"
    tags = ["wallet"]  # noqa: RUF012
    opt = CITIZEN

    @get("/", operation_id="getWallet", responses=problems(401, 403),
         summary="Balance, lifetime earned and points waiting for review")
    async def wallet(self, principal: NamedDependency[Principal],
                     behaviours: NamedDependency[BehaviourService]) -> WalletOut:
        return await behaviours.wallet(principal.id)

    @get("/entries", operation_id="listWalletEntries", responses=problems(401, 403),
         summary="Ledger entries of the caller's wallet, newest first")
    async def entries(self, principal: NamedDependency[Principal],
                      behaviours: NamedDependency[BehaviourService],
                      limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> EntryPage:
        return await behaviours.entries(principal.id, limit=check_limit(limit), cursor=cursor)


class PartnerBehaviourController(Controller):
    path = "/v1/partner/behaviours"
    tags = ["partners"]  # noqa: RUF012
    opt = PARTNER

    @post("/", operation_id="pushPartnerBehaviours", status_code=200,
          request_max_body_size=PARTNER_MAX_BODY, security=[],
          signed_body=(PartnerBatchIn, PartnerRecordIn),
          responses=problems(401, 413, 429),
          summary="Push up to 1,000 verified records (signed, see DESIGN §9)",
          description="Headers `X-Partner-Id`, `X-Timestamp` (Unix seconds) and "
          "`X-Signature` = hex HMAC-SHA256(secret, timestamp + '.' + body). Each record is "
          "answered on its own: `credited`, `pending_review`, `duplicate` (same "
          "`external_id` seen before), `unbound` (kept and credited when the citizen binds "
          "the reference within the claim window), `rejected` with the reason (e.g. "
          "`period_taken`: the citizen's day or month of a period behaviour is held), or "
          "`superseded` (a later record of its period in the same batch replaced it). Each "
          "record "
          "is a `PartnerRecordIn`; one that is not is `rejected` with its errors, and the "
          "rest of the batch is still recorded.")
    async def push(self, request: Request, partners: NamedDependency[PartnerService],
                   behaviours: NamedDependency[BehaviourService]) -> BatchResult:
        partner, batch = await signed_body(request, partners, PartnerBatchIn)
        return await behaviours.ingest(partner, batch.records)


class AdminReviewController(Controller):
    path = "/v1/admin/reviews"
    tags = ["admin", "behaviours"]  # noqa: RUF012
    opt = ADMIN

    @get("/", operation_id="listReviews", responses=problems(401, 403),
         summary="Behaviours waiting for review, oldest first; `type` narrows to one "
                 "behaviour type")
    async def pending(self, behaviours: NamedDependency[BehaviourService],
                      limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
                      type: Annotated[str | None, QueryParameter(max_length=48)] = None,
                      ) -> BehaviourPage:
        return await behaviours.reviews(limit=check_limit(limit), cursor=cursor,
                                        behaviour_type=type)

    @get("/{behaviour_id:uuid}", operation_id="getReviewBehaviour",
         responses=problems(401, 403, 404), summary="Any behaviour, with its explanation")
    async def get_one(self, behaviour_id: FromPath[uuid.UUID],
                      behaviours: NamedDependency[BehaviourService]) -> BehaviourOut:
        return await behaviours.get(None, behaviour_id)

    @post("/{behaviour_id:uuid}/approve", operation_id="approveBehaviour", status_code=200,
          responses=problems(401, 403, 404, 409),
          summary="Credit a waiting behaviour (daily caps apply to its day)")
    async def approve(self, behaviour_id: FromPath[uuid.UUID], data: JSONBody[ReviewDecision],
                      principal: NamedDependency[Principal],
                      behaviours: NamedDependency[BehaviourService]) -> BehaviourOut:
        return await behaviours.approve(principal.id, behaviour_id, data.reason)

    @post("/{behaviour_id:uuid}/reject", operation_id="rejectBehaviour", status_code=200,
          responses=problems(401, 403, 404, 409),
          summary="Refuse a waiting behaviour, or take back a credited one (reversing entry)")
    async def reject(self, behaviour_id: FromPath[uuid.UUID], data: JSONBody[ReviewDecision],
                     principal: NamedDependency[Principal],
                     behaviours: NamedDependency[BehaviourService]) -> BehaviourOut:
        return await behaviours.reject(principal.id, behaviour_id, data.reason)


class AdminIngestionController(Controller):
    path = "/v1/admin/partners/{partner_id:str}/ingestion"
    tags = ["admin", "partners"]  # noqa: RUF012
    opt = ADMIN

    @get("/", operation_id="getPartnerIngestion", responses=problems(401, 403, 404),
         summary="How a partner's data is arriving: records kept in the last 24 hours and "
         "7 days by status, the latest, and those waiting for a binding",
         description="Records refused per record (outside scope, no consent, bad data) are "
         "not stored, so they count nowhere here; the push's own answer reports them.")
    async def status(self, partner_id: FromPath[str],
                     behaviours: NamedDependency[BehaviourService]) -> IngestionStatusOut:
        return await behaviours.ingestion_status(partner_id)


class AdminSimulateController(Controller):
    path = "/v1/admin/methodologies"
    tags = ["admin", "methodologies"]  # noqa: RUF012
    opt = ADMIN

    @post("/{code:str}/versions/{version:int}/simulate", operation_id="simulateMethodology",
          status_code=200, responses=problems(401, 403, 404),
          summary="Score the behaviours recorded in a past window under this version",
          description="Compares with what was actually paid, per behaviour type and "
          "district: totals of grams and points, and how many scores changed. Figures are "
          "before daily caps.")
    async def simulate(self, code: FromPath[str], version: VersionNumber,
                       data: JSONBody[SimulateIn],
                       behaviours: NamedDependency[BehaviourService]) -> SimulationOut:
        return await behaviours.simulate(code, version, data.occurred_from, data.occurred_to)
